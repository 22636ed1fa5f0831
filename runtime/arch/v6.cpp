// runtime/arch/v6.cpp: RWKV-6 (docs/rwkv-math.md section 5). v5.2's heads
// with data-dependent token shift (ddlerp: time_maa_* and the time_maa_w1/w2
// LoRA) and data-dependent decay (time_decay_w1/w2); state-tuned checkpoints
// carry an initial state att.time_state.
#include <cmath>

#include "runtime/arch/arch_common.h"

namespace rwkv {

namespace {

using namespace arch_common;

class V6 final : public ArchSpec {
 public:
  V6() : ArchSpec(Arch::v6) {}

  void detect_hyper_parameters(const TensorProbe& p, ModelInfo& in) const override {
    in.n_head = p.to_int(p.dim("blocks.0.att.time_faaaa", 2, 0), "n_head");
    in.head_size = p.to_int(p.dim("blocks.0.att.time_faaaa", 2, 1), "head_size");
    if (int64_t(in.n_head) * in.head_size != in.n_att)
      p.fail("time_faaaa " + shape_str(p.need("blocks.0.att.time_faaaa").shape) +
             " does not match the attention width " + std::to_string(in.n_att));
    if (p.dim("blocks.0.att.time_maa_w1", 2, 1) % 5) p.fail("time_maa_w1 width is not a multiple of 5");
    in.lora_maa = p.to_int(p.dim("blocks.0.att.time_maa_w1", 2, 1) / 5, "time_maa LoRA width");
    in.lora_decay = p.to_int(p.dim("blocks.0.att.time_decay_w1", 2, 1), "time_decay LoRA width");
    in.has_time_state = p.has("blocks.0.att.time_state");
  }

  void layer_tensors(const ModelInfo& in, int l, const Model*, std::vector<TensorSpec>& out) const override {
    const std::string b = "blocks." + std::to_string(l) + ".", att = b + "att.";
    const int64_t C = in.n_embd, A = in.n_att, H = in.n_head, N = in.head_size;
    const int64_t D = in.lora_maa, Dd = in.lora_decay;
    for (const char* n : {"time_maa_x", "time_maa_w", "time_maa_k", "time_maa_v", "time_maa_r", "time_maa_g"})
      out.push_back({att + n, mix_shape(in)});
    out.push_back({att + "time_maa_w1", {C, 5 * D}});
    out.push_back({att + "time_maa_w2", {5, D, C}});
    out.push_back({att + "time_decay", {1, 1, A}});
    out.push_back({att + "time_decay_w1", {C, Dd}});
    out.push_back({att + "time_decay_w2", {Dd, A}});
    out.push_back({att + "time_faaaa", {H, N}});
    out.push_back({att + "time_state", {H, N, N}, false});
    out.push_back({att + "gate.weight", {A, C}});
    out.push_back({att + "ln_x.weight", {A}});
    out.push_back({att + "ln_x.bias", {A}});
    add_projections(in, att, out);
    add_channel_mix(in, b + "ffn.", {"time_maa_k", "time_maa_r"}, true, out);
  }

  std::vector<StatePiece> layer_state(const ModelInfo& in) const override { return matrix_state(in); }

  // att.time_state is [h][v][k]; the state matrix is [h][k][v] (section 5.4).
  void load_tuned_state(const Model& model, int l, float* kv) const override {
    const Tensor* ts = model.find("blocks." + std::to_string(l) + ".att.time_state");
    if (!ts) return;
    const ModelInfo& info = model.info;
    const int64_t H = info.n_head, N = info.head_size;
    if (ts->numel() != H * N * N)
      throw Error("model " + info.path + ": " + ts->name + " has " + std::to_string(ts->numel()) +
                  " elements, expected H*N*N = " + std::to_string(H * N * N));
    const std::vector<float> v = ts->to_f32();
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < N; ++i)
        for (int64_t j = 0; j < N; ++j) kv[(h * N + j) * N + i] = v[static_cast<size_t>((h * N + i) * N + j)];
  }

  void load_layer(const WeightReader& r, int l, LayerWeights& L) const override;

  const std::vector<GgmlRule>& ggml_rules() const override {
    static const std::vector<GgmlRule> rules = {
        {".att.time_maa_x", GgmlShape::mix},          {".att.time_maa_w", GgmlShape::mix},
        {".att.time_maa_k", GgmlShape::mix},          {".att.time_maa_v", GgmlShape::mix},
        {".att.time_maa_r", GgmlShape::mix},          {".att.time_maa_g", GgmlShape::mix},
        {".ffn.time_maa_k", GgmlShape::mix},          {".ffn.time_maa_r", GgmlShape::mix},
        {".att.time_decay", GgmlShape::mix},          {".att.time_maa_w1", GgmlShape::transpose},
        {".att.time_decay_w1", GgmlShape::transpose}, {".att.time_decay_w2", GgmlShape::transpose},
        {".att.time_maa_w2", GgmlShape::transpose_batched}, {".att.time_faaaa", GgmlShape::squeeze}};
    return rules;
  }

  std::vector<ReleasedSize> released_sizes() const override {
    return {{"1.6B", 2048, 24}, {"3B", 2560, 32}, {"7B", 4096, 32}, {"14B", 4096, 61}};
  }
  std::vector<LoraWidth> lora_widths(const ModelInfo& in) const override {
    return {{"time_maa", in.lora_maa}, {"time_decay", in.lora_decay}};
  }
  void released_hyper_parameters(ModelInfo& in) const override {
    in.n_vocab = 65536;  // the World tokenizer
    in.n_ffn = int(3.5 * in.n_embd / 32) * 32;
    in.n_att = in.n_embd;
    in.head_size = 64;
    in.n_head = in.n_embd / 64;
    in.lora_maa = in.n_embd == 4096 ? 64 : 32;
    in.lora_decay = in.n_embd == 4096 ? 128 : 64;
  }
};

void V6::load_layer(const WeightReader& r, int l, LayerWeights& L) const {
  const std::string p = "blocks." + std::to_string(l) + ".";
  const int C = r.dims().C, A = r.dims().A;
  L.maa_x = r.vec(p + "att.time_maa_x", C);
  L.maa_w = r.vec(p + "att.time_maa_w", C);
  L.maa_k = r.vec(p + "att.time_maa_k", C);
  L.maa_v = r.vec(p + "att.time_maa_v", C);
  L.maa_r = r.vec(p + "att.time_maa_r", C);
  L.maa_g = r.vec(p + "att.time_maa_g", C);
  const Tensor& w1 = r.get(p + "att.time_maa_w1");
  if (w1.shape.size() != 2 || w1.shape[0] != C || w1.shape[1] % 5 != 0)
    r.fail(w1.name + " has shape " + shape_str(w1.shape) + ", expected [C, 5*D]");
  const int D = static_cast<int>(w1.shape[1] / 5);
  L.maa_w1 = r.lora(w1.name, C, 5 * D);
  const std::vector<float> w2 = r.vec(p + "att.time_maa_w2", 5LL * D * C);  // [5, D, C]
  for (int z = 0; z < 5; ++z)
    L.maa_w2[z] = WeightReader::transpose_in_out(w2.data() + static_cast<size_t>(z) * D * C, D, C);
  L.decay_base = r.vec(p + "att.time_decay", A);
  r.lora_pair(p + "att.time_decay_w1", p + "att.time_decay_w2", L.decay_w1, L.decay_w2);
  L.bonus = r.bonus(p);
  L.att_g = r.linear(p + "att.gate.weight", A, C);
  L.ln_x_w = r.vec(p + "att.ln_x.weight", A);
  L.ln_x_b = r.vec(p + "att.ln_x.bias", A);
  load_channel_mix(r, p + "ffn.", "time_maa_k", "time_maa_r", L);
}

}  // namespace

const ArchSpec& arch_spec_v6() {
  static const V6 spec;
  return spec;
}

}  // namespace rwkv
