// runtime/arch/v7.cpp: RWKV-7 (docs/rwkv-math.md section 6). Heads cover
// n_embd (A == C); six mixing vectors x_*, the LoRAs w, a, v, g; layer 0
// defines v_first and has no v0/v1/v2; the FFN has no receptance.
#include <cmath>

#include "runtime/arch/arch_common.h"

namespace rwkv {

namespace {

using namespace arch_common;

class V7 final : public ArchSpec {
 public:
  V7() : ArchSpec(Arch::v7) {}

  void detect_hyper_parameters(const TensorProbe& p, ModelInfo& in) const override {
    const int64_t C = in.n_embd;
    in.n_head = p.to_int(p.dim("blocks.0.att.r_k", 2, 0), "n_head");
    in.head_size = p.to_int(p.dim("blocks.0.att.r_k", 2, 1), "head_size");
    if (int64_t(in.n_head) * in.head_size != C)
      p.fail("r_k " + shape_str(p.need("blocks.0.att.r_k").shape) + " does not cover n_embd " +
             std::to_string(C) + " (v7 needs n_head * head_size == n_embd)");
    if (in.n_att != C) p.fail("v7 attention width must equal n_embd");
    in.lora_w = p.to_int(p.dim("blocks.0.att.w1", 2, 1), "w LoRA width");
    in.lora_a = p.to_int(p.dim("blocks.0.att.a1", 2, 1), "a LoRA width");
    in.lora_g = p.to_int(p.dim("blocks.0.att.g1", 2, 1), "g LoRA width");
    // Layer 0 never uses v0/v1/v2 and may lack them (section 6.1).
    if (in.n_layer > 1) in.lora_v = p.to_int(p.dim("blocks.1.att.v1", 2, 1), "v LoRA width");
    else if (p.has("blocks.0.att.v1")) in.lora_v = p.to_int(p.dim("blocks.0.att.v1", 2, 1), "v LoRA width");
  }

  void layer_tensors(const ModelInfo& in, int l, const Model*, std::vector<TensorSpec>& out) const override {
    const std::string b = "blocks." + std::to_string(l) + ".", att = b + "att.";
    const int64_t C = in.n_embd, H = in.n_head, N = in.head_size;
    for (const char* n : {"x_r", "x_w", "x_k", "x_v", "x_a", "x_g", "w0", "a0", "k_k", "k_a"})
      out.push_back({att + n, mix_shape(in)});
    out.push_back({att + "w1", {C, in.lora_w}});
    out.push_back({att + "w2", {in.lora_w, C}});
    out.push_back({att + "a1", {C, in.lora_a}});
    out.push_back({att + "a2", {in.lora_a, C}});
    const bool v_mix = l > 0;  // layer 0 never uses them (section 6.1)
    out.push_back({att + "v0", mix_shape(in), v_mix});
    out.push_back({att + "v1", {C, in.lora_v}, v_mix});
    out.push_back({att + "v2", {in.lora_v, C}, v_mix});
    out.push_back({att + "g1", {C, in.lora_g}});
    out.push_back({att + "g2", {in.lora_g, C}});
    out.push_back({att + "r_k", {H, N}});
    out.push_back({att + "ln_x.weight", {C}});
    out.push_back({att + "ln_x.bias", {C}});
    add_projections(in, att, out);  // A == C
    add_channel_mix(in, b + "ffn.", {"x_k"}, false, out);
  }

  // att.kv is laid out [head][value][key], transposed against v5/v6 (section 6.2).
  std::vector<StatePiece> layer_state(const ModelInfo& in) const override { return matrix_state(in); }

  void load_layer(const WeightReader& r, int l, LayerWeights& L) const override {
    const std::string p = "blocks." + std::to_string(l) + ".";
    const int C = r.dims().C, A = r.dims().A;
    L.x_r = r.vec(p + "att.x_r", C);
    L.x_w = r.vec(p + "att.x_w", C);
    L.x_k = r.vec(p + "att.x_k", C);
    L.x_v = r.vec(p + "att.x_v", C);
    L.x_a = r.vec(p + "att.x_a", C);
    L.x_g = r.vec(p + "att.x_g", C);
    L.w0 = r.vec(p + "att.w0", A);
    L.a0 = r.vec(p + "att.a0", A);
    L.k_k = r.vec(p + "att.k_k", A);
    L.k_a = r.vec(p + "att.k_a", A);
    L.r_k = r.vec(p + "att.r_k", A);
    r.lora_pair(p + "att.w1", p + "att.w2", L.w1, L.w2);
    r.lora_pair(p + "att.a1", p + "att.a2", L.a1, L.a2);
    r.lora_pair(p + "att.g1", p + "att.g2", L.g1, L.g2);
    // Layer 0 defines v_first and never uses v0/v1/v2 (section 6.1).
    L.has_v_mix = l > 0;
    if (L.has_v_mix) {
      L.v0 = r.vec(p + "att.v0", A);
      r.lora_pair(p + "att.v1", p + "att.v2", L.v1, L.v2);
    }
    L.ln_x_w = r.vec(p + "att.ln_x.weight", A);
    L.ln_x_b = r.vec(p + "att.ln_x.bias", A);
    L.ffn_mix_k = r.vec(p + "ffn.x_k", C);
  }

  bool folds_ln0_in_bf16() const override { return false; }

  const std::vector<GgmlRule>& ggml_rules() const override {
    static const std::vector<GgmlRule> rules = {
        {".att.x_rwkvag", GgmlShape::split, nullptr, {"x_r", "x_w", "x_k", "x_v", "x_a", "x_g"}},
        {".att.w1", GgmlShape::transpose}, {".att.w2", GgmlShape::transpose},
        {".att.a1", GgmlShape::transpose}, {".att.a2", GgmlShape::transpose},
        {".att.v1", GgmlShape::transpose}, {".att.v2", GgmlShape::transpose},
        {".att.g1", GgmlShape::transpose}, {".att.g2", GgmlShape::transpose},
        {".att.w0", GgmlShape::mix},       {".att.a0", GgmlShape::mix},
        {".att.v0", GgmlShape::mix},       {".att.k_k", GgmlShape::mix},
        {".att.k_a", GgmlShape::mix},      {".ffn.x_k", GgmlShape::mix}};
    return rules;
  }

  std::vector<ReleasedSize> released_sizes() const override {
    return {{"0.1B", 768, 12}, {"0.4B", 1024, 24}, {"1.5B", 2048, 24}, {"2.9B", 2560, 32}, {"7.2B", 4096, 32}};
  }

  // The release trainer's LoRA widths: 64/64/32/128 up to C = 1024, above
  // that max(32, round(k*f(C)/32)*32) with 1.8*sqrt(C), 1.8*sqrt(C),
  // 1.3*sqrt(C), 0.6*C^0.8 for w, a, v, g.
  std::vector<LoraWidth> lora_widths(const ModelInfo& in) const override {
    return {{"w", in.lora_w}, {"a", in.lora_a}, {"v", in.lora_v}, {"g", in.lora_g}};
  }
  void released_hyper_parameters(ModelInfo& in) const override {
    const double C = in.n_embd;
    auto width = [](double x) {
      const int w = int(std::lround(x / 32)) * 32;
      return w < 32 ? 32 : w;
    };
    in.n_vocab = 65536;  // the World tokenizer
    in.n_ffn = 4 * in.n_embd;
    in.n_att = in.n_embd;
    in.head_size = 64;
    in.n_head = in.n_embd / 64;
    if (in.n_embd <= 1024) {
      in.lora_w = in.lora_a = 64;
      in.lora_v = 32;
      in.lora_g = 128;
    } else {
      in.lora_w = in.lora_a = width(1.8 * std::sqrt(C));
      in.lora_v = width(1.3 * std::sqrt(C));
      in.lora_g = width(0.6 * std::pow(C, 0.8));
    }
  }
};

}  // namespace

const ArchSpec& arch_spec_v7() {
  static const V7 spec;
  return spec;
}

}  // namespace rwkv
