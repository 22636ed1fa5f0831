// runtime/arch/v4.cpp: RWKV-4 (docs/rwkv-math.md section 3). Attention width
// A (= C in every release), no heads; the state carries the WKV numerator,
// denominator and running maximum exponent per channel.
#include <cmath>

#include "runtime/arch/arch_common.h"

namespace rwkv {

namespace {

using namespace arch_common;

double inv_decay(double x) { return std::log(-x); }
bool valid_decay(double x) { return x <= 0; }  // -exp(w) (0 and -inf: w = -inf / +inf)
const GgmlInverse kDecayInverse{inv_decay, valid_decay, "-exp(time_decay)"};

class V4 final : public ArchSpec {
 public:
  V4() : ArchSpec(Arch::v4) {}

  void detect_hyper_parameters(const TensorProbe&, ModelInfo& in) const override {
    in.n_head = in.head_size = 0;
  }

  void layer_tensors(const ModelInfo& in, int l, const Model*, std::vector<TensorSpec>& out) const override {
    const std::string b = "blocks." + std::to_string(l) + ".", att = b + "att.";
    for (const char* n : {"time_mix_k", "time_mix_v", "time_mix_r"}) out.push_back({att + n, mix_shape(in)});
    out.push_back({att + "time_decay", {in.n_att}});
    out.push_back({att + "time_first", {in.n_att}});
    add_projections(in, att, out);
    add_channel_mix(in, b + "ffn.", {"time_mix_k", "time_mix_r"}, true, out);
  }

  std::vector<StatePiece> layer_state(const ModelInfo& in) const override {
    const int64_t C = in.n_embd, A = in.n_att > 0 ? in.n_att : C;
    return {{StateSlot::att_x, "att.x_prev", {C}},
            {StateSlot::aa, "att.aa", {A}},
            {StateSlot::bb, "att.bb", {A}},
            {StateSlot::pp, "att.pp", {A}, -1e30f},  // "minus infinity" (section 3.2)
            {StateSlot::ffn_x, "ffn.x_prev", {C}}};
  }

  void load_layer(const WeightReader& r, int l, LayerWeights& L) const override {
    const std::string p = "blocks." + std::to_string(l) + ".";
    const int C = r.dims().C, A = r.dims().A;
    L.mix_k = r.vec(p + "att.time_mix_k", C);
    L.mix_v = r.vec(p + "att.time_mix_v", C);
    L.mix_r = r.vec(p + "att.time_mix_r", C);
    L.decay = r.vec(p + "att.time_decay", A);
    for (float& d : L.decay) d = -std::exp(d);  // section 3.1
    L.bonus = r.vec(p + "att.time_first", A);    // log-space, kept raw
    load_channel_mix(r, p + "ffn.", "time_mix_k", "time_mix_r", L);
  }

  const std::vector<GgmlRule>& ggml_rules() const override {
    static const std::vector<GgmlRule> rules = [] {
      std::vector<GgmlRule> r = time_mix_rules();
      r.push_back({".att.time_decay", GgmlShape::flat, &kDecayInverse});
      return r;
    }();
    return rules;
  }

  std::vector<ReleasedSize> released_sizes() const override {
    return {{"169M", 768, 12}, {"430M", 1024, 24}, {"1.5B", 2048, 24},
            {"3B", 2560, 32},  {"7B", 4096, 32},   {"14B", 5120, 40}};
  }
  void released_hyper_parameters(ModelInfo& in) const override {
    in.n_vocab = 50277;  // the Pile tokenizer
    in.n_ffn = 4 * in.n_embd;
    in.n_att = in.n_embd;
  }
};

}  // namespace

const ArchSpec& arch_spec_v4() {
  static const V4 spec;
  return spec;
}

}  // namespace rwkv
