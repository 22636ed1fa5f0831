// runtime/cpu/wkv_kernels_avx512.cpp: the v5/v6 and v7 WKV of one head with
// AVX-512F (runtime/cpu/wkv_kernels.h), heads of 64 channels, a row of the
// state in 4 vectors of 16 lanes. Per token and head: the 16 KiB state read
// and written once (in L1/L2), ~6 x 64 x 64 FLOPs (v7), ~5 x 64 x 64 (v5/v6).
//
// v7, S [value][key]: for each row i, sa = S_i . (-kk), S_i = S_i * w + sa * b
// + v_i * k (b = kk * alpha), y_i = S_i . r; the token's five key vectors stay
// in 20 registers.
// v5/v6, S [key][value]: for each row i, with kv = k_i v, y += r_i (u_i kv +
// S_i) and S_i = w_i S_i + kv; y and v stay in 8 registers, no sums across
// lanes.
// Compiled with -mavx512f -mfma; called only when the CPU has AVX-512F
// (wkv_kernels.cpp).
#include "runtime/cpu/wkv_kernels.h"

#if defined(__x86_64__) && defined(__AVX512F__) && defined(__FMA__)
#include <immintrin.h>

#include "runtime/cpu/avx512_lanes.h"

namespace rwkv {
namespace cpu {

namespace {

using avx512_lanes::hsum;

constexpr int kN = 64, kV = kN / 16;

}  // namespace

void wkv7_head_avx512(int N, size_t A, size_t r0, size_t r1, int h, const float* r, const float* w,
                      const float* k, const float* v, const float* kk, const float* alpha, float* S, float* y) {
  (void)N;  // kN: wkv7_head_vector_supported
  const size_t o = static_cast<size_t>(h) * kN;
  for (size_t t = r0; t < r1; ++t) {
    const size_t row = t * A + o;
    __m512 neg_kk[kV], b[kV], wt[kV], kt[kV], rt[kV];
    #pragma GCC unroll 4
    for (int q = 0; q < kV; ++q) {
      const __m512 kkq = _mm512_loadu_ps(kk + row + 16 * q);
      neg_kk[q] = _mm512_sub_ps(_mm512_setzero_ps(), kkq);
      b[q] = _mm512_mul_ps(kkq, _mm512_loadu_ps(alpha + row + 16 * q));
      wt[q] = _mm512_loadu_ps(w + row + 16 * q);
      kt[q] = _mm512_loadu_ps(k + row + 16 * q);
      rt[q] = _mm512_loadu_ps(r + row + 16 * q);
    }
    const float* vt = v + row;
    float* yt = y + row;
    for (int i = 0; i < kN; ++i) {
      float* Si = S + static_cast<size_t>(i) * kN;
      __m512 s[kV], dot = _mm512_setzero_ps();
      #pragma GCC unroll 4
      for (int q = 0; q < kV; ++q) {
        s[q] = _mm512_loadu_ps(Si + 16 * q);
        dot = _mm512_fmadd_ps(s[q], neg_kk[q], dot);
      }
      const __m512 sa = _mm512_set1_ps(hsum(dot)), vi = _mm512_set1_ps(vt[i]);
      __m512 acc = _mm512_setzero_ps();
      #pragma GCC unroll 4
      for (int q = 0; q < kV; ++q) {
        const __m512 next = _mm512_fmadd_ps(s[q], wt[q], _mm512_fmadd_ps(sa, b[q], _mm512_mul_ps(vi, kt[q])));
        _mm512_storeu_ps(Si + 16 * q, next);
        acc = _mm512_fmadd_ps(next, rt[q], acc);
      }
      yt[i] = hsum(acc);
    }
  }
}

void wkv5_head_avx512(int N, size_t A, size_t r0, size_t r1, int h, const float* r, const float* k,
                      const float* v, const float* w_rows, const float* w_fixed, const float* u, float* S,
                      float* y) {
  (void)N;  // kN: wkv5_head_vector_supported
  const size_t o = static_cast<size_t>(h) * kN;
  const float* uh = u + o;
  for (size_t t = r0; t < r1; ++t) {
    const size_t row = t * A + o;
    const float* rt = r + row;
    const float* kt = k + row;
    const float* wt = (w_rows ? w_rows + t * A : w_fixed) + o;
    __m512 vt[kV], yt[kV];
    #pragma GCC unroll 4
    for (int q = 0; q < kV; ++q) {
      vt[q] = _mm512_loadu_ps(v + row + 16 * q);
      yt[q] = _mm512_setzero_ps();
    }
    for (int i = 0; i < kN; ++i) {
      float* Si = S + static_cast<size_t>(i) * kN;
      const __m512 ri = _mm512_set1_ps(rt[i]), ki = _mm512_set1_ps(kt[i]), ui = _mm512_set1_ps(uh[i]),
                   wi = _mm512_set1_ps(wt[i]);
      #pragma GCC unroll 4
      for (int q = 0; q < kV; ++q) {
        const __m512 s = _mm512_loadu_ps(Si + 16 * q), kv = _mm512_mul_ps(ki, vt[q]);
        yt[q] = _mm512_fmadd_ps(ri, _mm512_fmadd_ps(ui, kv, s), yt[q]);  // output uses the old state
        _mm512_storeu_ps(Si + 16 * q, _mm512_fmadd_ps(wi, s, kv));      // then the update
      }
    }
    #pragma GCC unroll 4
    for (int q = 0; q < kV; ++q) _mm512_storeu_ps(y + row + 16 * q, yt[q]);
  }
}

}  // namespace cpu
}  // namespace rwkv

#endif
