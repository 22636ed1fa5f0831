// runtime/cpu/dense_kernels_avx2.cpp: the AVX2 dense products of
// runtime/cpu/dense_kernels_isa.h, the scheme of dense_kernels_avx512.cpp on
// 8 lanes. Compiled with -mavx2 -mfma -mf16c; called only when the CPU has
// them (dense_kernels.cpp).
#include "runtime/cpu/dense_kernels_isa.h"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>

#include <cstring>

namespace rwkv {
namespace cpu {
namespace dense_isa {

namespace {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// 8 weights from element index c of a row, as fp32.
template <Elem E>
inline __m256 load8(const void* row, size_t c) {
  if constexpr (E == Elem::f32) {
    return _mm256_loadu_ps(static_cast<const float*>(row) + c);
  } else {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(row) + c));
    if constexpr (E == Elem::f16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
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
  __m256 acc[MT], acc2[MT];
  #pragma GCC unroll 8
  for (int m = 0; m < MT; ++m) acc[m] = acc2[m] = _mm256_setzero_ps();
  const size_t body = in / 8 * 8, pairs = in / (2 * 8) * (2 * 8);
  for (size_t c = 0; c < pairs; c += 2 * 8) {
    const __m256 w = load8<E>(row, c), w2 = load8<E>(row, c + 8);
    #pragma GCC unroll 8
    for (int m = 0; m < MT; ++m) {
      acc[m] = _mm256_fmadd_ps(w, _mm256_loadu_ps(xs[m] + c), acc[m]);
      acc2[m] = _mm256_fmadd_ps(w2, _mm256_loadu_ps(xs[m] + c + 8), acc2[m]);
    }
  }
  if (pairs < body) {
    const __m256 w = load8<E>(row, pairs);
    #pragma GCC unroll 8
    for (int m = 0; m < MT; ++m) acc[m] = _mm256_fmadd_ps(w, _mm256_loadu_ps(xs[m] + pairs), acc[m]);
  }
  #pragma GCC unroll 8
  for (int m = 0; m < MT; ++m) {
    float s = hsum(_mm256_add_ps(acc[m], acc2[m]));
    for (size_t c = body; c < in; ++c) s += load1<E>(row, c) * xs[m][c];
    t.y[static_cast<size_t>(m0 + m) * t.ldy + static_cast<size_t>(r)] = s;
  }
}

// Output rows ra and rb (the two halves of a thread's rows) times inputs
// [m0, m0 + MT), MT <= 2, read side by side: two sequential streams, as in
// dense_kernels_avx512.cpp (16 ymm registers: 8 accumulators at MT = 2).
template <Elem E, int MT>
void pair_tile(const GemvTask& t, int ra, int rb, int m0) {
  const size_t in = static_cast<size_t>(t.in);
  const void* row_a = static_cast<const char*>(t.w) + static_cast<size_t>(ra) * in * elem_bytes(E);
  const void* row_b = static_cast<const char*>(t.w) + static_cast<size_t>(rb) * in * elem_bytes(E);
  const float* xs[MT];
  #pragma GCC unroll 8
  for (int m = 0; m < MT; ++m) xs[m] = t.x + static_cast<size_t>(m0 + m) * t.ldx;
  __m256 acc_a[MT], acc2_a[MT], acc_b[MT], acc2_b[MT];
  #pragma GCC unroll 8
  for (int m = 0; m < MT; ++m) acc_a[m] = acc2_a[m] = acc_b[m] = acc2_b[m] = _mm256_setzero_ps();
  const size_t body = in / 8 * 8, pairs = in / (2 * 8) * (2 * 8);
  for (size_t c = 0; c < pairs; c += 2 * 8) {
    const __m256 wa = load8<E>(row_a, c), wa2 = load8<E>(row_a, c + 8);
    const __m256 wb = load8<E>(row_b, c), wb2 = load8<E>(row_b, c + 8);
    #pragma GCC unroll 8
    for (int m = 0; m < MT; ++m) {
      const __m256 x = _mm256_loadu_ps(xs[m] + c), x2 = _mm256_loadu_ps(xs[m] + c + 8);
      acc_a[m] = _mm256_fmadd_ps(wa, x, acc_a[m]);
      acc2_a[m] = _mm256_fmadd_ps(wa2, x2, acc2_a[m]);
      acc_b[m] = _mm256_fmadd_ps(wb, x, acc_b[m]);
      acc2_b[m] = _mm256_fmadd_ps(wb2, x2, acc2_b[m]);
    }
  }
  if (pairs < body) {
    const __m256 wa = load8<E>(row_a, pairs), wb = load8<E>(row_b, pairs);
    #pragma GCC unroll 8
    for (int m = 0; m < MT; ++m) {
      const __m256 x = _mm256_loadu_ps(xs[m] + pairs);
      acc_a[m] = _mm256_fmadd_ps(wa, x, acc_a[m]);
      acc_b[m] = _mm256_fmadd_ps(wb, x, acc_b[m]);
    }
  }
  #pragma GCC unroll 8
  for (int m = 0; m < MT; ++m) {
    float sa = hsum(_mm256_add_ps(acc_a[m], acc2_a[m])), sb = hsum(_mm256_add_ps(acc_b[m], acc2_b[m]));
    for (size_t c = body; c < in; ++c) {
      sa += load1<E>(row_a, c) * xs[m][c];
      sb += load1<E>(row_b, c) * xs[m][c];
    }
    float* y = t.y + static_cast<size_t>(m0 + m) * t.ldy;
    y[ra] = sa;
    y[rb] = sb;
  }
}

// Rows [r0, r1): row i of the first half with row i of the second, inputs in
// tiles of 2; the odd last row alone, inputs in tiles of up to 4.
template <Elem E>
void gemv(const GemvTask& t, int r0, int r1) {
  const int half = (r1 - r0) / 2;
  for (int i = 0; i < half; ++i) {
    int m = 0;
    for (; m + 2 <= t.M; m += 2) pair_tile<E, 2>(t, r0 + i, r0 + half + i, m);
    if (m < t.M) pair_tile<E, 1>(t, r0 + i, r0 + half + i, m);
  }
  if ((r1 - r0) % 2 == 0) return;
  const int r = r1 - 1;
  int m = 0;
  for (; m + 4 <= t.M; m += 4) row_tile<E, 4>(t, r, m);
  switch (t.M - m) {
    case 3: row_tile<E, 3>(t, r, m); break;
    case 2: row_tile<E, 2>(t, r, m); break;
    case 1: row_tile<E, 1>(t, r, m); break;
    default: break;
  }
}

template <Elem E>
void expand(const GemvTask& t, int r0, int r1, float* dst) {
  const size_t in = static_cast<size_t>(t.in), body = in / 8 * 8;
  for (int r = r0; r < r1; ++r, dst += in) {
    const void* row = static_cast<const char*>(t.w) + static_cast<size_t>(r) * in * elem_bytes(E);
    for (size_t c = 0; c < body; c += 8) _mm256_storeu_ps(dst + c, load8<E>(row, c));
    for (size_t c = body; c < in; ++c) dst[c] = load1<E>(row, c);
  }
}

}  // namespace

void gemv_avx2(const GemvTask& t, int r0, int r1) {
  switch (t.elem) {
    case Elem::f32: gemv<Elem::f32>(t, r0, r1); return;
    case Elem::f16: gemv<Elem::f16>(t, r0, r1); return;
    case Elem::bf16: gemv<Elem::bf16>(t, r0, r1); return;
  }
}

void expand_rows_avx2(const GemvTask& t, int r0, int r1, float* dst) {
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
