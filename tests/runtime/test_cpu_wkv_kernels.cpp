// tests/runtime/test_cpu_wkv_kernels.cpp: the vectorised WKV heads of
// runtime/cpu/wkv_kernels.h against the plain loops of runtime/cpu/cpu_layers.h
// on random tokens. Both compute the same recurrence in fp32 in a different
// order of sums (and with fused multiply-adds). Bounds, u = 2^-24 and s the
// largest |state entry|: a token's update of a state entry adds an error below
// N u s (the 64-term sum sa, with |kk| = 1, plus a few roundings), and the
// decays (w < 1, here > 1/2) keep the sum of those over the tokens below
// 2 N u s: checked at 4 N u s; an output y_i = sum_j S_ij r_j then within
// sum_j |r_j| (4 N u s + N u s). Measured: 0.03 and 0.7 N u s.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

#include "runtime/cpu/cpu_layers.h"
#include "runtime/cpu/wkv_kernels.h"

TEST_CASE("cpu v7 WKV head in AVX-512 equals the plain recurrence to fp32 rounding", "[cpu][wkv]") {
  const int N = 64, H = 3;
  if (!rwkv::cpu::wkv7_head_vector_supported(N)) {
    WARN("no AVX-512 here: the vectorised v7 WKV head is not run");
    return;
  }
  const size_t A = static_cast<size_t>(H) * N, T = 40;
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  auto fill = [&](std::vector<float>& x, float scale) { for (float& z : x) z = scale * normal(rng); };
  std::vector<float> r(T * A), w(T * A), k(T * A), v(T * A), kk(T * A), alpha(T * A);
  fill(r, 1.0f);
  fill(k, 1.0f);
  fill(v, 2.0f);
  for (float& z : w) z = 0.5f + 0.5f * unit(rng);  // decays in (0.5, 1)
  for (float& z : alpha) z = unit(rng);
  // kk: unit vectors per head (wkv7_prepare normalises them), so that S stays bounded.
  for (size_t t = 0; t < T; ++t)
    for (int h = 0; h < H; ++h) {
      float* p = kk.data() + t * A + static_cast<size_t>(h) * N;
      double n2 = 0.0;
      for (int j = 0; j < N; ++j) {
        p[j] = normal(rng);
        n2 += double(p[j]) * p[j];
      }
      for (int j = 0; j < N; ++j) p[j] = static_cast<float>(p[j] / std::sqrt(n2));
    }
  for (int h = 0; h < H; ++h) {
    INFO("head " << h);
    std::vector<float> S0(static_cast<size_t>(N) * N);
    fill(S0, 0.3f);
    std::vector<float> S_plain = S0, S_vec = S0, y_plain(T * A, 0.0f), y_vec(T * A, 0.0f);
    // Token by token (a prefill of T rows in two calls checks that the state carries over).
    rwkv::cpu::wkv7_head(N, A, 0, 25, h, r.data(), w.data(), k.data(), v.data(), kk.data(), alpha.data(),
                         S_plain.data(), y_plain.data());
    rwkv::cpu::wkv7_head(N, A, 25, T, h, r.data(), w.data(), k.data(), v.data(), kk.data(), alpha.data(),
                         S_plain.data(), y_plain.data());
    rwkv::cpu::wkv7_head_avx512(N, A, 0, 25, h, r.data(), w.data(), k.data(), v.data(), kk.data(),
                                alpha.data(), S_vec.data(), y_vec.data());
    rwkv::cpu::wkv7_head_avx512(N, A, 25, T, h, r.data(), w.data(), k.data(), v.data(), kk.data(),
                                alpha.data(), S_vec.data(), y_vec.data());
    double s_max = 0.0;
    for (float z : S_plain) s_max = std::max(s_max, double(std::fabs(z)));
    const double u = std::ldexp(1.0, -24);
    int bad = 0;
    for (size_t i = 0; i < S_plain.size(); ++i)
      if (!(std::fabs(double(S_vec[i]) - S_plain[i]) <= 4 * u * N * s_max) && bad++ < 5)
        FAIL_CHECK("S[" << i << "] " << S_vec[i] << " vs " << S_plain[i]);
    for (size_t t = 0; t < T; ++t)
      for (int i = 0; i < N; ++i) {
        const size_t at = t * A + static_cast<size_t>(h) * N + static_cast<size_t>(i);
        double mag = 0.0;
        for (int j = 0; j < N; ++j) mag += std::fabs(r[t * A + static_cast<size_t>(h) * N + static_cast<size_t>(j)]);
        if (!(std::fabs(double(y_vec[at]) - y_plain[at]) <= 5 * u * N * s_max * mag) && bad++ < 5)
          FAIL_CHECK("y[" << t << ", " << i << "] " << y_vec[at] << " vs " << y_plain[at]);
        CHECK(y_vec[at] == y_vec[at]);  // not NaN
      }
    CHECK(bad == 0);
    // Not a vacuous comparison: the tokens moved the state and the outputs are not all zero.
    CHECK(S_plain != S0);
    double y_abs = 0.0;
    for (size_t t = 0; t < T; ++t) y_abs += std::fabs(y_plain[t * A + static_cast<size_t>(h) * N]);
    CHECK(y_abs > 1.0);
  }
}

// v5 (one decay per channel, w_fixed) and v6 (a decay per token, w_rows). S [key][value]: an entry's
// update S = w S + k v rounds twice per token and decays (w in (1/2, 1)), so the two forms' states
// differ by a few u max|S| (checked at 8 u s); the output y_j = sum_i r_i (u_i k_i v_j + S_ij) is
// summed over i in the same order by both, so it differs by the fused multiply-adds and the state
// difference: within (2 N u + 8 u) sum_i |r_i| (|u_i k_i v_j| + s).
TEST_CASE("cpu v5/v6 WKV head in AVX-512 equals the plain recurrence to fp32 rounding", "[cpu][wkv]") {
  const int N = 64, H = 2;
  if (!rwkv::cpu::wkv5_head_vector_supported(N)) {
    WARN("no AVX-512 here: the vectorised v5/v6 WKV head is not run");
    return;
  }
  const size_t A = static_cast<size_t>(H) * N, T = 30;
  std::mt19937 rng(12);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  std::vector<float> r(T * A), k(T * A), v(T * A), w_rows(T * A), w_fixed(A), u(A);
  for (float& z : r) z = normal(rng);
  for (float& z : k) z = 0.3f * normal(rng);
  for (float& z : v) z = normal(rng);
  for (float& z : w_rows) z = 0.5f + 0.5f * unit(rng);
  for (float& z : w_fixed) z = 0.5f + 0.5f * unit(rng);
  for (float& z : u) z = normal(rng);
  const double eps = std::ldexp(1.0, -24);
  for (bool per_token : {false, true}) {
    const float* wr = per_token ? w_rows.data() : nullptr;
    const float* wf = per_token ? nullptr : w_fixed.data();
    for (int h = 0; h < H; ++h) {
      INFO((per_token ? "v6" : "v5") << " head " << h);
      std::vector<float> S0(static_cast<size_t>(N) * N);
      for (float& z : S0) z = 0.5f * normal(rng);
      std::vector<float> S_plain = S0, S_vec = S0, y_plain(T * A, 0.0f), y_vec(T * A, 0.0f);
      for (auto [t0, t1] : {std::pair<size_t, size_t>{0, 11}, std::pair<size_t, size_t>{11, T}}) {
        rwkv::cpu::wkv5_head(N, A, t0, t1, h, r.data(), k.data(), v.data(), wr, wf, u.data(), S_plain.data(),
                             y_plain.data());
        rwkv::cpu::wkv5_head_avx512(N, A, t0, t1, h, r.data(), k.data(), v.data(), wr, wf, u.data(),
                                    S_vec.data(), y_vec.data());
      }
      double s_max = 0.0;
      for (float z : S_plain) s_max = std::max(s_max, double(std::fabs(z)));
      int bad = 0;
      for (size_t i = 0; i < S_plain.size(); ++i)
        if (!(std::fabs(double(S_vec[i]) - S_plain[i]) <= 8 * eps * s_max) && bad++ < 5)
          FAIL_CHECK("S[" << i << "] " << S_vec[i] << " vs " << S_plain[i]);
      const size_t o = static_cast<size_t>(h) * N;
      for (size_t t = 0; t < T; ++t)
        for (int j = 0; j < N; ++j) {
          double mag = 0.0;
          for (int i = 0; i < N; ++i)
            mag += std::fabs(r[t * A + o + i]) * (std::fabs(double(u[o + i]) * k[t * A + o + i] * v[t * A + o + j]) + s_max);
          const size_t at = t * A + o + static_cast<size_t>(j);
          if (!(std::fabs(double(y_vec[at]) - y_plain[at]) <= (2 * N + 8) * eps * mag) && bad++ < 5)
            FAIL_CHECK("y[" << t << ", " << j << "] " << y_vec[at] << " vs " << y_plain[at]);
        }
      CHECK(bad == 0);
      CHECK(S_plain != S0);
    }
  }
}
