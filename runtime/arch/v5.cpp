// runtime/arch/v5.cpp: RWKV-5.0, 5.1 and 5.2 (docs/rwkv-math.md section 4).
// Heads of size N with an [N,N] state matrix each; 5.1 adds the gate
// (time_mix_g, gate.weight); 5.2 has a decay and bonus per channel [H,N]
// instead of per head ([H], or [H,1]).
#include <cmath>

#include "runtime/arch/arch_common.h"

namespace rwkv {

namespace {

using namespace arch_common;

double inv_decay(double x) { return std::log(-std::log(x)); }
bool valid_decay(double x) { return x >= 0 && x <= 1; }  // exp(-exp(w))
double inv_exp(double x) { return std::log(x); }
bool valid_exp(double x) { return x >= 0; }  // exp(u)
const GgmlInverse kDecayInverse{inv_decay, valid_decay, "exp(-exp(time_decay))"};
const GgmlInverse kFirstInverse{inv_exp, valid_exp, "exp(time_first)"};

class V5 final : public ArchSpec {
 public:
  explicit V5(Arch sub) : ArchSpec(sub) {}

  void detect_hyper_parameters(const TensorProbe& p, ModelInfo& in) const override {
    // time_decay is [H] / [H,1] (5.0, 5.1) or [H,N] (5.2)
    const Tensor& decay = p.need("blocks.0.att.time_decay");
    in.n_head = p.to_int(decay.shape.empty() ? 0 : decay.shape[0], "n_head");
    if (in.n_att % in.n_head)
      p.fail("attention width " + std::to_string(in.n_att) + " is not a multiple of n_head " +
             std::to_string(in.n_head));
    in.head_size = in.n_att / in.n_head;
  }

  void layer_tensors(const ModelInfo& in, int l, const Model* model, std::vector<TensorSpec>& out) const override {
    const std::string b = "blocks." + std::to_string(l) + ".", att = b + "att.";
    const int64_t H = in.n_head, N = in.head_size, A = in.n_att, C = in.n_embd;
    const bool gated = arch() != Arch::v5_0;
    for (const char* n : {"time_mix_k", "time_mix_v", "time_mix_r"}) out.push_back({att + n, mix_shape(in)});
    if (gated) out.push_back({att + "time_mix_g", mix_shape(in)});
    // decay per head ([H], or [H,1]) for 5.0/5.1, per channel [H,N] for 5.2;
    // the bonus (time_first in log space, or time_faaaa raw) has the same shape.
    Shape decay{H};
    const Tensor* td = model ? model->find(att + "time_decay") : nullptr;
    if (arch() == Arch::v5_2) decay = {H, N};
    else if (td && td->shape.size() == 2) decay = {H, 1};
    const bool faaaa = !model || model->find(att + "time_faaaa") != nullptr;
    out.push_back({att + "time_decay", decay});
    out.push_back({att + (faaaa ? "time_faaaa" : "time_first"), decay});
    if (gated) out.push_back({att + "gate.weight", {A, C}});
    out.push_back({att + "ln_x.weight", {A}});
    out.push_back({att + "ln_x.bias", {A}});
    add_projections(in, att, out);
    add_channel_mix(in, b + "ffn.", {"time_mix_k", "time_mix_r"}, true, out);
  }

  std::vector<StatePiece> layer_state(const ModelInfo& in) const override { return matrix_state(in); }

  void load_layer(const WeightReader& r, int l, LayerWeights& L) const override {
    const std::string p = "blocks." + std::to_string(l) + ".";
    const int C = r.dims().C, A = r.dims().A;
    L.mix_k = r.vec(p + "att.time_mix_k", C);
    L.mix_v = r.vec(p + "att.time_mix_v", C);
    L.mix_r = r.vec(p + "att.time_mix_r", C);
    L.decay = r.per_channel(p + "att.time_decay");
    for (float& d : L.decay) d = std::exp(-std::exp(d));  // section 4.2
    L.bonus = r.bonus(p);
    if (arch() != Arch::v5_0) {
      L.mix_g = r.vec(p + "att.time_mix_g", C);
      L.att_g = r.linear(p + "att.gate.weight", A, C);
    }
    L.ln_x_w = r.vec(p + "att.ln_x.weight", A);
    L.ln_x_b = r.vec(p + "att.ln_x.bias", A);
    load_channel_mix(r, p + "ffn.", "time_mix_k", "time_mix_r", L);
  }

  const std::vector<GgmlRule>& ggml_rules() const override {
    static const std::vector<GgmlRule> rules = [] {
      std::vector<GgmlRule> r = time_mix_rules();
      r.push_back({".att.time_decay", GgmlShape::squeeze, &kDecayInverse});
      r.push_back({".att.time_first", GgmlShape::squeeze, &kFirstInverse});
      r.push_back({".att.time_faaaa", GgmlShape::squeeze});
      return r;
    }();
    return rules;
  }

  std::vector<ReleasedSize> released_sizes() const override {
    if (arch() != Arch::v5_2) return {};
    return {{"0.4B", 1024, 24}, {"1.5B", 2048, 24}, {"3B", 2560, 32}, {"7B", 4096, 32}};
  }
  void released_hyper_parameters(ModelInfo& in) const override {
    if (arch() != Arch::v5_2) ArchSpec::released_hyper_parameters(in);
    in.n_vocab = 65536;  // the World tokenizer
    in.n_ffn = int(3.5 * in.n_embd / 32) * 32;
    in.n_att = in.n_embd;
    in.head_size = 64;
    in.n_head = in.n_embd / 64;
  }
};

}  // namespace

const ArchSpec& arch_spec_v5(Arch sub) {
  static const V5 v5_0(Arch::v5_0), v5_1(Arch::v5_1), v5_2(Arch::v5_2);
  return sub == Arch::v5_0 ? v5_0 : sub == Arch::v5_1 ? v5_1 : v5_2;
}

}  // namespace rwkv
