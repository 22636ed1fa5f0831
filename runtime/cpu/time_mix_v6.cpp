// runtime/cpu/time_mix_v6.cpp: RWKV-6 TimeMix (docs/rwkv-math.md section 5.2, 5.5):
// data-dependent lerp (ddlerp), per-token decay exp(-exp(w)), then the v5 WKV.
#include <cmath>

#include "runtime/cpu/cpu_layers.h"
#include "runtime/cpu/wkv_kernels.h"

namespace rwkv {
namespace cpu {

void time_mix_v6(const LayerCtx& c, const float* a, const float* prev, float* out) {
  const LayerWeights& L = c.lw;
  const size_t M = c.rows.M, C = static_cast<size_t>(c.w.C), A = static_cast<size_t>(c.w.A);
  const int H = c.w.H, N = c.w.N;
  const size_t D = static_cast<size_t>(L.maa_w2[0].in);

  // d = prev - a;  xxx = a + d * maa_x;  m = tanh(xxx @ maa_w1) split into 5 groups of D.
  std::vector<float> d(M * C), xxx(M * C), m(M * 5 * D);
  for (size_t j = 0; j < M * C; ++j) {
    d[j] = prev[j] - a[j];
    xxx[j] = a[j] + d[j] * L.maa_x[j % C];
  }
  c.linear(L.maa_w1, xxx.data(), C, M, m.data(), 5 * D);
  for (float& z : m) z = std::tanh(z);

  // x_z = a + d * (maa_z + m_z @ maa_w2[z]) for z = w, k, v, r, g (in that order).
  const Vec* maa[5] = {&L.maa_w, &L.maa_k, &L.maa_v, &L.maa_r, &L.maa_g};
  std::vector<float> xz[5];
  for (int z = 0; z < 5; ++z) {
    xz[z].resize(M * C);
    c.linear(L.maa_w2[z], m.data() + static_cast<size_t>(z) * D, 5 * D, M, xz[z].data(), C);
    for (size_t j = 0; j < M * C; ++j) xz[z][j] = a[j] + d[j] * ((*maa[z])[j % C] + xz[z][j]);
  }
  const std::vector<float>&xw = xz[0], &xk = xz[1], &xv = xz[2], &xr = xz[3], &xg = xz[4];

  std::vector<float> r(M * A), k(M * A), v(M * A), g(M * A), y(M * A);
  // r, k, v and g (its silu on each thread's rows) in one hand-off.
  auto silu_rows = [&](int r0, int r1) { map_columns(g.data(), M, A, r0, r1, siluf); };
  c.linear_group({{L.att_r, xr.data(), C, r.data(), A},
                  {L.att_k, xk.data(), C, k.data(), A},
                  {L.att_v, xv.data(), C, v.data(), A},
                  {L.att_g, xg.data(), C, g.data(), A, silu_rows}});

  // w = exp(-exp(time_decay + tanh(x_w @ decay_w1) @ decay_w2)), fp32 (docs/rwkv-math.md section 5.2, 5.6).
  const size_t Dd = static_cast<size_t>(L.decay_w1.out);
  std::vector<float> t1(M * Dd), w(M * A);
  auto tanh_rows = [&](int r0, int r1) {
    map_columns(t1.data(), M, Dd, r0, r1, [](float z) { return std::tanh(z); });
  };
  auto decay_rows = [&](int r0, int r1) {
    for (size_t m = 0; m < M; ++m)
      for (size_t i = size_t(r0); i < size_t(r1); ++i) {
        float& z = w[m * A + i];
        z = std::exp(-std::exp(L.decay_base[i] + z));
      }
  };
  c.linear_group({{L.decay_w1, xw.data(), C, t1.data(), Dd, tanh_rows}});
  c.linear_group({{L.decay_w2, t1.data(), Dd, w.data(), A, decay_rows}});

  const size_t S = c.rows.n_seq(), NN = static_cast<size_t>(N) * static_cast<size_t>(N);
  const bool vector_heads = wkv5_head_vector_supported(N);
  auto unit = [&](size_t job) {
    const size_t s = job / static_cast<size_t>(H);
    const int h = static_cast<int>(job % static_cast<size_t>(H));
    float* Sh = c.rows.state[s] + c.st.kv + static_cast<size_t>(h) * NN;
    // The same recurrence in vectors where the CPU has them (wkv_kernels.h).
    const auto head = vector_heads ? wkv5_head_avx512 : wkv5_head;
    head(N, A, c.rows.begin[s], c.rows.begin[s + 1], h, r.data(), k.data(), v.data(),
         w.data(), nullptr, L.bonus.data(), Sh, y.data());
  };
  if (M * A * static_cast<size_t>(N) < (size_t(1) << 15)) {
    for (size_t j = 0; j < S * static_cast<size_t>(H); ++j) unit(j);
  } else {
    c.pool.run(S * static_cast<size_t>(H), unit);
  }

  std::vector<float> o(M * A);
  for (size_t mm = 0; mm < M; ++mm)
    group_norm_row(y.data() + mm * A, H, N, L.ln_x_w.data(), L.ln_x_b.data(), 64e-5f,
                   o.data() + mm * A);
  for (size_t j = 0; j < M * A; ++j) o[j] *= g[j];
  c.linear(L.att_o, o.data(), A, M, out, C);
}

}  // namespace cpu
}  // namespace rwkv
