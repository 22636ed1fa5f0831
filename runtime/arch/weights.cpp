// runtime/arch/weights.cpp: fp32 weights with pip's load-time transforms (see
// weights.h); the version-specific part is each ArchSpec's load_layer.
#include "runtime/arch/weights.h"

#include <algorithm>
#include <cmath>

#include "runtime/arch/layer_norm.h"
#include "runtime/core/half_float.h"
#include "runtime/arch/torch_bf16_layer_norm.h"

namespace rwkv {

namespace {

bool has_time_faaaa(const Model& model) {
  for (const auto& kv : model.tensors())
    if (kv.first.find(".time_faaaa") != std::string::npos) return true;
  return false;
}

// emb rows LayerNorm'd with blocks.0.ln0 (section 1.1, "ln0 folding"). pip's v4-v6
// class runs layer_norm in the checkpoint dtype when emb and ln0 are all bf16
// (torch 1.13's CPU bf16 kernel, emulated in torch_bf16_layer_norm.cpp); fp16
// has no CPU layer_norm there and falls back to float32, and v7 converts to the
// strategy dtype (fp32) first.
std::vector<float> fold_ln0(const WeightReader& r, const ModelInfo& info) {
  const Tensor& e = r.get("emb.weight");
  const int V = info.n_vocab, C = info.n_embd;
  if (e.shape.size() != 2 || e.shape[0] != V || e.shape[1] != C)
    r.fail("emb.weight has shape " + shape_str(e.shape));
  const Tensor& g = r.get("blocks.0.ln0.weight");
  const Tensor& b = r.get("blocks.0.ln0.bias");
  const std::vector<float> gw = r.vec(g.name, C), bw = r.vec(b.name, C);
  std::vector<float> emb = e.to_f32();
  const bool bf16_fold = arch_spec(info.arch).folds_ln0_in_bf16() && e.dtype == DType::bf16 &&
                         g.dtype == DType::bf16 && b.dtype == DType::bf16;
  std::vector<float> row(static_cast<size_t>(C));
  for (int v = 0; v < V; ++v) {
    float* x = emb.data() + static_cast<size_t>(v) * C;
    if (bf16_fold) {
      torch_bf16_layer_norm(x, gw.data(), bw.data(), C, row.data());
    } else {
      layer_norm_row(x, gw.data(), bw.data(), C, row.data());
    }
    std::copy(row.begin(), row.end(), x);
  }
  return emb;
}

}  // namespace

WeightReader::WeightReader(const Model& m, const ModelWeights& dims, WeightFormat format)
    : m_(m), dims_(dims), format_(format), real_time_first_(has_time_faaaa(m)) {}

std::vector<float> Linear::to_f32() const {
  if (quantized()) return dequantize_matrix(q.view());
  if (!half()) return std::vector<float>(w.begin(), w.end());
  std::vector<float> f(h.size());
  for (size_t i = 0; i < h.size(); ++i) f[i] = h_dtype == DType::bf16 ? bf16_to_f32(h[i]) : f16_to_f32(h[i]);
  return f;
}

size_t Linear::held_bytes() const {
  if (quantized()) return q.bytes();
  return half() ? h.size() * sizeof(uint16_t) : w.size() * sizeof(float);
}

void hold_linear_as(Linear& m, DType dtype, const std::shared_ptr<HugePageArena>& arena) {
  if (dtype == DType::f32 || m.quantized() || m.half() || m.w.empty()) return;
  m.h = HeldVector<uint16_t>(ArenaAllocator<uint16_t>(arena));
  m.h.resize(m.w.size());
  for (size_t i = 0; i < m.w.size(); ++i) m.h[i] = dtype == DType::bf16 ? f32_to_bf16(m.w[i]) : f32_to_f16(m.w[i]);
  m.h_dtype = dtype;
  HeldVector<float>().swap(m.w);
}

void move_linear_into(Linear& m, const std::shared_ptr<HugePageArena>& arena) {
  if (!arena) return;
  move_into_arena(m.w, arena);
  move_into_arena(m.h, arena);
  move_into_arena(m.q.q, arena);
  move_into_arena(m.q.scale, arena);
  move_into_arena(m.q.min, arena);
}

void quantize_linear(Linear& m, QuantKind kind, const std::string& what) {
  if (kind == QuantKind::none || m.out == 0 || m.quantized()) return;
  const int group = default_quant_group(kind, m.in);
  if (group == 0)
    throw Error(what + ": a [" + std::to_string(m.out) + ", " + std::to_string(m.in) +
                "] matrix cannot be quantized to " + quant_kind_name(kind) +
                " (its input width is not a multiple of 32)");
  m.q = quantize_matrix(kind, m.w.data(), m.out, m.in, group, what);
  HeldVector<float>().swap(m.w);
}

void WeightReader::fail(const std::string& msg) const { throw Error("model " + m_.info.path + ": " + msg); }

std::vector<float> WeightReader::vec(const std::string& name, int64_t n) const {
  const Tensor& t = get(name);
  if (t.numel() != n)
    fail("tensor " + name + " has shape " + shape_str(t.shape) + ", expected " + std::to_string(n) +
         " elements");
  return t.to_f32();
}

Linear WeightReader::linear(const std::string& name, int out, int in) const {
  const Tensor& t = get(name);
  if (t.shape.size() != 2 || t.shape[0] != out || t.shape[1] != in)
    fail("tensor " + name + " has shape " + shape_str(t.shape) + ", expected [" + std::to_string(out) +
         "," + std::to_string(in) + "]");
  Linear L;
  L.out = out;
  L.in = in;
  if (t.quantized() && !t.quant_transposed && format_.keeps(t.quant.kind)) {
    L.q = copy_quant(t.quant);
    return L;
  }
  // A matrix that stays fp32 goes straight into the arena (when there is one);
  // one to be rounded or quantized is staged on the heap.
  const bool final_f32 = format_.dense == DType::f32 && format_.quantize == QuantKind::none;
  L.w = HeldVector<float>(ArenaAllocator<float>(final_f32 ? format_.arena : nullptr));
  L.w.resize(static_cast<size_t>(out) * static_cast<size_t>(in));
  t.to_f32(L.w.data());
  return L;
}

Linear WeightReader::transpose_in_out(const float* data, int in, int out) {
  Linear L;
  L.out = out;
  L.in = in;
  L.w.resize(static_cast<size_t>(out) * static_cast<size_t>(in));
  for (int i = 0; i < in; ++i)
    for (int o = 0; o < out; ++o)
      L.w[static_cast<size_t>(o) * in + i] = data[static_cast<size_t>(i) * out + o];
  return L;
}

Linear WeightReader::lora(const std::string& name, int in, int out) const {
  const Tensor& t = get(name);
  if (t.shape.size() != 2 || t.shape[0] != in || t.shape[1] != out)
    fail("tensor " + name + " has shape " + shape_str(t.shape) + ", expected [" + std::to_string(in) +
         "," + std::to_string(out) + "]");
  if (t.quantized() && t.quant_transposed && format_.keeps(t.quant.kind)) {
    Linear L;
    L.out = out;
    L.in = in;
    L.q = copy_quant(t.quant);
    return L;
  }
  const std::vector<float> v = t.to_f32();
  return transpose_in_out(v.data(), in, out);
}

void WeightReader::lora_pair(const std::string& n1, const std::string& n2, Linear& m1, Linear& m2) const {
  const Tensor& t1 = get(n1);
  if (t1.shape.size() != 2) fail(t1.name + " is not 2-D");
  const int D = static_cast<int>(t1.shape[1]);
  m1 = lora(t1.name, dims_.C, D);
  m2 = lora(n2, D, dims_.A);
}

std::vector<float> WeightReader::per_channel(const std::string& name) const {
  const int H = dims_.H, N = dims_.N;
  const Tensor& t = get(name);
  const std::vector<float> v = t.to_f32();
  if (t.numel() == static_cast<int64_t>(H) * N) return v;
  if (t.numel() == H) {
    std::vector<float> out(static_cast<size_t>(H) * N);
    for (int h = 0; h < H; ++h)
      for (int n = 0; n < N; ++n) out[static_cast<size_t>(h) * N + n] = v[static_cast<size_t>(h)];
    return out;
  }
  fail("tensor " + name + " has shape " + shape_str(t.shape) + ", expected " + std::to_string(H) +
       " or " + std::to_string(H * N) + " elements");
}

std::vector<float> WeightReader::bonus(const std::string& p) const {
  if (has(p + "att.time_faaaa")) return per_channel(p + "att.time_faaaa");
  std::vector<float> u = per_channel(p + "att.time_first");
  if (!real_time_first_)
    for (float& x : u) x = std::exp(x);
  return u;
}

ModelWeights load_weight_globals(const Model& model, WeightFormat format) {
  const ModelInfo& info = model.info;
  ModelWeights w;
  WeightReader r(model, w, format);
  w.arch = info.arch;
  w.C = info.n_embd;
  w.L = info.n_layer;
  w.V = info.n_vocab;
  w.F = info.n_ffn;
  if (!arch_spec(info.arch).has_heads()) {
    w.A = info.n_att > 0 ? info.n_att : info.n_embd;
  } else {
    w.H = info.n_head;
    w.N = info.head_size;
    w.A = w.H * w.N;
    if (w.H <= 0 || w.N <= 0)
      r.fail(std::string("version ") + arch_name(info.arch) + " needs n_head and head_size, got " +
             std::to_string(w.H) + " and " + std::to_string(w.N));
  }
  if (w.C <= 0 || w.L <= 0 || w.V <= 0 || w.F <= 0)
    r.fail("bad hyper-parameters C=" + std::to_string(w.C) + " L=" + std::to_string(w.L) +
           " V=" + std::to_string(w.V) + " F=" + std::to_string(w.F));
  w.emb = fold_ln0(r, info);
  w.ln_out_w = r.vec("ln_out.weight", w.C);
  w.ln_out_b = r.vec("ln_out.bias", w.C);
  w.head = r.linear("head.weight", w.V, w.C);
  if (format.head_quantized()) quantize_linear(w.head, format.quantize, "head.weight");
  hold_linear_as(w.head, format.dense, format.arena);
  move_linear_into(w.head, format.arena);
  return w;
}

LayerWeights load_weight_layer(const Model& model, const ModelWeights& w, int l, WeightFormat format) {
  const WeightReader r(model, w, format);
  const std::string p = "blocks." + std::to_string(l) + ".";
  const int C = w.C, A = w.A, F = w.F;
  LayerWeights L;
  L.ln1_w = r.vec(p + "ln1.weight", C);
  L.ln1_b = r.vec(p + "ln1.bias", C);
  L.ln2_w = r.vec(p + "ln2.weight", C);
  L.ln2_b = r.vec(p + "ln2.bias", C);
  L.att_r = r.linear(p + "att.receptance.weight", A, C);
  L.att_k = r.linear(p + "att.key.weight", A, C);
  L.att_v = r.linear(p + "att.value.weight", A, C);
  L.att_o = r.linear(p + "att.output.weight", C, A);
  L.ffn_k = r.linear(p + "ffn.key.weight", F, C);
  L.ffn_v = r.linear(p + "ffn.value.weight", C, F);
  arch_spec(w.arch).load_layer(r, l, L);
  if (format.quantize != QuantKind::none)
    for_each_linear(L, [&](Linear& m) {
      quantize_linear(m, format.quantize, "model " + model.info.path + " layer " + std::to_string(l));
    });
  for_each_linear(L, [&](Linear& m) {
    hold_linear_as(m, format.dense, format.arena);
    move_linear_into(m, format.arena);
  });
  return L;
}

ModelWeights load_weights(const Model& model, WeightFormat format) {
  ModelWeights w = load_weight_globals(model, format);
  w.layers.resize(static_cast<size_t>(w.L));
  for (int l = 0; l < w.L; ++l) w.layers[static_cast<size_t>(l)] = load_weight_layer(model, w, l, format);
  return w;
}

}  // namespace rwkv
