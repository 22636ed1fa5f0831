// runtime/cpu/quant_gemm_avx512vnni.cpp: the int8 product at many inputs
// (prefill, batches above quant_fused_max_inputs) on inputs rounded to int16,
// by vpdpwssd (AVX-512 VNNI): the arithmetic of gemv_int8_rounded_avx512
// (quant_kernels_avx512.cpp) laid out as a matrix product.
//
// Per output row r and block b of 32 columns, P = sum_c q_c xi_c is summed in
// int32 exactly (|q| <= 128, |xi| <= 32767: |P| < 2^27), converted to fp32
// (one rounding), multiplied by d_g * xs_b and summed in fp32 over the blocks;
// the offsets add sum_g m_g xg_g. One vpdpwssd does 32 multiply-adds (16 lanes
// of two int16 products), twice an fp32 FMA's 16.
//
// Layout: a micro-tile is kRows output rows x 16 * V inputs (V <= 2 vectors
// whose lanes are inputs). The inputs are rounded and packed first, 16 at a
// time over the pool (pack_inputs_vnni, from QuantProduct::pack_inputs):
// xp[p * m_pad + m] holds the int16 pair (xi[m][2p], xi[m][2p + 1]),
// xs_t[b * m_pad + m] and xg_t[g * m_pad + m] the block scales and group sums,
// m_pad = M rounded up to 16 (zeros past M). The weights are widened to int16
// kPanel rows at a time into a buffer of the calling thread; a row's pair
// (q[2p], q[2p + 1]) is one 32-bit broadcast.
//
// Per micro-tile and block: 16 x (V loads, kRows broadcasts, kRows x V
// vpdpwssd), then kRows x V conversions, products and FMAs. Bytes: the matrix
// once per call (int8), the packed inputs once per panel of kPanel rows from
// the caches. FLOPs: 2 x M x out x in.
// Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512vnni -mf16c; called only
// when the CPU has them (quant_kernels.cpp).
#include "runtime/cpu/quant_kernels_isa.h"

#if defined(__x86_64__) && defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__) && \
    defined(__F16C__)
#include <immintrin.h>

#include "runtime/cpu/avx512_lanes.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

namespace rwkv {
namespace cpu {
namespace quant_isa {

namespace {

using avx512_lanes::hmax;
using avx512_lanes::hsum_epi32;

constexpr int kRows = 6;    // output rows of a micro-tile: 12 int32 + 12 fp32 accumulators at V = 2
constexpr int kPanel = 48;  // rows widened to int16 at a time (at in = 3072: 288 KiB, in L2)
constexpr __mmask16 kAll = 0xFFFF;

// The rows of one panel: int16 weights, fp32 scales and offsets.
struct Panel {
  int row0 = 0, rows = 0;
  std::vector<int16_t> w;  // rows x in
  std::vector<float> d, m;  // rows x groups
};

void widen_panel(const GemvTask& t, int row0, int rows, Panel& p) {
  const size_t in = static_cast<size_t>(t.in), G = static_cast<size_t>(t.in / t.group);
  p.row0 = row0;
  p.rows = rows;
  for (int i = 0; i < rows; ++i) {
    const uint8_t* q = t.q + static_cast<size_t>(row0 + i) * t.row_bytes;
    int16_t* w = p.w.data() + static_cast<size_t>(i) * in;
    for (size_t c = 0; c < in; c += 32)  // in is a multiple of 32 (the block)
      _mm512_storeu_si512(w + c, _mm512_maskz_cvtepi8_epi16(~__mmask32{0},
                                                            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + c))));
    const size_t gi = static_cast<size_t>(row0 + i) * G;
    for (size_t g = 0; g < G; ++g) {
      p.d[static_cast<size_t>(i) * G + g] = _cvtsh_ss(t.scale[gi + g]);
      p.m[static_cast<size_t>(i) * G + g] = _cvtsh_ss(t.min[gi + g]);
    }
  }
}

inline __m512i broadcast_pair(const int16_t* w) {
  int32_t pair;
  std::memcpy(&pair, w, sizeof pair);
  return _mm512_set1_epi32(pair);
}

// Panel rows [i0, i0 + R) times inputs [m0, m0 + 16 V).
template <int R, int V>
void micro_tile(const GemvTask& t, const Panel& p, int i0, int m0) {
  const size_t in = static_cast<size_t>(t.in), mp = static_cast<size_t>(t.m_pad);
  const int B = t.in / 32, k = t.group / 32, G = t.in / t.group;
  const int16_t* w[R];
  #pragma GCC unroll 8
  for (int i = 0; i < R; ++i) w[i] = p.w.data() + static_cast<size_t>(i0 + i) * in;
  __m512 sum[R][V];
  #pragma GCC unroll 8
  for (int i = 0; i < R; ++i)
    #pragma GCC unroll 2
    for (int v = 0; v < V; ++v) sum[i][v] = _mm512_setzero_ps();
  for (int b = 0; b < B; ++b) {
    __m512i acc[R][V];
    #pragma GCC unroll 8
    for (int i = 0; i < R; ++i)
      #pragma GCC unroll 2
      for (int v = 0; v < V; ++v) acc[i][v] = _mm512_setzero_si512();
    const int32_t* xp = t.xp + static_cast<size_t>(16 * b) * mp + static_cast<size_t>(m0);
    #pragma GCC unroll 2
    for (int j = 0; j < 16; ++j) {  // the block's 16 column pairs
      __m512i x[V];
      #pragma GCC unroll 2
      for (int v = 0; v < V; ++v) x[v] = _mm512_loadu_si512(xp + static_cast<size_t>(j) * mp + 16 * v);
      #pragma GCC unroll 8
      for (int i = 0; i < R; ++i) {
        const __m512i wp = broadcast_pair(w[i] + 32 * b + 2 * j);
        #pragma GCC unroll 2
        for (int v = 0; v < V; ++v) acc[i][v] = _mm512_dpwssd_epi32(acc[i][v], wp, x[v]);
      }
    }
    __m512 xs[V];
    #pragma GCC unroll 2
    for (int v = 0; v < V; ++v) xs[v] = _mm512_loadu_ps(t.xs_t + static_cast<size_t>(b) * mp + m0 + 16 * v);
    #pragma GCC unroll 8
    for (int i = 0; i < R; ++i) {
      const __m512 d = _mm512_set1_ps(p.d[static_cast<size_t>(i0 + i) * G + b / k]);
      #pragma GCC unroll 2
      for (int v = 0; v < V; ++v)
        sum[i][v] = _mm512_fmadd_ps(_mm512_maskz_cvtepi32_ps(kAll, acc[i][v]), _mm512_mul_ps(d, xs[v]), sum[i][v]);
    }
  }
  for (int g = 0; g < G; ++g) {  // the offsets
    __m512 xg[V];
    #pragma GCC unroll 2
    for (int v = 0; v < V; ++v) xg[v] = _mm512_loadu_ps(t.xg_t + static_cast<size_t>(g) * mp + m0 + 16 * v);
    #pragma GCC unroll 8
    for (int i = 0; i < R; ++i) {
      const __m512 mn = _mm512_set1_ps(p.m[static_cast<size_t>(i0 + i) * G + g]);
      #pragma GCC unroll 2
      for (int v = 0; v < V; ++v) sum[i][v] = _mm512_fmadd_ps(mn, xg[v], sum[i][v]);
    }
  }
  const int inputs = std::min(16 * V, t.M - m0);
  alignas(64) float lanes[16 * V];
  #pragma GCC unroll 8
  for (int i = 0; i < R; ++i) {
    #pragma GCC unroll 2
    for (int v = 0; v < V; ++v) _mm512_store_ps(lanes + 16 * v, sum[i][v]);
    const size_t r = static_cast<size_t>(p.row0 + i0 + i);
    for (int m = 0; m < inputs; ++m) t.y[static_cast<size_t>(m0 + m) * t.ldy + r] = lanes[m];
  }
}

// Every row of the panel times inputs [m0, m0 + 16 V).
template <int V>
void panel_inputs(const GemvTask& t, const Panel& p, int m0) {
  int i = 0;
  for (; i + kRows <= p.rows; i += kRows) micro_tile<kRows, V>(t, p, i, m0);
  switch (p.rows - i) {
    case 5: micro_tile<5, V>(t, p, i, m0); break;
    case 4: micro_tile<4, V>(t, p, i, m0); break;
    case 3: micro_tile<3, V>(t, p, i, m0); break;
    case 2: micro_tile<2, V>(t, p, i, m0); break;
    case 1: micro_tile<1, V>(t, p, i, m0); break;
    default: break;
  }
}

// Rounds one input row as quant_kernels.cpp round_inputs_int16 does, to the
// bit (the same scale and inverse, x * inverse rounded to nearest even, which
// vcvtps2dq does as the scalar 1.5 * 2^23 trick does, clamped to +-32767):
// `in` int16 at xi, one scale per block at xs; false on a non-finite input or
// a subnormal scale.
bool round_row(const float* x, int in, int16_t* xi, float* xs) {
  const __m512 finite = _mm512_set1_ps(std::numeric_limits<float>::max());
  for (int b = 0; b < in / 32; ++b) {
    const __m512 v0 = _mm512_loadu_ps(x + 32 * b), v1 = _mm512_loadu_ps(x + 32 * b + 16);
    const __m512 a0 = _mm512_abs_ps(v0), a1 = _mm512_abs_ps(v1);
    // not (|x| <= max float): inf or NaN
    if ((_mm512_cmp_ps_mask(a0, finite, _CMP_NLE_UQ) | _mm512_cmp_ps_mask(a1, finite, _CMP_NLE_UQ)) != 0) return false;
    const float largest = hmax(_mm512_maskz_max_ps(kAll, a0, a1));
    if (largest == 0.0f) {
      xs[b] = 0.0f;
      _mm512_storeu_si512(xi + 32 * b, _mm512_setzero_si512());
      continue;
    }
    const float scale = largest / 32767.0f, inverse = 32767.0f / largest;
    if (!(scale >= std::numeric_limits<float>::min())) return false;
    const __m512i lo = _mm512_set1_epi32(-32767), hi = _mm512_set1_epi32(32767);
    const __m512 inv = _mm512_set1_ps(inverse);
    constexpr int kNearest = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
    const __m512i r0 = _mm512_maskz_cvt_roundps_epi32(kAll, _mm512_mul_ps(v0, inv), kNearest);
    const __m512i r1 = _mm512_maskz_cvt_roundps_epi32(kAll, _mm512_mul_ps(v1, inv), kNearest);
    const __m512i q0 = _mm512_maskz_min_epi32(kAll, hi, _mm512_maskz_max_epi32(kAll, lo, r0));
    const __m512i q1 = _mm512_maskz_min_epi32(kAll, hi, _mm512_maskz_max_epi32(kAll, lo, r1));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(xi + 32 * b), _mm512_maskz_cvtepi32_epi16(kAll, q0));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(xi + 32 * b + 16), _mm512_maskz_cvtepi32_epi16(kAll, q1));
    xs[b] = scale;
  }
  return true;
}

}  // namespace

bool pack_inputs_vnni(const PackTask& k, int chunk) {
  const size_t in = static_cast<size_t>(k.in), mp = static_cast<size_t>(k.m_pad);
  const int blocks = k.in / 32, groups = k.in / k.group, per_group = blocks / groups;
  std::vector<int16_t> xi(16 * in, 0);  // the chunk's 16 rows; zeros past M
  std::vector<float> xs(static_cast<size_t>(16 * blocks), 0.0f);
  bool all_rounded = true;
  for (int i = 0; i < 16; ++i) {
    const int m = 16 * chunk + i;
    if (m < k.M && !round_row(k.x + static_cast<size_t>(m) * k.ldx, k.in, xi.data() + i * in, xs.data() + i * blocks)) {
      all_rounded = false;
      std::fill(xi.begin() + static_cast<ptrdiff_t>(i * in), xi.begin() + static_cast<ptrdiff_t>((i + 1) * in), int16_t{0});
    }
  }
  // xp[p][16 chunk + i] = the pair at column 2p of row i: one gather of 16 pairs per p.
  const __m512i rows = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                          _mm512_set1_epi32(static_cast<int>(in / 2)));
  const int32_t* pairs = reinterpret_cast<const int32_t*>(xi.data());
  int32_t* xp = k.xp + 16 * static_cast<size_t>(chunk);
  for (size_t p = 0; p < in / 2; ++p)
    _mm512_storeu_si512(xp + p * mp, _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), kAll, rows, pairs + p, 4));
  for (int i = 0; i < 16; ++i) {
    const size_t col = 16 * static_cast<size_t>(chunk) + static_cast<size_t>(i);
    const int16_t* row = xi.data() + i * in;
    for (int b = 0; b < blocks; ++b) k.xs_t[static_cast<size_t>(b) * mp + col] = xs[static_cast<size_t>(i * blocks + b)];
    // The rounded inputs' sum over each group, for the offsets (as QuantProduct::round_int8_inputs).
    for (int g = 0; g < groups; ++g) {
      float sum = 0.0f;
      for (int b = g * per_group; b < (g + 1) * per_group; ++b) {
        const __m512i w = _mm512_maskz_cvtepi16_epi32(kAll, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 32 * b)));
        const __m512i w2 = _mm512_maskz_cvtepi16_epi32(kAll, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 32 * b + 16)));
        sum += xs[static_cast<size_t>(i * blocks + b)] * static_cast<float>(hsum_epi32(_mm512_add_epi32(w, w2)));
      }
      k.xg_t[static_cast<size_t>(g) * mp + col] = sum;
    }
  }
  return all_rounded;
}

void gemm_int8_rounded_vnni(const GemvTask& t, int r0, int r1) {
  const size_t G = static_cast<size_t>(t.in / t.group);
  Panel p;
  p.w.resize(static_cast<size_t>(kPanel) * static_cast<size_t>(t.in));
  p.d.resize(static_cast<size_t>(kPanel) * G);
  p.m.resize(static_cast<size_t>(kPanel) * G);
  for (int row0 = r0; row0 < r1; row0 += kPanel) {
    widen_panel(t, row0, std::min(kPanel, r1 - row0), p);
    int m0 = 0;
    for (; m0 + 16 < t.M; m0 += 32) panel_inputs<2>(t, p, m0);
    if (m0 < t.M) panel_inputs<1>(t, p, m0);
  }
}

}  // namespace quant_isa
}  // namespace cpu
}  // namespace rwkv

#endif
