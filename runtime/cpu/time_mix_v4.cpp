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
  // Once the thread that computed channels [c0, c1) of k, v and r has them:
  // their WKV, sequential over each sequence's tokens, then the gate
  // y *= sigmoid(r) (r = Wr xr), fused into the projections' pass.
  auto wkv_gate = [&](int c0, int c1) {
    for (size_t s = 0; s < c.rows.n_seq(); ++s) {
      float* st = c.rows.state[s];
      wkv4_channels(A, c.rows.begin[s], c.rows.begin[s + 1], size_t(c0), size_t(c1), k.data(), v.data(),
                    L.decay.data(), L.bonus.data(), st + c.st.aa, st + c.st.bb, st + c.st.pp, y.data());
    }
    gate_columns(y.data(), r.data(), M, A, c0, c1);
  };
  c.linear_group({{L.att_k, xk.data(), C, k.data(), A},
                  {L.att_v, xv.data(), C, v.data(), A},
                  {L.att_r, xr.data(), C, r.data(), A, wkv_gate}});
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
