// runtime/cpu/cpu_backend.cpp: the forward pass skeleton (docs/rwkv-math.md section 1.1):
// embedding (ln0 folded) -> per layer: LN1, TimeMix, residual, LN2, ChannelMix,
// residual -> LN_out -> head, for all tokens of all sequences of a batch.
#include "runtime/cpu/cpu_backend.h"

#include <cblas.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <thread>

#include "runtime/arch/arch.h"
#include "runtime/cpu/cpu_layers.h"

namespace rwkv {

namespace {

WeightFormat held_format(const CpuOptions& options) {
  WeightFormat f = options.weights;
  if (options.huge_pages && !f.arena) f.arena = std::make_shared<HugePageArena>();
  return f;
}

}  // namespace

CpuBackend::CpuBackend(const Model& model, CpuOptions options)
    : info_(model.info), layout_(model.info), initial_state_(initial_state(model, layout_)),
      w_(cpu::load_cpu_weights(model, held_format(options))) {
  int n = options.n_threads;
  if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // Our pool splits the work; each BLAS call runs on the thread that makes it.
  openblas_set_num_threads(1);
  pool_ = std::make_unique<cpu::ThreadPool>(n);
  products_.int8_rounded_inputs = options.int8_rounded_inputs;
}

CpuBackend::~CpuBackend() = default;

void CpuBackend::init_state(float* state) const {
  std::memcpy(state, initial_state_.data(), initial_state_.size() * sizeof(float));
}

void CpuBackend::forward(const Batch& batch, float* logits) {
  std::lock_guard<std::mutex> lock(forward_mu_);
  validate_batch(batch, info_, layout_, logits == nullptr);
  const size_t C = static_cast<size_t>(w_.C), A = static_cast<size_t>(w_.A);
  const size_t V = static_cast<size_t>(w_.V);
  cpu::ThreadPool& pool = *pool_;

  cpu::BatchRows rows;
  rows.begin.push_back(0);
  for (const SeqInput& s : batch.seqs) {
    rows.M += s.n_tokens;
    rows.begin.push_back(rows.M);
    rows.state.push_back(s.state);
  }
  const size_t M = rows.M;

  // Residual stream x [M, C]: rows of the ln0-folded embedding.
  std::vector<float> x(M * C);
  {
    size_t m = 0;
    for (const SeqInput& s : batch.seqs)
      for (size_t t = 0; t < s.n_tokens; ++t, ++m)
        std::memcpy(&x[m * C], &w_.emb[static_cast<size_t>(s.tokens[t]) * C], C * sizeof(float));
  }

  std::vector<float> ln(M * C), prev(M * C), out(M * C);
  std::vector<float> v_first(arch_spec(w_.arch).has_value_residual() ? M * A : 0);
  for (int l = 0; l < w_.L; ++l) {
    const cpu::LayerWeights& lw = w_.layers[static_cast<size_t>(l)];
    const cpu::LayerCtx ctx{pool, w_, lw, layout_.layer(l), rows, products_};

    cpu::layer_norm_rows(pool, x.data(), M, w_.C, lw.ln1_w.data(), lw.ln1_b.data(), ln.data());
    cpu::token_shift(ctx, ln.data(), w_.C, ctx.st.att_x, prev.data());
    switch (w_.arch) {
      case Arch::v4: cpu::time_mix_v4(ctx, ln.data(), prev.data(), out.data()); break;
      case Arch::v5_0:
      case Arch::v5_1:
      case Arch::v5_2: cpu::time_mix_v5(ctx, ln.data(), prev.data(), out.data()); break;
      case Arch::v6: cpu::time_mix_v6(ctx, ln.data(), prev.data(), out.data()); break;
      case Arch::v7: cpu::time_mix_v7(ctx, ln.data(), prev.data(), v_first.data(), out.data()); break;
    }
    for (size_t j = 0; j < M * C; ++j) x[j] += out[j];

    cpu::layer_norm_rows(pool, x.data(), M, w_.C, lw.ln2_w.data(), lw.ln2_b.data(), ln.data());
    cpu::token_shift(ctx, ln.data(), w_.C, ctx.st.ffn_x, prev.data());
    cpu::channel_mix(ctx, ln.data(), prev.data(), out.data());
    for (size_t j = 0; j < M * C; ++j) x[j] += out[j];
  }

  if (batch.logits == LogitsMode::none) return;
  // Rows that need logits: every row, or each sequence's last row.
  std::vector<size_t> pick;
  if (batch.logits == LogitsMode::all) {
    pick.resize(M);
    for (size_t m = 0; m < M; ++m) pick[m] = m;
  } else {
    for (size_t s = 0; s < rows.n_seq(); ++s) pick.push_back(rows.begin[s + 1] - 1);
  }
  std::vector<float> xo(pick.size() * C);
  for (size_t i = 0; i < pick.size(); ++i)
    cpu::layer_norm_row(&x[pick[i] * C], w_.ln_out_w.data(), w_.ln_out_b.data(), w_.C,
                        &xo[i * C]);
  cpu::linear(pool, w_.head, xo.data(), C, pick.size(), logits, V, products_);
}

}  // namespace rwkv
