// runtime/cpu/quant_kernels_avx2.cpp: the AVX2 + FMA + F16C quantized products
// (runtime/cpu/quant_kernels_isa.h). Compiled with -mavx2 -mfma -mf16c; called
// only when the CPU has them (quant_kernels.cpp).
//
// Each weight is expanded in registers to exactly the fp32 value of
// QuantView::dequantize_row (fma(q, d, m) for both kinds), then
// multiplied into fp32 accumulators: a tile of R output rows times MT inputs
// shares every weight load, and every lane sums in order, so the result differs
// from the plain product only in summation order.
#include "runtime/cpu/quant_kernels_isa.h"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>

namespace rwkv {
namespace cpu {
namespace quant_isa {

namespace {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline __m256 broadcast_half(uint16_t h) { return _mm256_set1_ps(_cvtsh_ss(h)); }

// 8 int8 weights as fp32 (not yet scaled).
inline __m256 load_int8x8(const uint8_t* p) {
  return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}

// 8 packed q4 bytes as 32-bit lanes (byte j in lane j).
inline __m256i load_q4x8(const uint8_t* p) {
  return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}

inline __m256 low_nibbles(__m256i b) { return _mm256_cvtepi32_ps(_mm256_and_si256(b, _mm256_set1_epi32(15))); }
inline __m256 high_nibbles(__m256i b) { return _mm256_cvtepi32_ps(_mm256_srli_epi32(b, 4)); }

// How far ahead of rows [r0, r0 + R) to prefetch: the same bytes of the next
// tile's rows (0 at the last tile). A tile's rows are short streams that the
// hardware prefetchers pick up too late; measured on a [65536, 768] int8
// matrix read from memory (docs/quantization.md).
template <int R>
size_t prefetch_distance(const GemvTask& t, int r0) {
  return r0 + 2 * R <= t.out ? static_cast<size_t>(R) * t.row_bytes : 0;
}

inline void prefetch(const uint8_t* p) { _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T0); }

template <int R, int MT>
void store_tile(const GemvTask& t, int r0, int m0, __m256 (&acc)[R][MT], __m256 (&acc2)[R][MT]) {
  #pragma GCC unroll 8
  for (int m = 0; m < MT; ++m)
    #pragma GCC unroll 8
    for (int r = 0; r < R; ++r) t.y[static_cast<size_t>(m0 + m) * t.ldy + static_cast<size_t>(r0 + r)] = hsum(_mm256_add_ps(acc[r][m], acc2[r][m]));
}

// Rows [r0, r0 + R) times inputs [m0, m0 + MT) of an int8 matrix.
template <int R, int MT>
void int8_tile(const GemvTask& t, int r0, int m0) {
  const size_t G = static_cast<size_t>(t.in / t.group);
  const uint8_t* rows[R];
  const uint16_t *scales[R], *mins[R];
  #pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    rows[r] = t.q + static_cast<size_t>(r0 + r) * t.row_bytes;
    scales[r] = t.scale + static_cast<size_t>(r0 + r) * G;
    mins[r] = t.min + static_cast<size_t>(r0 + r) * G;
  }
  const float* xs[MT];
  #pragma GCC unroll 8
  for (int m = 0; m < MT; ++m) xs[m] = t.x + static_cast<size_t>(m0 + m) * t.ldx;
  const size_t ahead = prefetch_distance<R>(t, r0);
  // Two accumulators per (row, input), alternate vectors into each: one
  // chain of dependent multiply-adds would bound a row's speed (4 cycles a vector).
  __m256 acc[R][MT], acc2[R][MT];
  #pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
    #pragma GCC unroll 8
    for (int m = 0; m < MT; ++m) acc[r][m] = acc2[r][m] = _mm256_setzero_ps();
  for (size_t g = 0; g < G; ++g) {
    __m256 d[R], mn[R];
    #pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      d[r] = broadcast_half(scales[r][g]);
      mn[r] = broadcast_half(mins[r][g]);
      prefetch(rows[r] + g * static_cast<size_t>(t.group) + ahead);
    }
    const size_t c1 = (g + 1) * static_cast<size_t>(t.group);
    for (size_t c = g * static_cast<size_t>(t.group); c < c1; c += 2 * 8) {  // groups: multiples of 32
      __m256 w[R], w2[R];
      #pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        w[r] = _mm256_fmadd_ps(load_int8x8(rows[r] + c), d[r], mn[r]);
        w2[r] = _mm256_fmadd_ps(load_int8x8(rows[r] + c + 8), d[r], mn[r]);
      }
      #pragma GCC unroll 8
      for (int m = 0; m < MT; ++m) {
        const __m256 xv = _mm256_loadu_ps(xs[m] + c), xv2 = _mm256_loadu_ps(xs[m] + c + 8);
        #pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
          acc[r][m] = _mm256_fmadd_ps(w[r], xv, acc[r][m]);
          acc2[r][m] = _mm256_fmadd_ps(w2[r], xv2, acc2[r][m]);
        }
      }
    }
  }
  store_tile<R, MT>(t, r0, m0, acc, acc2);
}

// Rows [r0, r0 + R) times inputs [m0, m0 + MT) of a q4 matrix; t.x holds the
// even and odd inputs apart (quant_kernels_isa.h), so no nibble shuffles.
template <int R, int MT>
void q4_tile(const GemvTask& t, int r0, int m0) {
  const size_t G = static_cast<size_t>(t.in / t.group), half = static_cast<size_t>(t.in / 2);
  const size_t group_bytes = static_cast<size_t>(t.group / 2);
  const uint8_t* rows[R];
  const uint16_t *scales[R], *mins[R];
  #pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    rows[r] = t.q + static_cast<size_t>(r0 + r) * t.row_bytes;
    scales[r] = t.scale + static_cast<size_t>(r0 + r) * G;
    mins[r] = t.min + static_cast<size_t>(r0 + r) * G;
  }
  const float* xs[MT];
  #pragma GCC unroll 8
  for (int m = 0; m < MT; ++m) xs[m] = t.x + static_cast<size_t>(m0 + m) * t.ldx;
  const size_t ahead = prefetch_distance<R>(t, r0);
  // Two accumulators per (row, input), alternate vectors into each: one
  // chain of dependent multiply-adds would bound a row's speed (4 cycles a vector).
  __m256 acc[R][MT], acc2[R][MT];
  #pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
    #pragma GCC unroll 8
    for (int m = 0; m < MT; ++m) acc[r][m] = acc2[r][m] = _mm256_setzero_ps();
  for (size_t g = 0; g < G; ++g) {
    __m256 d[R], mn[R];
    #pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      d[r] = broadcast_half(scales[r][g]);
      mn[r] = broadcast_half(mins[r][g]);
      prefetch(rows[r] + g * group_bytes + ahead);
    }
    for (size_t j = g * group_bytes; j < (g + 1) * group_bytes; j += 8) {
      #pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const __m256i b = load_q4x8(rows[r] + j);
        const __m256 w_even = _mm256_fmadd_ps(low_nibbles(b), d[r], mn[r]);
        const __m256 w_odd = _mm256_fmadd_ps(high_nibbles(b), d[r], mn[r]);
        #pragma GCC unroll 8
        for (int m = 0; m < MT; ++m) {
          acc[r][m] = _mm256_fmadd_ps(w_even, _mm256_loadu_ps(xs[m] + j), acc[r][m]);
          acc2[r][m] = _mm256_fmadd_ps(w_odd, _mm256_loadu_ps(xs[m] + half + j), acc2[r][m]);
        }
      }
    }
  }
  store_tile<R, MT>(t, r0, m0, acc, acc2);
}

template <int R, int MT>
void tile(const GemvTask& t, int r0, int m0) {
  if (t.q4)
    q4_tile<R, MT>(t, r0, m0);
  else
    int8_tile<R, MT>(t, r0, m0);
}

// All inputs for rows [r0, r0 + R): tiles of 2 inputs, then one.
template <int R>
void row_tile(const GemvTask& t, int r0) {
  int m = 0;
  for (; m + 2 <= t.M; m += 2) tile<R, 2>(t, r0, m);
  if (m < t.M) tile<R, 1>(t, r0, m);
}

}  // namespace

void gemv_avx2(const GemvTask& t, int r0, int r1) {
  // A row at a time: one sequential stream through the matrix (tiles of 4
  // adjacent rows ran slower from memory). Not paired across the halves like
  // the dense kernels: the AVX-512 twin of this loop gained nothing from it
  // (quant_kernels_avx512.cpp, gemv_avx512).
  for (int r = r0; r < r1; ++r) row_tile<1>(t, r);
}

void dequantize_rows_avx2(const GemvTask& t, int r0, int r1, float* dst) {
  const size_t G = static_cast<size_t>(t.in / t.group), group = static_cast<size_t>(t.group);
  for (int r = r0; r < r1; ++r, dst += t.in) {
    const uint8_t* row = t.q + static_cast<size_t>(r) * t.row_bytes;
    for (size_t g = 0; g < G; ++g) {
      const size_t gi = static_cast<size_t>(r) * G + g;
      const __m256 d = broadcast_half(t.scale[gi]);
      if (!t.q4) {
        const __m256 mn = broadcast_half(t.min[gi]);
        for (size_t c = g * group; c < (g + 1) * group; c += 8)
          _mm256_storeu_ps(dst + c, _mm256_fmadd_ps(load_int8x8(row + c), d, mn));
        continue;
      }
      const __m256 mn = broadcast_half(t.min[gi]);
      for (size_t j = g * group / 2; j < (g + 1) * group / 2; j += 8) {
        const __m256i b = load_q4x8(row + j);
        const __m256 w_even = _mm256_fmadd_ps(low_nibbles(b), d, mn);
        const __m256 w_odd = _mm256_fmadd_ps(high_nibbles(b), d, mn);
        // Interleave back to column order: [e0 o0 e1 o1 e2 o2 e3 o3], [e4 o4 ... e7 o7].
        const __m256 lo = _mm256_unpacklo_ps(w_even, w_odd), hi = _mm256_unpackhi_ps(w_even, w_odd);
        _mm256_storeu_ps(dst + 2 * j, _mm256_permute2f128_ps(lo, hi, 0x20));
        _mm256_storeu_ps(dst + 2 * j + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
      }
    }
  }
}

}  // namespace quant_isa
}  // namespace cpu
}  // namespace rwkv

#endif
