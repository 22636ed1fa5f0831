// runtime/cpu/quant_kernels_avx512.cpp: the AVX-512 quantized products
// (runtime/cpu/quant_kernels_isa.h), the same scheme as quant_kernels_avx2.cpp
// on 16 lanes: weights expanded in registers to the exact fp32 values of
// QuantView::dequantize_row, fp32 accumulation in order per lane, tiles of R
// output rows times MT inputs; and, for int8 at decode, the product on inputs
// rounded to int16 (gemv_int8_rounded_avx512: integer products, fp32 sums),
// which reads a thread's rows as two streams, a row from each half side by side.
// Compiled with -mavx512f -mavx512bw -mavx512vl -mfma -mf16c; called only when
// the CPU has AVX-512F, BW and VL (quant_kernels.cpp).
#include "runtime/cpu/quant_kernels_isa.h"

#if defined(__x86_64__) && defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && \
    defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>

#include "runtime/cpu/avx512_lanes.h"

namespace rwkv {
namespace cpu {
namespace quant_isa {

namespace {

using avx512_lanes::hsum;

// GCC 12 warns that the plain forms of a few conversions read an undefined
// vector (its _mm512_undefined_*); their zero-masking forms with every lane
// selected are the same instructions without it.
constexpr __mmask16 kAll = 0xFFFF;

inline __m512 broadcast_half(uint16_t h) { return _mm512_set1_ps(_cvtsh_ss(h)); }

inline __m512 to_float(__m512i v) { return _mm512_maskz_cvtepi32_ps(kAll, v); }

// 16 int8 weights as fp32 (not yet scaled).
inline __m512 load_int8x16(const uint8_t* p) {
  return to_float(_mm512_maskz_cvtepi8_epi32(kAll, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}

// 16 packed q4 bytes as 32-bit lanes (byte j in lane j).
inline __m512i load_q4x16(const uint8_t* p) {
  return _mm512_maskz_cvtepu8_epi32(kAll, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

inline __m512 low_nibbles(__m512i b) { return to_float(_mm512_and_si512(b, _mm512_set1_epi32(15))); }
inline __m512 high_nibbles(__m512i b) { return to_float(_mm512_maskz_srli_epi32(kAll, b, 4)); }

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
void store_tile(const GemvTask& t, int r0, int m0, __m512 (&acc)[R][MT], __m512 (&acc2)[R][MT]) {
  #pragma GCC unroll 8
  for (int m = 0; m < MT; ++m)
    #pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
      t.y[static_cast<size_t>(m0 + m) * t.ldy + static_cast<size_t>(r0 + r)] = hsum(_mm512_add_ps(acc[r][m], acc2[r][m]));
}

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
  __m512 acc[R][MT], acc2[R][MT];
  #pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
    #pragma GCC unroll 8
    for (int m = 0; m < MT; ++m) acc[r][m] = acc2[r][m] = _mm512_setzero_ps();
  for (size_t g = 0; g < G; ++g) {
    __m512 d[R], mn[R];
    #pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      d[r] = broadcast_half(scales[r][g]);
      mn[r] = broadcast_half(mins[r][g]);
      prefetch(rows[r] + g * static_cast<size_t>(t.group) + ahead);
    }
    const size_t c1 = (g + 1) * static_cast<size_t>(t.group);
    for (size_t c = g * static_cast<size_t>(t.group); c < c1; c += 2 * 16) {  // groups: multiples of 32
      __m512 w[R], w2[R];
      #pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        w[r] = _mm512_fmadd_ps(load_int8x16(rows[r] + c), d[r], mn[r]);
        w2[r] = _mm512_fmadd_ps(load_int8x16(rows[r] + c + 16), d[r], mn[r]);
      }
      #pragma GCC unroll 8
      for (int m = 0; m < MT; ++m) {
        const __m512 xv = _mm512_loadu_ps(xs[m] + c), xv2 = _mm512_loadu_ps(xs[m] + c + 16);
        #pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
          acc[r][m] = _mm512_fmadd_ps(w[r], xv, acc[r][m]);
          acc2[r][m] = _mm512_fmadd_ps(w2[r], xv2, acc2[r][m]);
        }
      }
    }
  }
  store_tile<R, MT>(t, r0, m0, acc, acc2);
}

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
  __m512 acc[R][MT], acc2[R][MT];
  #pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
    #pragma GCC unroll 8
    for (int m = 0; m < MT; ++m) acc[r][m] = acc2[r][m] = _mm512_setzero_ps();
  for (size_t g = 0; g < G; ++g) {
    __m512 d[R], mn[R];
    #pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      d[r] = broadcast_half(scales[r][g]);
      mn[r] = broadcast_half(mins[r][g]);
      prefetch(rows[r] + g * group_bytes + ahead);
    }
    for (size_t j = g * group_bytes; j < (g + 1) * group_bytes; j += 16) {
      #pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const __m512i b = load_q4x16(rows[r] + j);
        const __m512 w_even = _mm512_fmadd_ps(low_nibbles(b), d[r], mn[r]);
        const __m512 w_odd = _mm512_fmadd_ps(high_nibbles(b), d[r], mn[r]);
        #pragma GCC unroll 8
        for (int m = 0; m < MT; ++m) {
          acc[r][m] = _mm512_fmadd_ps(w_even, _mm512_loadu_ps(xs[m] + j), acc[r][m]);
          acc2[r][m] = _mm512_fmadd_ps(w_odd, _mm512_loadu_ps(xs[m] + half + j), acc2[r][m]);
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

// All inputs for rows [r0, r0 + R): tiles of 4 inputs, then the rest.
template <int R>
void row_tile(const GemvTask& t, int r0) {
  int m = 0;
  for (; m + 4 <= t.M; m += 4) tile<R, 4>(t, r0, m);
  switch (t.M - m) {
    case 3: tile<R, 3>(t, r0, m); break;
    case 2: tile<R, 2>(t, r0, m); break;
    case 1: tile<R, 1>(t, r0, m); break;
    default: break;
  }
}

// ---- int8 on rounded inputs (AVX-512BW) ------------------------------------
// Per row and block of 32 columns, P = sum_c q_c xi_c by vpmaddwd: 16 int32
// lanes, each the sum of two products (|q| <= 128, |xi| <= 32767, so a lane is
// below 2^24 in magnitude: exact in int32 and in its fp32 conversion). The
// block's P is scaled by d_g * xs_b (one fp32 product) and summed in fp32;
// the offsets add sum_g m_g xg_g at the end. Per 32 weights: one widening
// load, one vpmaddwd, one conversion, one multiply-add (the fp32 kernel above
// needs two of each of its four).

constexpr int kBlock = 32;  // columns per input scale
constexpr int kChunk = 16;  // blocks whose scales fill one vector

inline __mmask16 first_lanes(int n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u);
}

// The weight scales of blocks [b0, b0 + nb) of a row as fp32, block b in group
// b / k (k = group / 32); b0 is a multiple of kChunk. `spread` holds j / k in
// lane j (used when k divides kChunk).
inline __m512 block_scales(const uint16_t* scale_row, int b0, int nb, int k, __m512i spread) {
  const __mmask16 lanes = first_lanes(nb);
  if (k == 1) return _mm512_maskz_cvtph_ps(kAll, _mm256_maskz_loadu_epi16(lanes, scale_row + b0));
  if (k % kChunk == 0) return broadcast_half(scale_row[b0 / k]);  // the chunk lies in one group
  if (kChunk % k == 0) {
    const __m256i groups = _mm256_maskz_loadu_epi16(first_lanes((nb + k - 1) / k), scale_row + b0 / k);
    return _mm512_maskz_permutexvar_ps(kAll, spread, _mm512_maskz_cvtph_ps(kAll, groups));
  }
  alignas(64) float s[kChunk] = {};
  for (int j = 0; j < nb; ++j) s[j] = _cvtsh_ss(scale_row[(b0 + j) / k]);
  return _mm512_load_ps(s);
}

// One block's contribution: acc + float(P) * sd.
inline __m512 block_product(__m512i w16, const int16_t* x, float sd, __m512 acc) {
  const __m512i p = _mm512_maskz_madd_epi16(kAll, w16, _mm512_loadu_si512(x));
  return _mm512_fmadd_ps(to_float(p), _mm512_set1_ps(sd), acc);
}

inline __m512i load_int8x32(const uint8_t* p) {
  return _mm512_maskz_cvtepi8_epi16(~__mmask32{0}, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// Rows rows[0..R) (R = 2: far apart, the two halves of a thread's rows, read
// side by side: two sequential streams, as in dense_kernels_avx512.cpp), inputs
// [m0, m0 + MT).
template <int R, int MT>
void int8_rounded_tile(const GemvTask& t, const int (&rows)[R], int m0, __m512i spread) {
  const int B = t.in / kBlock, k = t.group / kBlock, G = t.in / t.group;
  const uint8_t* q[R];
  const uint16_t *scale_row[R], *min_row[R];
  #pragma GCC unroll 2
  for (int i = 0; i < R; ++i) {
    q[i] = t.q + static_cast<size_t>(rows[i]) * t.row_bytes;
    scale_row[i] = t.scale + static_cast<size_t>(rows[i]) * static_cast<size_t>(G);
    min_row[i] = t.min + static_cast<size_t>(rows[i]) * static_cast<size_t>(G);
  }
  const int16_t* xi[MT];
  const float *xs[MT], *xg[MT];
  __m512 acc[R][MT], acc2[R][MT];
  #pragma GCC unroll 8
  for (int m = 0; m < MT; ++m) {
    xi[m] = t.xi + static_cast<size_t>(m0 + m) * static_cast<size_t>(t.in);
    xs[m] = t.xs + static_cast<size_t>(m0 + m) * static_cast<size_t>(B);
    xg[m] = t.xg + static_cast<size_t>(m0 + m) * static_cast<size_t>(G);
    #pragma GCC unroll 2
    for (int i = 0; i < R; ++i) acc[i][m] = acc2[i][m] = _mm512_setzero_ps();
  }
  alignas(64) float sd[R][MT][kChunk];  // d_g * xs_b of the chunk's blocks
  for (int b0 = 0; b0 < B; b0 += kChunk) {
    const int nb = B - b0 < kChunk ? B - b0 : kChunk;
    #pragma GCC unroll 2
    for (int i = 0; i < R; ++i) {
      const __m512 d = block_scales(scale_row[i], b0, nb, k, spread);
      #pragma GCC unroll 8
      for (int m = 0; m < MT; ++m)
        _mm512_store_ps(sd[i][m], _mm512_mul_ps(d, _mm512_maskz_loadu_ps(first_lanes(nb), xs[m] + b0)));
    }
    int j = 0;
    for (; j + 2 <= nb; j += 2) {  // two blocks: one cache line of weights per row
      const size_t c = static_cast<size_t>(b0 + j) * kBlock;
      #pragma GCC unroll 2
      for (int i = 0; i < R; ++i) {
        const __m512i w = load_int8x32(q[i] + c), w2 = load_int8x32(q[i] + c + kBlock);
        #pragma GCC unroll 8
        for (int m = 0; m < MT; ++m) {
          acc[i][m] = block_product(w, xi[m] + c, sd[i][m][j], acc[i][m]);
          acc2[i][m] = block_product(w2, xi[m] + c + kBlock, sd[i][m][j + 1], acc2[i][m]);
        }
      }
    }
    if (j < nb) {
      const size_t c = static_cast<size_t>(b0 + j) * kBlock;
      #pragma GCC unroll 2
      for (int i = 0; i < R; ++i) {
        const __m512i w = load_int8x32(q[i] + c);
        #pragma GCC unroll 8
        for (int m = 0; m < MT; ++m) acc[i][m] = block_product(w, xi[m] + c, sd[i][m][j], acc[i][m]);
      }
    }
  }
  // The offsets: sum_g m_g xg_g, 16 groups at a time.
  for (int g0 = 0; g0 < G; g0 += 16) {
    const __mmask16 lanes = first_lanes(G - g0);
    #pragma GCC unroll 2
    for (int i = 0; i < R; ++i) {
      const __m512 mn = _mm512_maskz_cvtph_ps(kAll, _mm256_maskz_loadu_epi16(lanes, min_row[i] + g0));
      #pragma GCC unroll 8
      for (int m = 0; m < MT; ++m)
        acc2[i][m] = _mm512_fmadd_ps(mn, _mm512_maskz_loadu_ps(lanes, xg[m] + g0), acc2[i][m]);
    }
  }
  #pragma GCC unroll 8
  for (int m = 0; m < MT; ++m)
    #pragma GCC unroll 2
    for (int i = 0; i < R; ++i)
      t.y[static_cast<size_t>(m0 + m) * t.ldy + static_cast<size_t>(rows[i])] = hsum(_mm512_add_ps(acc[i][m], acc2[i][m]));
}

// Every input for the rows in `rows`, in tiles of up to 4 inputs.
template <int R>
void int8_rounded_rows(const GemvTask& t, const int (&rows)[R], __m512i spread) {
  int m = 0;
  for (; m + 4 <= t.M; m += 4) int8_rounded_tile<R, 4>(t, rows, m, spread);
  switch (t.M - m) {
    case 3: int8_rounded_tile<R, 3>(t, rows, m, spread); break;
    case 2: int8_rounded_tile<R, 2>(t, rows, m, spread); break;
    case 1: int8_rounded_tile<R, 1>(t, rows, m, spread); break;
    default: break;
  }
}

}  // namespace

void gemv_avx512(const GemvTask& t, int r0, int r1) {
  // A row at a time: one sequential stream through the matrix (tiles of 4
  // adjacent rows ran slower from memory). Rows in pairs from the two halves,
  // as the dense and rounded int8 kernels read them, were no faster here: q4
  // decode 0.97x (1 thread), these loops are bound by their instructions
  // (docs/cpu-backend.md, "Two streams per thread").
  for (int r = r0; r < r1; ++r) row_tile<1>(t, r);
}

void gemv_int8_rounded_avx512(const GemvTask& t, int r0, int r1) {
  const int k = t.group / kBlock;
  alignas(64) int32_t spread_lanes[16];
  for (int j = 0; j < 16; ++j) spread_lanes[j] = kChunk % k == 0 ? j / k : 0;
  const __m512i spread = _mm512_load_si512(spread_lanes);
  // Row i of the first half with row i of the second, the odd last row alone.
  const int half = (r1 - r0) / 2;
  for (int i = 0; i < half; ++i) int8_rounded_rows<2>(t, {r0 + i, r0 + half + i}, spread);
  if ((r1 - r0) % 2 != 0) int8_rounded_rows<1>(t, {r1 - 1}, spread);
}

void dequantize_rows_avx512(const GemvTask& t, int r0, int r1, float* dst) {
  const size_t G = static_cast<size_t>(t.in / t.group), group = static_cast<size_t>(t.group);
  // Lane i of the first output takes even[i / 2] or odd[i / 2] (index 16 + ...): column order.
  const __m512i first = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i second = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  for (int r = r0; r < r1; ++r, dst += t.in) {
    const uint8_t* row = t.q + static_cast<size_t>(r) * t.row_bytes;
    for (size_t g = 0; g < G; ++g) {
      const size_t gi = static_cast<size_t>(r) * G + g;
      const __m512 d = broadcast_half(t.scale[gi]);
      if (!t.q4) {
        const __m512 mn = broadcast_half(t.min[gi]);
        for (size_t c = g * group; c < (g + 1) * group; c += 16)
          _mm512_storeu_ps(dst + c, _mm512_fmadd_ps(load_int8x16(row + c), d, mn));
        continue;
      }
      const __m512 mn = broadcast_half(t.min[gi]);
      for (size_t j = g * group / 2; j < (g + 1) * group / 2; j += 16) {
        const __m512i b = load_q4x16(row + j);
        const __m512 w_even = _mm512_fmadd_ps(low_nibbles(b), d, mn);
        const __m512 w_odd = _mm512_fmadd_ps(high_nibbles(b), d, mn);
        _mm512_storeu_ps(dst + 2 * j, _mm512_permutex2var_ps(w_even, first, w_odd));
        _mm512_storeu_ps(dst + 2 * j + 16, _mm512_permutex2var_ps(w_even, second, w_odd));
      }
    }
  }
}

}  // namespace quant_isa
}  // namespace cpu
}  // namespace rwkv

#endif
