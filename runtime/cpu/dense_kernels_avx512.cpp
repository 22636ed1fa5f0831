// runtime/cpu/dense_kernels_avx512.cpp: the AVX-512 (F) dense products of
// runtime/cpu/dense_kernels_isa.h. Each weight element is read once per call
// and converted in registers (fp16 by vcvtph2ps, bf16 by a 16-bit shift: both
// exact), multiplied by fp32 inputs and summed in fp32, two accumulators of 16
// lanes per row and input, up to 4 inputs at a time; a thread's rows are read
// as two sequential streams, a row from each half side by side (pair_tile).
// Per call: out x in x (4 | 2) weight bytes, 2 x M x out x in FLOPs.
// Compiled with -mavx512f -mfma -mf16c; called only when the CPU has
// AVX-512F (dense_kernels.cpp).
#include "runtime/cpu/dense_kernels_isa.h"

#if defined(__x86_64__) && defined(__AVX512F__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>

#include "runtime/cpu/avx512_lanes.h"

#include <cstring>

namespace rwkv {
namespace cpu {
namespace dense_isa {

namespace {

using avx512_lanes::hsum;

constexpr __mmask16 kAll = 0xFFFF;  // zero-masking forms: see quant_kernels_avx512.cpp

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

// One output row r times inputs [m0, m0 + MT), the row read front to back once
// for all MT inputs (the odd last row of a thread's range; the others go in
// pairs, pair_tile below).
template <Elem E, int MT>
void row_tile(const GemvTask& t, int r, int m0) {
  const size_t in = static_cast<size_t>(t.in);
  const void* row = static_cast<const char*>(t.w) + static_cast<size_t>(r) * in * elem_bytes(E);
  const float* xs[MT];
  #pragma GCC unroll 8
  for (int m = 0; m < MT; ++m) xs[m] = t.x + static_cast<size_t>(m0 + m) * t.ldx;
  // Two accumulators per input, alternate vectors into each: one chain of
  // dependent multiply-adds would bound the row's speed (4 cycles a vector).
  __m512 acc[MT], acc2[MT];
  #pragma GCC unroll 8
  for (int m = 0; m < MT; ++m) acc[m] = acc2[m] = _mm512_setzero_ps();
  const size_t body = in / 16 * 16, pairs = in / (2 * 16) * (2 * 16);
  // Each vector's multiply-adds right after its load: on the v4 169M fp16
  // matrices this streamed ~1.15x faster than both loads first (the loop is
  // also aligned to 64 bytes, runtime/CMakeLists.txt; docs/cpu-backend.md).
  for (size_t c = 0; c < pairs; c += 2 * 16) {
    const __m512 w = load16<E>(row, c);
    #pragma GCC unroll 8
    for (int m = 0; m < MT; ++m) acc[m] = _mm512_fmadd_ps(w, _mm512_loadu_ps(xs[m] + c), acc[m]);
    const __m512 w2 = load16<E>(row, c + 16);
    #pragma GCC unroll 8
    for (int m = 0; m < MT; ++m) acc2[m] = _mm512_fmadd_ps(w2, _mm512_loadu_ps(xs[m] + c + 16), acc2[m]);
  }
  if (pairs < body) {
    const __m512 w = load16<E>(row, pairs);
    #pragma GCC unroll 8
    for (int m = 0; m < MT; ++m) acc[m] = _mm512_fmadd_ps(w, _mm512_loadu_ps(xs[m] + pairs), acc[m]);
  }
  #pragma GCC unroll 8
  for (int m = 0; m < MT; ++m) {
    float s = hsum(_mm512_add_ps(acc[m], acc2[m]));
    for (size_t c = body; c < in; ++c) s += load1<E>(row, c) * xs[m][c];
    t.y[static_cast<size_t>(m0 + m) * t.ldy + static_cast<size_t>(r)] = s;
  }
}

// Output rows ra and rb (far apart: the two halves of a thread's rows) times
// inputs [m0, m0 + MT), both rows read front to back side by side. Each half
// of the rows is one sequential stream, and two such streams read faster than
// one from this machine's memory: a stand-alone pass over the v4 169M fp16
// matrices at one input, 23-24 against 16-18 GB/s (1 thread), 45-47 against
// 32-37 GB/s (2 threads); fp32 1.12-1.19x. Two adjacent rows side by side
// (one stream read at two points 1.5 KB apart) ran at half the speed
// (docs/cpu-backend.md, "Two streams per thread").
template <Elem E, int MT>
void pair_tile(const GemvTask& t, int ra, int rb, int m0) {
  const size_t in = static_cast<size_t>(t.in);
  const void* row_a = static_cast<const char*>(t.w) + static_cast<size_t>(ra) * in * elem_bytes(E);
  const void* row_b = static_cast<const char*>(t.w) + static_cast<size_t>(rb) * in * elem_bytes(E);
  const float* xs[MT];
  #pragma GCC unroll 8
  for (int m = 0; m < MT; ++m) xs[m] = t.x + static_cast<size_t>(m0 + m) * t.ldx;
  __m512 acc_a[MT], acc2_a[MT], acc_b[MT], acc2_b[MT];  // two accumulators per row and input, as in row_tile
  #pragma GCC unroll 8
  for (int m = 0; m < MT; ++m) acc_a[m] = acc2_a[m] = acc_b[m] = acc2_b[m] = _mm512_setzero_ps();
  const size_t body = in / 16 * 16, pairs = in / (2 * 16) * (2 * 16);
  for (size_t c = 0; c < pairs; c += 2 * 16) {
    const __m512 wa = load16<E>(row_a, c), wb = load16<E>(row_b, c);
    #pragma GCC unroll 8
    for (int m = 0; m < MT; ++m) {
      const __m512 x = _mm512_loadu_ps(xs[m] + c);
      acc_a[m] = _mm512_fmadd_ps(wa, x, acc_a[m]);
      acc_b[m] = _mm512_fmadd_ps(wb, x, acc_b[m]);
    }
    const __m512 wa2 = load16<E>(row_a, c + 16), wb2 = load16<E>(row_b, c + 16);
    #pragma GCC unroll 8
    for (int m = 0; m < MT; ++m) {
      const __m512 x = _mm512_loadu_ps(xs[m] + c + 16);
      acc2_a[m] = _mm512_fmadd_ps(wa2, x, acc2_a[m]);
      acc2_b[m] = _mm512_fmadd_ps(wb2, x, acc2_b[m]);
    }
  }
  if (pairs < body) {
    const __m512 wa = load16<E>(row_a, pairs), wb = load16<E>(row_b, pairs);
    #pragma GCC unroll 8
    for (int m = 0; m < MT; ++m) {
      const __m512 x = _mm512_loadu_ps(xs[m] + pairs);
      acc_a[m] = _mm512_fmadd_ps(wa, x, acc_a[m]);
      acc_b[m] = _mm512_fmadd_ps(wb, x, acc_b[m]);
    }
  }
  #pragma GCC unroll 8
  for (int m = 0; m < MT; ++m) {
    float sa = hsum(_mm512_add_ps(acc_a[m], acc2_a[m])), sb = hsum(_mm512_add_ps(acc_b[m], acc2_b[m]));
    for (size_t c = body; c < in; ++c) {
      sa += load1<E>(row_a, c) * xs[m][c];
      sb += load1<E>(row_b, c) * xs[m][c];
    }
    float* y = t.y + static_cast<size_t>(m0 + m) * t.ldy;
    y[ra] = sa;
    y[rb] = sb;
  }
}

// Inputs in tiles of up to 4 for one row (rb < 0) or a pair of rows.
template <Elem E>
void rows_all_inputs(const GemvTask& t, int ra, int rb) {
  int m = 0;
  if (rb < 0) {
    for (; m + 4 <= t.M; m += 4) row_tile<E, 4>(t, ra, m);
    switch (t.M - m) {
      case 3: row_tile<E, 3>(t, ra, m); break;
      case 2: row_tile<E, 2>(t, ra, m); break;
      case 1: row_tile<E, 1>(t, ra, m); break;
      default: break;
    }
    return;
  }
  for (; m + 4 <= t.M; m += 4) pair_tile<E, 4>(t, ra, rb, m);
  switch (t.M - m) {
    case 3: pair_tile<E, 3>(t, ra, rb, m); break;
    case 2: pair_tile<E, 2>(t, ra, rb, m); break;
    case 1: pair_tile<E, 1>(t, ra, rb, m); break;
    default: break;
  }
}

// Rows [r0, r1): row i of the first half with row i of the second (two
// sequential streams), the odd last row alone.
template <Elem E>
void gemv(const GemvTask& t, int r0, int r1) {
  const int half = (r1 - r0) / 2;
  for (int i = 0; i < half; ++i) rows_all_inputs<E>(t, r0 + i, r0 + half + i);
  if ((r1 - r0) % 2 != 0) rows_all_inputs<E>(t, r1 - 1, -1);
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
