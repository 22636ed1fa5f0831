// tests/runtime/cpu_product_check.h: the check shared by the tests of the
// CPU's fast products (test_cpu_quant_kernels.cpp, test_cpu_dense_kernels.cpp):
// a result against the plain product cpu::linear_rows_reference of the same
// fp32 weight values.
//
// Bound: the two differ only in the order of the fp32 sums. A dot product of
// K terms summed in any order (with or without fused multiply-adds) is within
// gamma_K * sum_k |w_k x_k| of the exact value, with gamma_K = K u / (1 - K u),
// u = 2^-24 (Higham, Accuracy and Stability of Numerical Algorithms, eq. 3.5);
// so the two results are within twice that.
#pragma once

#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

#include "runtime/cpu/cpu_ops.h"

namespace cpu_product_check {

inline std::vector<float> random_inputs(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(n);
  for (float& v : x) v = normal(rng);
  return x;
}

inline double gamma_n(int n) {
  const double u = std::ldexp(1.0, -24);
  return n * u / (1.0 - n * u);
}

// Compares Y (ldy apart, padding must be untouched) with the reference, row by
// row against 2 gamma_K sum_k |w_k x_k|.
inline void check_against_reference(const rwkv::Linear& L, const std::vector<float>& X, size_t ldx, size_t M,
                             const std::vector<float>& Y, size_t ldy, float pad) {
  std::vector<float> ref(M * ldy, pad);
  rwkv::cpu::linear_rows_reference(L, 0, L.out, X.data(), ldx, M, ref.data(), ldy);
  const std::vector<float> w = L.to_f32();
  const double g = 2.0 * gamma_n(L.in);
  int bad = 0;
  for (size_t m = 0; m < M; ++m) {
    for (size_t r = 0; r < ldy; ++r) {
      const float got = Y[m * ldy + r];
      if (r >= static_cast<size_t>(L.out)) {
        if (got != pad && bad++ < 5) FAIL_CHECK("padding overwritten at m " << m << " r " << r);
        continue;
      }
      double abs_sum = 0.0;
      for (int c = 0; c < L.in; ++c) abs_sum += std::fabs(double(w[r * L.in + c]) * X[m * ldx + c]);
      const double err = std::fabs(double(got) - double(ref[m * ldy + r]));
      if (!(err <= g * abs_sum) && bad++ < 5)
        FAIL_CHECK("m " << m << " r " << r << ": " << got << " vs reference " << ref[m * ldy + r]
                        << ", bound " << g * abs_sum);
    }
  }
  CHECK(bad == 0);
}

}  // namespace cpu_product_check
