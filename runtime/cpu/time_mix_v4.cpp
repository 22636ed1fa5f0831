// runtime/cpu/time_mix_v4.cpp: RWKV-4 TimeMix (docs/rwkv-math.md section 3.3, 3.5).
// The WKV keeps pip's max-exponent form: state (aa, bb, pp) per channel with
// aa*e^pp and bb*e^pp the decayed sums of e^k v and e^k.
#include <algorithm>
#include <cmath>

#include "runtime/cpu/cpu_layers.h"

namespace rwkv {
namespace cpu {

void time_mix_v4(const LayerCtx& c, const float* a, const float* prev, float* out) {
  const LayerWeights& L = c.lw;
  const size_t M = c.rows.M, C = static_cast<size_t>(c.w.C), A = static_cast<size_t>(c.w.A);
  std::vector<float> xk(M * C), xv(M * C), xr(M * C);
  for (size_t m = 0; m < M; ++m)
    for (size_t i = 0; i < C; ++i) {
      const size_t j = m * C + i;
      xk[j] = a[j] * L.mix_k[i] + prev[j] * (1.0f - L.mix_k[i]);
      xv[j] = a[j] * L.mix_v[i] + prev[j] * (1.0f - L.mix_v[i]);
      xr[j] = a[j] * L.mix_r[i] + prev[j] * (1.0f - L.mix_r[i]);
    }
  std::vector<float> k(M * A), v(M * A), r(M * A), y(M * A);
  c.linear(L.att_k, xk.data(), C, M, k.data(), A);
  c.linear(L.att_v, xv.data(), C, M, v.data(), A);
  c.linear(L.att_r, xr.data(), C, M, r.data(), A);

  // WKV, sequential over each sequence's tokens, parallel over (sequence, channel block).
  const size_t S = c.rows.n_seq();
  const size_t block = 64;
  const size_t n_blocks = (A + block - 1) / block;
  auto unit = [&](size_t job) {
    const size_t s = job / n_blocks, c0 = (job % n_blocks) * block, c1 = std::min(A, c0 + block);
    float* st = c.rows.state[s];
    wkv4_channels(A, c.rows.begin[s], c.rows.begin[s + 1], c0, c1, k.data(), v.data(), L.decay.data(),
                  L.bonus.data(), st + c.st.aa, st + c.st.bb, st + c.st.pp, y.data());
  };
  if (M * A < (size_t(1) << 14)) {
    for (size_t j = 0; j < S * n_blocks; ++j) unit(j);
  } else {
    c.pool.run(S * n_blocks, unit);
  }

  for (size_t j = 0; j < M * A; ++j) y[j] *= sigmoidf(r[j]);  // r = sigmoid(Wr xr)
  c.linear(L.att_o, y.data(), A, M, out, C);
}

void wkv4_channels(size_t A, size_t r0, size_t r1, size_t c0, size_t c1, const float* k, const float* v,
                   const float* w, const float* u, float* aa, float* bb, float* pp, float* y) {
  for (size_t t = r0; t < r1; ++t)
    for (size_t ch = c0; ch < c1; ++ch) {
      const float kk = k[t * A + ch], vv = v[t * A + ch];
      float ww = u[ch] + kk;  // u + k
      float p = std::max(pp[ch], ww);
      float e1 = std::exp(pp[ch] - p), e2 = std::exp(ww - p);
      y[t * A + ch] = (e1 * aa[ch] + e2 * vv) / (e1 * bb[ch] + e2);
      ww = w[ch] + pp[ch];  // w + pp, w = -exp(time_decay)
      p = std::max(ww, kk);
      e1 = std::exp(ww - p);
      e2 = std::exp(kk - p);
      aa[ch] = e1 * aa[ch] + e2 * vv;
      bb[ch] = e1 * bb[ch] + e2;
      pp[ch] = p;
    }
}

}  // namespace cpu
}  // namespace rwkv
