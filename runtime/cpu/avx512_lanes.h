// runtime/cpu/avx512_lanes.h: sums and maxima across the 16 lanes of an
// AVX-512 vector, for the AVX-512 kernel files only (dense_kernels_avx512.cpp,
// quant_kernels_avx512.cpp, quant_gemm_avx512vnni.cpp, wkv_kernels_avx512.cpp),
// which are compiled with -mavx512f and called only on CPUs that have it.
// Internal linkage (an unnamed namespace): no copy of these AVX-512
// instructions can be picked by the linker for code that runs on any CPU.
// GCC 12 warns that the library's _mm512_reduce_* read an undefined vector;
// the zero-masking extracts with every lane selected are the same instructions
// without it.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace rwkv {
namespace cpu {
namespace avx512_lanes {
namespace {

inline float hsum(__m512 v) {
  const __m512d vd = _mm512_castps_pd(v);
  const __m256 s8 = _mm256_add_ps(_mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(0xFF, vd, 0)),
                                  _mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(0xFF, vd, 1)));
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float hmax(__m512 v) {
  const __m512d vd = _mm512_castps_pd(v);
  const __m256 m8 = _mm256_max_ps(_mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(0xFF, vd, 0)),
                                  _mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(0xFF, vd, 1)));
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(m8), _mm256_extractf128_ps(m8, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

inline int32_t hsum_epi32(__m512i v) {
  const __m256i s8 = _mm256_add_epi32(_mm512_maskz_extracti64x4_epi64(0xFF, v, 0), _mm512_maskz_extracti64x4_epi64(0xFF, v, 1));
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(s8), _mm256_extracti128_si256(s8, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

}  // namespace
}  // namespace avx512_lanes
}  // namespace cpu
}  // namespace rwkv
