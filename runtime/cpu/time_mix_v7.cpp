// runtime/cpu/time_mix_v7.cpp: RWKV-7 TimeMix (docs/rwkv-math.md section 6.3, 6.5): LoRA
// projections, the "replacement" key, the value residual, and the generalized
// delta rule with the state laid out [head][value][key], read out AFTER the
// update. pip's RNN path constant 0.606531 is used for e^-0.5 in the decay.
#include <algorithm>
#include <cmath>

#include "runtime/cpu/cpu_layers.h"
#include "runtime/cpu/wkv_kernels.h"

namespace rwkv {
namespace cpu {

void time_mix_v7(const LayerCtx& c, const float* a, const float* prev, float* v_first, float* out) {
  const LayerWeights& L = c.lw;
  const size_t M = c.rows.M, C = static_cast<size_t>(c.w.C), A = static_cast<size_t>(c.w.A);
  const int H = c.w.H, N = c.w.N;

  // x_z = a + (prev - a) * x_z_param
  std::vector<float> xr(M * C), xw(M * C), xk(M * C), xv(M * C), xa(M * C), xg(M * C);
  for (size_t j = 0; j < M * C; ++j) {
    const size_t i = j % C;
    const float d = prev[j] - a[j];
    xr[j] = a[j] + d * L.x_r[i];
    xw[j] = a[j] + d * L.x_w[i];
    xk[j] = a[j] + d * L.x_k[i];
    xv[j] = a[j] + d * L.x_v[i];
    xa[j] = a[j] + d * L.x_a[i];
    xg[j] = a[j] + d * L.x_g[i];
  }
  std::vector<float> r(M * A), k(M * A), v(M * A), w(M * A), alpha(M * A), g(M * A);
  c.linear_group({{L.att_r, xr.data(), C, r.data(), A},
                  {L.att_k, xk.data(), C, k.data(), A},
                  {L.att_v, xv.data(), C, v.data(), A}});

  // The two-matrix LoRAs out = f(x @ m1) @ m2 for w (f = tanh), alpha (none), g
  // (f = sigmoid) and, after layer 0, the value residual's mix (none): the first
  // products in one hand-off, f on each thread's rows, then the second ones.
  const size_t Dw = static_cast<size_t>(L.w1.out), Da = static_cast<size_t>(L.a1.out),
               Dg = static_cast<size_t>(L.g1.out), Dv = L.has_v_mix ? static_cast<size_t>(L.v1.out) : 0;
  std::vector<float> tw(M * Dw), ta(M * Da), tg(M * Dg), tv(M * Dv), v_mix(L.has_v_mix ? M * A : 0);
  auto tanh_rows = [&](int r0, int r1) {
    map_columns(tw.data(), M, Dw, r0, r1, [](float z) { return std::tanh(z); });
  };
  auto sigmoid_rows = [&](int r0, int r1) { map_columns(tg.data(), M, Dg, r0, r1, sigmoidf); };
  const Product first[] = {{L.w1, xw.data(), C, tw.data(), Dw, tanh_rows},
                           {L.a1, xa.data(), C, ta.data(), Da},
                           {L.g1, xg.data(), C, tg.data(), Dg, sigmoid_rows},
                           {L.v1, xv.data(), C, tv.data(), Dv}};
  const Product second[] = {{L.w2, tw.data(), Dw, w.data(), A},
                            {L.a2, ta.data(), Da, alpha.data(), A},
                            {L.g2, tg.data(), Dg, g.data(), A},
                            {L.v2, tv.data(), Dv, v_mix.data(), A}};
  const size_t n_lora = L.has_v_mix ? 4 : 3;  // the value residual's LoRA (last) after layer 0
  c.linear_group(first, n_lora);
  c.linear_group(second, n_lora);

  std::vector<float> kk(M * A);
  wkv7_prepare(M, H, N, L.a0.data(), L.k_k.data(), L.k_a.data(), L.w0.data(), k.data(), w.data(),
               alpha.data(), kk.data());

  // Value residual (docs/rwkv-math.md section 6.3): layer 0 defines v_first, later layers mix towards it.
  if (!L.has_v_mix) {
    std::copy(v.begin(), v.end(), v_first);
  } else {
    wkv7_value_residual(M, A, L.v0.data(), v_mix.data(), v_first, v.data());
  }

  // WKV per (sequence, head).
  std::vector<float> y(M * A);
  const size_t S = c.rows.n_seq(), NN = static_cast<size_t>(N) * static_cast<size_t>(N);
  const bool vector_heads = wkv7_head_vector_supported(N);
  auto unit = [&](size_t job) {
    const size_t s = job / static_cast<size_t>(H);
    const int h = static_cast<int>(job % static_cast<size_t>(H));
    float* Sh = c.rows.state[s] + c.st.kv + static_cast<size_t>(h) * NN;
    // The same recurrence in vectors where the CPU has them (wkv_kernels.h).
    const auto head = vector_heads ? wkv7_head_avx512 : wkv7_head;
    head(N, A, c.rows.begin[s], c.rows.begin[s + 1], h, r.data(), w.data(), k.data(), v.data(), kk.data(),
         alpha.data(), Sh, y.data());
  };
  if (M * A * static_cast<size_t>(N) < (size_t(1) << 15)) {
    for (size_t j = 0; j < S * static_cast<size_t>(H); ++j) unit(j);
  } else {
    c.pool.run(S * static_cast<size_t>(H), unit);
  }

  std::vector<float> o(M * A);
  wkv7_output(M, H, N, y.data(), r.data(), k.data(), v.data(), L.r_k.data(), L.ln_x_w.data(),
              L.ln_x_b.data(), g.data(), o.data());
  c.linear(L.att_o, o.data(), A, M, out, C);
}

void wkv7_prepare(size_t M, int H, int N, const float* a0, const float* k_k, const float* k_a,
                  const float* w0, float* k, float* w, float* alpha, float* kk) {
  const size_t A = static_cast<size_t>(H) * static_cast<size_t>(N);
  for (size_t j = 0; j < M * A; ++j) {
    const size_t i = j % A;
    alpha[j] = sigmoidf(a0[i] + alpha[j]);
    kk[j] = k[j] * k_k[i];
    k[j] = k[j] * (1.0f + (alpha[j] - 1.0f) * k_a[i]);   // replacement key
    w[j] = std::exp(-0.606531f * sigmoidf(w0[i] + w[j])); // decay in (0.545, 1)
  }
  // kk = per-head normalize(k * k_k), eps 1e-12 (F.normalize).
  for (size_t m = 0; m < M; ++m)
    for (int h = 0; h < H; ++h) {
      float* p = kk + m * A + static_cast<size_t>(h) * N;
      double ss = 0.0;
      for (int i = 0; i < N; ++i) ss += static_cast<double>(p[i]) * p[i];
      const float norm = std::max(static_cast<float>(std::sqrt(ss)), 1e-12f);
      for (int i = 0; i < N; ++i) p[i] /= norm;
    }
}

void wkv7_value_residual(size_t M, size_t A, const float* v0, const float* v_lora, const float* v_first,
                         float* v) {
  for (size_t j = 0; j < M * A; ++j) v[j] = v[j] + (v_first[j] - v[j]) * sigmoidf(v0[j % A] + v_lora[j]);
}

// S[i][j] with i = value index, j = key index:
//   sa_i = sum_j S[i][j] * (-kk_j)
//   S[i][j] = S[i][j] * w_j + sa_i * (kk_j * alpha_j) + v_i * k_j
//   y_i = sum_j S[i][j] * r_j
void wkv7_head(int N, size_t A, size_t r0, size_t r1, int h, const float* r, const float* w,
               const float* k, const float* v, const float* kk, const float* alpha, float* S, float* y) {
  const size_t o = static_cast<size_t>(h) * static_cast<size_t>(N);
  std::vector<float> b(static_cast<size_t>(N));
  for (size_t t = r0; t < r1; ++t) {
    const float* rt = r + t * A + o;
    const float* kt = k + t * A + o;
    const float* vt = v + t * A + o;
    const float* wt = w + t * A + o;
    const float* kkt = kk + t * A + o;
    const float* at = alpha + t * A + o;
    for (int j = 0; j < N; ++j) b[static_cast<size_t>(j)] = kkt[j] * at[j];
    float* yt = y + t * A + o;
    for (int i = 0; i < N; ++i) {
      float* Si = S + static_cast<size_t>(i) * N;
      float sa = 0.0f;
      for (int j = 0; j < N; ++j) sa += Si[j] * -kkt[j];
      float acc = 0.0f;
      for (int j = 0; j < N; ++j) {
        Si[j] = Si[j] * wt[j] + sa * b[static_cast<size_t>(j)] + vt[i] * kt[j];
        acc += Si[j] * rt[j];
      }
      yt[i] = acc;
    }
  }
}

void wkv7_output(size_t M, int H, int N, const float* y, const float* r, const float* k, const float* v,
                 const float* r_k, const float* ln_w, const float* ln_b, const float* g, float* o) {
  const size_t A = static_cast<size_t>(H) * static_cast<size_t>(N);
  for (size_t m = 0; m < M; ++m) {
    const size_t row = m * A;
    group_norm_row(y + row, H, N, ln_w, ln_b, 64e-5f, o + row);
    for (int h = 0; h < H; ++h) {
      const size_t hb = row + static_cast<size_t>(h) * N;
      float dot = 0.0f;
      for (int j = 0; j < N; ++j) dot += r[hb + j] * k[hb + j] * r_k[static_cast<size_t>(h) * N + j];
      for (int i = 0; i < N; ++i) o[hb + i] += dot * v[hb + i];
    }
    for (size_t j = 0; j < A; ++j) o[row + j] *= g[row + j];
  }
}

}  // namespace cpu
}  // namespace rwkv
