// runtime/cpu/cpu_layers_common.cpp: token shift, ChannelMix (all versions) and
// the v5/v6 WKV head loop shared by time_mix_v5.cpp and time_mix_v6.cpp.
#include <cstring>

#include "runtime/arch/arch.h"
#include "runtime/cpu/cpu_layers.h"

namespace rwkv {
namespace cpu {

void token_shift(const LayerCtx& c, const float* x, int width, size_t state_offset, float* prev) {
  const size_t W = static_cast<size_t>(width);
  for (size_t s = 0; s < c.rows.n_seq(); ++s) {
    const size_t b = c.rows.begin[s], e = c.rows.begin[s + 1];
    float* sx = c.rows.state[s] + state_offset;
    std::memcpy(prev + b * W, sx, W * sizeof(float));
    if (e - b > 1) std::memcpy(prev + (b + 1) * W, x + b * W, (e - b - 1) * W * sizeof(float));
    std::memcpy(sx, x + (e - 1) * W, W * sizeof(float));
  }
}

void channel_mix(const LayerCtx& c, const float* f, const float* prev, float* out) {
  const LayerWeights& L = c.lw;
  const size_t M = c.rows.M, C = static_cast<size_t>(c.w.C), F = static_cast<size_t>(c.w.F);
  const bool v4_lerp = !arch_spec(c.w.arch).mixes_toward_previous();
  const bool has_r = arch_spec(c.w.arch).has_ffn_receptance();
  std::vector<float> xk(M * C), xr(has_r ? M * C : 0);
  if (v4_lerp) {  // mu weights the current token (docs/rwkv-math.md section 3.4)
    for (size_t m = 0; m < M; ++m)
      for (size_t i = 0; i < C; ++i) {
        const size_t j = m * C + i;
        xk[j] = f[j] * L.ffn_mix_k[i] + prev[j] * (1.0f - L.ffn_mix_k[i]);
        xr[j] = f[j] * L.ffn_mix_r[i] + prev[j] * (1.0f - L.ffn_mix_r[i]);
      }
  } else {  // mu weights the previous token (docs/rwkv-math.md section 5.3, 6.4)
    for (size_t m = 0; m < M; ++m)
      for (size_t i = 0; i < C; ++i) {
        const size_t j = m * C + i;
        xk[j] = f[j] + (prev[j] - f[j]) * L.ffn_mix_k[i];
        if (has_r) xr[j] = f[j] + (prev[j] - f[j]) * L.ffn_mix_r[i];
      }
  }
  // k = relu(Wk xk)^2 on each thread's rows as it computes them; r = Wr xr
  // in the same hand-off; then out = Wv k, gated by sigmoid(r) row by row.
  std::vector<float> k(M * F), r(has_r ? M * C : 0);
  auto square_relu = [&](int r0, int r1) { map_columns(k.data(), M, F, r0, r1, relu_sq); };
  auto gate = [&](int r0, int r1) { gate_columns(out, r.data(), M, C, r0, r1); };
  if (has_r) {
    c.linear_group({{L.ffn_k, xk.data(), C, k.data(), F, square_relu}, {L.ffn_r, xr.data(), C, r.data(), C}});
    c.linear_group({{L.ffn_v, k.data(), F, out, C, gate}});
  } else {
    c.linear_group({{L.ffn_k, xk.data(), C, k.data(), F, square_relu}});
    c.linear(L.ffn_v, k.data(), F, M, out, C);
  }
}

void wkv5_head(int N, size_t A, size_t r0, size_t r1, int h, const float* r, const float* k,
               const float* v, const float* w_rows, const float* w_fixed, const float* u,
               float* S, float* y) {
  const size_t o = static_cast<size_t>(h) * static_cast<size_t>(N);
  const float* uh = u + o;
  for (size_t t = r0; t < r1; ++t) {
    const float* rt = r + t * A + o;
    const float* kt = k + t * A + o;
    const float* vt = v + t * A + o;
    const float* wt = (w_rows ? w_rows + t * A : w_fixed) + o;
    float* yt = y + t * A + o;
    for (int j = 0; j < N; ++j) yt[j] = 0.0f;
    for (int i = 0; i < N; ++i) {  // i: key index (rows of S), j: value index
      float* Si = S + static_cast<size_t>(i) * N;
      const float ri = rt[i], ki = kt[i], ui = uh[i], wi = wt[i];
      for (int j = 0; j < N; ++j) {
        const float kv = ki * vt[j];
        yt[j] += ri * (ui * kv + Si[j]);  // output uses the old state
        Si[j] = wi * Si[j] + kv;          // then the update
      }
    }
  }
}

}  // namespace cpu
}  // namespace rwkv
