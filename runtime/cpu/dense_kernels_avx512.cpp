// runtime/cpu/dense_kernels_avx512.cpp: the AVX-512 (F) dense products of
// runtime/cpu/dense_kernels_isa.h. Each weight element is read once per call
// and converted in registers (fp16 by vcvtph2ps, bf16 by a 16-bit shift: both
// exact), multiplied by fp32 inputs and summed in fp32, one accumulator per
// (row, input) in 16 lanes, tiles of R output rows times MT inputs.
// Compiled with -mavx512f -mfma -mf16c; called only when the CPU has
// AVX-512F (dense_kernels.cpp).
#include "runtime/cpu/dense_kernels_isa.h"

#if defined(__x86_64__) && defined(__AVX512F__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>

#include <cstring>

namespace rwkv {
namespace cpu {
namespace dense_isa {

namespace {

constexpr __mmask16 kAll = 0xFFFF;  // zero-masking forms: see quant_kernels_avx512.cpp

inline float hsum(__m512 v) {
  const __m512d vd = _mm512_castps_pd(v);
  const __m256 s8 = _mm256_add_ps(_mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(0xFF, vd, 0)),
                                  _mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(0xFF, vd, 1)));
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// 16 weights from element index c of a row, as fp32.
template <Elem E>
inline __m512 load16(const void* row, size_t c) {
  if constexpr (E == Elem::f32) {
    return _mm512_loadu_ps(static_cast<const float*>(row) + c);
  } else {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(row) + c));
    if constexpr (E == Elem::f16) return _mm512_maskz_cvtph_ps(kAll, h);
    return _mm512_castsi512_ps(_mm512_maskz_slli_epi32(kAll, _mm512_maskz_cvtepu16_epi32(kAll, h), 16));
  }
}

// One weight as fp32 (the scalar tail).
template <Elem E>
inline float load1(const void* row, size_t c) {
  if constexpr (E == Elem::f32) return static_cast<const float*>(row)[c];
  const uint16_t h = static_cast<const uint16_t*>(row)[c];
  if constexpr (E == Elem::f16) return _cvtsh_ss(h);
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

constexpr size_t elem_bytes(Elem e) { return e == Elem::f32 ? 4 : 2; }

inline void prefetch(const void* p) { _mm_prefetch(static_cast<const char*>(p), _MM_HINT_T0); }

// Rows [r0, r0 + R) times inputs [m0, m0 + MT). The next tile's rows are
// prefetched at the same column (short row streams start late in the
// hardware prefetchers; see quant_kernels_avx512.cpp).
template <Elem E, int R, int MT>
void tile(const GemvTask& t, int r0, int m0) {
  const size_t in = static_cast<size_t>(t.in), row_bytes = in * elem_bytes(E);
  const char* rows[R];
  #pragma GCC unroll 8
  for (int r = 0; r < R; ++r) rows[r] = static_cast<const char*>(t.w) + static_cast<size_t>(r0 + r) * row_bytes;
  const float* xs[MT];
  #pragma GCC unroll 8
  for (int m = 0; m < MT; ++m) xs[m] = t.x + static_cast<size_t>(m0 + m) * t.ldx;
  const size_t ahead = r0 + 2 * R <= t.out ? R * row_bytes : 0;
  __m512 acc[R][MT];
  #pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
    #pragma GCC unroll 8
    for (int m = 0; m < MT; ++m) acc[r][m] = _mm512_setzero_ps();
  const size_t body = in / 16 * 16;
  for (size_t c = 0; c < body; c += 16) {
    __m512 w[R];
    #pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      if (E == Elem::f32 || c % 32 == 0) prefetch(rows[r] + c * elem_bytes(E) + ahead);
      w[r] = load16<E>(rows[r], c);
    }
    #pragma GCC unroll 8
    for (int m = 0; m < MT; ++m) {
      const __m512 xv = _mm512_loadu_ps(xs[m] + c);
      #pragma GCC unroll 8
      for (int r = 0; r < R; ++r) acc[r][m] = _mm512_fmadd_ps(w[r], xv, acc[r][m]);
    }
  }
  #pragma GCC unroll 8
  for (int m = 0; m < MT; ++m)
    #pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      float s = hsum(acc[r][m]);
      for (size_t c = body; c < in; ++c) s += load1<E>(rows[r], c) * xs[m][c];
      t.y[static_cast<size_t>(m0 + m) * t.ldy + static_cast<size_t>(r0 + r)] = s;
    }
}

// All inputs for rows [r0, r0 + R): tiles of 4 inputs, then the rest.
template <Elem E, int R>
void row_tile(const GemvTask& t, int r0) {
  int m = 0;
  for (; m + 4 <= t.M; m += 4) tile<E, R, 4>(t, r0, m);
  switch (t.M - m) {
    case 3: tile<E, R, 3>(t, r0, m); break;
    case 2: tile<E, R, 2>(t, r0, m); break;
    case 1: tile<E, R, 1>(t, r0, m); break;
    default: break;
  }
}

template <Elem E>
void gemv(const GemvTask& t, int r0, int r1) {
  int r = r0;
  for (; r + 4 <= r1; r += 4) row_tile<E, 4>(t, r);
  for (; r < r1; ++r) row_tile<E, 1>(t, r);
}

template <Elem E>
void expand(const GemvTask& t, int r0, int r1, float* dst) {
  const size_t in = static_cast<size_t>(t.in), body = in / 16 * 16;
  for (int r = r0; r < r1; ++r, dst += in) {
    const void* row = static_cast<const char*>(t.w) + static_cast<size_t>(r) * in * elem_bytes(E);
    for (size_t c = 0; c < body; c += 16) _mm512_storeu_ps(dst + c, load16<E>(row, c));
    for (size_t c = body; c < in; ++c) dst[c] = load1<E>(row, c);
  }
}

}  // namespace

void gemv_avx512(const GemvTask& t, int r0, int r1) {
  switch (t.elem) {
    case Elem::f32: gemv<Elem::f32>(t, r0, r1); return;
    case Elem::f16: gemv<Elem::f16>(t, r0, r1); return;
    case Elem::bf16: gemv<Elem::bf16>(t, r0, r1); return;
  }
}

void expand_rows_avx512(const GemvTask& t, int r0, int r1, float* dst) {
  switch (t.elem) {
    case Elem::f32: break;  // nothing to expand
    case Elem::f16: expand<Elem::f16>(t, r0, r1, dst); return;
    case Elem::bf16: expand<Elem::bf16>(t, r0, r1, dst); return;
  }
}

}  // namespace dense_isa
}  // namespace cpu
}  // namespace rwkv

#endif
