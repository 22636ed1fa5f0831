// runtime/arch/torch_bf16_layer_norm.cpp: see torch_bf16_layer_norm.h.
// Every `bf(...)` below is one rounding that torch's BFloat16 arithmetic makes
// (an operation on two bf16 values is done in float and rounded to bf16).
#include "runtime/arch/torch_bf16_layer_norm.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "runtime/core/half_float.h"

namespace rwkv {

namespace {

inline float bf(float x) { return rwkv::round_to_bf16(x); }

// Merge (n_add, m1_add, m2_add) into (n, m1, m2): Welford's parallel combination,
// each operation in bf16 (torch's AddMoments / AddMomentsVec, lane by lane).
void add_moments(int64_t n_add, float m1_add, float m2_add, int64_t& n, float& m1, float& m2) {
  const int64_t total = n + n_add;
  const float c = total == 0 ? 0.0f : bf(bf(static_cast<float>(n_add)) / bf(static_cast<float>(total)));
  const float delta = bf(m1_add - m1);
  m1 = bf(m1 + bf(c * delta));
  m2 = bf(m2 + bf(m2_add + bf(bf(bf(delta * delta) * c) * bf(static_cast<float>(n)))));
  n = total;
}

// torch's CeilLog2 (1 for x <= 2).
int64_t ceil_log2(int64_t x) {
  if (x <= 2) return 1;
  int64_t r = 0;
  for (uint64_t v = static_cast<uint64_t>(x - 1); v; v >>= 1) ++r;
  return r;
}

// Mean and biased variance, as torch's RowwiseMoments<BFloat16>.
void rowwise_moments(const float* X, int N, int lanes, float& mean, float& var) {
  constexpr int64_t kChunk = 16;  // vectors per Welford chunk
  const int64_t n = N / lanes;    // whole vectors
  const int64_t m = (n + kChunk - 1) / kChunk;
  const int64_t depth = ceil_log2(m);
  // Cascade stack, one (count, m1[lanes], m2[lanes]) per level.
  std::vector<int64_t> s0(static_cast<size_t>(depth), 0);
  std::vector<std::vector<float>> s1(static_cast<size_t>(depth), std::vector<float>(static_cast<size_t>(lanes), 0.0f));
  std::vector<std::vector<float>> s2 = s1;
  std::vector<float> m1v(static_cast<size_t>(lanes)), m2v(static_cast<size_t>(lanes));
  auto merge_vec = [&](int64_t n_add, const std::vector<float>& a1, const std::vector<float>& a2,
                       size_t level) {
    // AddMomentsVec: one shared count and coefficient for all lanes.
    for (int L = 0; L < lanes; ++L) {
      int64_t cnt = s0[level];
      add_moments(n_add, a1[static_cast<size_t>(L)], a2[static_cast<size_t>(L)], cnt,
                  s1[level][static_cast<size_t>(L)], s2[level][static_cast<size_t>(L)]);
    }
    s0[level] += n_add;
  };
  for (int64_t i = 0; i < m; ++i) {
    const float* Xc = X + i * kChunk * lanes;
    const int64_t m0 = std::min(kChunk, n - i * kChunk);
    for (int L = 0; L < lanes; ++L) {
      float a = 0.0f, b = 0.0f;
      for (int64_t j = 0; j < m0; ++j) {
        const float x = Xc[j * lanes + L];
        const float delta = bf(x - a);
        const float c = bf(1.0f / bf(static_cast<float>(j + 1)));
        a = bf(a + bf(delta * c));
        b = bf(b + bf(delta * bf(x - a)));
      }
      m1v[static_cast<size_t>(L)] = a;
      m2v[static_cast<size_t>(L)] = b;
    }
    merge_vec(m0, m1v, m2v, 0);
    int64_t mask = i + 1;
    for (int64_t j = 1; j < depth && (mask & 1) == 0; ++j) {
      merge_vec(s0[static_cast<size_t>(j - 1)], s1[static_cast<size_t>(j - 1)],
                s2[static_cast<size_t>(j - 1)], static_cast<size_t>(j));
      s0[static_cast<size_t>(j - 1)] = 0;
      std::fill(s1[static_cast<size_t>(j - 1)].begin(), s1[static_cast<size_t>(j - 1)].end(), 0.0f);
      std::fill(s2[static_cast<size_t>(j - 1)].begin(), s2[static_cast<size_t>(j - 1)].end(), 0.0f);
      mask >>= 1;
    }
  }
  for (int64_t i = 1; i < depth; ++i) {
    // stack level i merged into level 0
    const std::vector<float> a1 = s1[static_cast<size_t>(i)], a2 = s2[static_cast<size_t>(i)];
    merge_vec(s0[static_cast<size_t>(i)], a1, a2, 0);
  }
  // Scalar tail, then the lanes, in bf16.
  int64_t cnt = 0;
  float M1 = 0.0f, M2 = 0.0f;
  for (int64_t i = n * lanes; i < N; ++i) {
    const float delta = bf(X[i] - M1);
    ++cnt;
    M1 = bf(M1 + bf(delta / bf(static_cast<float>(cnt))));
    M2 = bf(M2 + bf(delta * bf(X[i] - M1)));
  }
  for (int L = 0; L < lanes; ++L)
    add_moments(n, s1[0][static_cast<size_t>(L)], s2[0][static_cast<size_t>(L)], cnt, M1, M2);
  mean = M1;
  var = bf(M2 / bf(static_cast<float>(N)));
}

}  // namespace

void torch_bf16_layer_norm(const float* x, const float* g, const float* b, int n, float* y,
                           int lanes) {
  float mean = 0.0f, var = 0.0f;
  rowwise_moments(x, n, lanes, mean, var);
  const float eps = bf(1e-5f);                            // static_cast<BFloat16>(eps)
  // T(1) / std::sqrt(var + eps) with T = BFloat16: c10's std::sqrt overload for
  // BFloat16 returns a BFloat16, so the sum, the root and the quotient all round.
  const float rstd = bf(1.0f / bf(std::sqrt(bf(var + eps))));
  const float bias = bf(-rstd * mean);                     // BFloat16 product
  for (int i = 0; i < n; ++i) {
    // Float math, separate multiply and add as in torch's vector code (no FMA).
    volatile float t = x[i] * rstd;
    volatile float u = t + bias;
    volatile float w = u * g[i];
    y[i] = bf(w + b[i]);
  }
}

}  // namespace rwkv
