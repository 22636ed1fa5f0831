// runtime/cpu/time_mix_v5.cpp: RWKV-5.0 / 5.1 / 5.2 TimeMix (docs/rwkv-math.md section 4.4,
// 4.6). Sequence mode runs the same per-token recurrence as RNN mode (pip's
// 5.2 path; pip's 5.0/5.1 closed T x T form is the same math).
#include "runtime/arch/arch.h"
#include "runtime/cpu/cpu_layers.h"
#include "runtime/cpu/wkv_kernels.h"

namespace rwkv {
namespace cpu {

void time_mix_v5(const LayerCtx& c, const float* a, const float* prev, float* out) {
  const LayerWeights& L = c.lw;
  const size_t M = c.rows.M, C = static_cast<size_t>(c.w.C), A = static_cast<size_t>(c.w.A);
  const int H = c.w.H, N = c.w.N;
  const bool gated = arch_spec(c.w.arch).has_gate_matrix();
  std::vector<float> xk(M * C), xv(M * C), xr(M * C), xg(gated ? M * C : 0);
  for (size_t m = 0; m < M; ++m)
    for (size_t i = 0; i < C; ++i) {
      const size_t j = m * C + i;
      xk[j] = a[j] * L.mix_k[i] + prev[j] * (1.0f - L.mix_k[i]);
      xv[j] = a[j] * L.mix_v[i] + prev[j] * (1.0f - L.mix_v[i]);
      xr[j] = a[j] * L.mix_r[i] + prev[j] * (1.0f - L.mix_r[i]);
      if (gated) xg[j] = a[j] * L.mix_g[i] + prev[j] * (1.0f - L.mix_g[i]);
    }
  std::vector<float> r(M * A), k(M * A), v(M * A), y(M * A), g(gated ? M * A : 0);
  // r, k, v (and g, with its silu on each thread's rows) in one hand-off; no sigmoid on r in v5+.
  const Product products[] = {{L.att_r, xr.data(), C, r.data(), A},
                              {L.att_k, xk.data(), C, k.data(), A},
                              {L.att_v, xv.data(), C, v.data(), A},
                              {L.att_g, xg.data(), C, g.data(), A,
                               [&](int r0, int r1) { map_columns(g.data(), M, A, r0, r1, siluf); }}};
  c.linear_group(products, gated ? 4 : 3);

  const size_t S = c.rows.n_seq(), NN = static_cast<size_t>(N) * static_cast<size_t>(N);
  const bool vector_heads = wkv5_head_vector_supported(N);
  auto unit = [&](size_t job) {
    const size_t s = job / static_cast<size_t>(H);
    const int h = static_cast<int>(job % static_cast<size_t>(H));
    float* Sh = c.rows.state[s] + c.st.kv + static_cast<size_t>(h) * NN;
    // The same recurrence in vectors where the CPU has them (wkv_kernels.h).
    const auto head = vector_heads ? wkv5_head_avx512 : wkv5_head;
    head(N, A, c.rows.begin[s], c.rows.begin[s + 1], h, r.data(), k.data(), v.data(),
         nullptr, L.decay.data(), L.bonus.data(), Sh, y.data());
  };
  if (M * A * static_cast<size_t>(N) < (size_t(1) << 15)) {
    for (size_t j = 0; j < S * static_cast<size_t>(H); ++j) unit(j);
  } else {
    c.pool.run(S * static_cast<size_t>(H), unit);
  }

  // GroupNorm per head, eps 64e-5 (docs/rwkv-math.md section 1), then the gate.
  std::vector<float> o(M * A);
  for (size_t m = 0; m < M; ++m)
    group_norm_row(y.data() + m * A, H, N, L.ln_x_w.data(), L.ln_x_b.data(), 64e-5f,
                   o.data() + m * A);
  if (gated)
    for (size_t j = 0; j < M * A; ++j) o[j] *= g[j];
  c.linear(L.att_o, o.data(), A, M, out, C);
}

}  // namespace cpu
}  // namespace rwkv
