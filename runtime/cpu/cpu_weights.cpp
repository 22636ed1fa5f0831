// runtime/cpu/cpu_weights.cpp: fp32 copy of a model with pip's load-time
// transforms (see cpu_weights.h).
#include "runtime/cpu/cpu_weights.h"

#include "runtime/cpu/torch_bf16_layer_norm.h"

#include <cmath>
#include <string>

namespace rwkv {
namespace cpu {

namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
  return r + "]";
}

class Reader {
 public:
  explicit Reader(const Model& m) : m_(m) {}

  const Tensor& get(const std::string& name) const { return m_.get(name); }
  bool has(const std::string& name) const { return m_.find(name) != nullptr; }

  // A tensor that must hold exactly n elements (any shape, e.g. [1,1,C] or [C]).
  Vec vec(const std::string& name, int64_t n) const {
    const Tensor& t = get(name);
    if (t.numel() != n)
      throw Error("model " + m_.info.path + ": tensor " + name + " has shape " +
                  shape_str(t.shape) + ", expected " + std::to_string(n) + " elements");
    return t.to_f32();
  }

  // A stored nn.Linear weight [out, in].
  Linear linear(const std::string& name, int out, int in) const {
    const Tensor& t = get(name);
    if (t.shape.size() != 2 || t.shape[0] != out || t.shape[1] != in)
      throw Error("model " + m_.info.path + ": tensor " + name + " has shape " +
                  shape_str(t.shape) + ", expected [" + std::to_string(out) + "," +
                  std::to_string(in) + "]");
    Linear L;
    L.out = out;
    L.in = in;
    L.w = t.to_f32();
    return L;
  }

  // A matrix stored [in, out] and used as x @ M (LoRA): transposed into [out, in].
  // `data` is the [in, out] block (already converted).
  static Linear transpose_in_out(const float* data, int in, int out) {
    Linear L;
    L.out = out;
    L.in = in;
    L.w.resize(static_cast<size_t>(out) * static_cast<size_t>(in));
    for (int i = 0; i < in; ++i)
      for (int o = 0; o < out; ++o)
        L.w[static_cast<size_t>(o) * in + i] = data[static_cast<size_t>(i) * out + o];
    return L;
  }
  Linear lora(const std::string& name, int in, int out) const {
    const Tensor& t = get(name);
    if (t.shape.size() != 2 || t.shape[0] != in || t.shape[1] != out)
      throw Error("model " + m_.info.path + ": tensor " + name + " has shape " +
                  shape_str(t.shape) + ", expected [" + std::to_string(in) + "," +
                  std::to_string(out) + "]");
    const Vec v = t.to_f32();
    return transpose_in_out(v.data(), in, out);
  }

  const Model& model() const { return m_; }

 private:
  const Model& m_;
};

// Per-head values ([H] or [H,1]) broadcast to [H*N]; per-channel ([H,N], [A]) kept.
Vec per_channel(const Reader& r, const std::string& name, int H, int N) {
  const Tensor& t = r.get(name);
  const Vec v = t.to_f32();
  if (t.numel() == static_cast<int64_t>(H) * N) return v;
  if (t.numel() == H) {
    Vec out(static_cast<size_t>(H) * N);
    for (int h = 0; h < H; ++h)
      for (int n = 0; n < N; ++n) out[static_cast<size_t>(h) * N + n] = v[static_cast<size_t>(h)];
    return out;
  }
  throw Error("model " + r.model().info.path + ": tensor " + name + " has shape " +
              shape_str(t.shape) + ", expected " + std::to_string(H) + " or " +
              std::to_string(H * N) + " elements");
}


// emb rows LayerNorm'd with blocks.0.ln0 (spec 1.1, "ln0 folding"). pip's v4-v6
// class runs layer_norm in the checkpoint dtype when emb and ln0 are all bf16
// (torch 1.13's CPU bf16 kernel, emulated in torch_bf16_layer_norm.cpp); fp16
// has no CPU layer_norm there and falls back to float32, and v7 converts to the
// strategy dtype (fp32) first.
Vec fold_ln0(const Reader& r, const ModelInfo& info) {
  const Tensor& e = r.get("emb.weight");
  const int V = info.n_vocab, C = info.n_embd;
  if (e.shape.size() != 2 || e.shape[0] != V || e.shape[1] != C)
    throw Error("model " + info.path + ": emb.weight has shape " + shape_str(e.shape));
  const Tensor& g = r.get("blocks.0.ln0.weight");
  const Tensor& b = r.get("blocks.0.ln0.bias");
  const Vec gw = r.vec(g.name, C), bw = r.vec(b.name, C);
  Vec emb = e.to_f32();
  const bool bf16_fold = info.arch != Arch::v7 && e.dtype == DType::bf16 &&
                         g.dtype == DType::bf16 && b.dtype == DType::bf16;
  Vec row(static_cast<size_t>(C));
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

void load_layer(const Reader& r, const CpuWeights& w, int l, bool real_time_first,
                LayerWeights& L) {
  const std::string p = "blocks." + std::to_string(l) + ".";
  const int C = w.C, A = w.A, F = w.F, H = w.H, N = w.N;
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

  switch (w.arch) {
    case Arch::v4: {
      L.mix_k = r.vec(p + "att.time_mix_k", C);
      L.mix_v = r.vec(p + "att.time_mix_v", C);
      L.mix_r = r.vec(p + "att.time_mix_r", C);
      L.decay = r.vec(p + "att.time_decay", A);
      for (float& d : L.decay) d = -std::exp(d);  // spec 3.1
      L.bonus = r.vec(p + "att.time_first", A);    // log-space, kept raw
      break;
    }
    case Arch::v5_0:
    case Arch::v5_1:
    case Arch::v5_2: {
      L.mix_k = r.vec(p + "att.time_mix_k", C);
      L.mix_v = r.vec(p + "att.time_mix_v", C);
      L.mix_r = r.vec(p + "att.time_mix_r", C);
      L.decay = per_channel(r, p + "att.time_decay", H, N);
      for (float& d : L.decay) d = std::exp(-std::exp(d));  // spec 4.2
      if (r.has(p + "att.time_faaaa")) {
        L.bonus = per_channel(r, p + "att.time_faaaa", H, N);
      } else {
        L.bonus = per_channel(r, p + "att.time_first", H, N);
        if (!real_time_first)
          for (float& u : L.bonus) u = std::exp(u);
      }
      if (w.arch != Arch::v5_0) {
        L.mix_g = r.vec(p + "att.time_mix_g", C);
        L.att_g = r.linear(p + "att.gate.weight", A, C);
      }
      L.ln_x_w = r.vec(p + "att.ln_x.weight", A);
      L.ln_x_b = r.vec(p + "att.ln_x.bias", A);
      break;
    }
    case Arch::v6: {
      L.maa_x = r.vec(p + "att.time_maa_x", C);
      L.maa_w = r.vec(p + "att.time_maa_w", C);
      L.maa_k = r.vec(p + "att.time_maa_k", C);
      L.maa_v = r.vec(p + "att.time_maa_v", C);
      L.maa_r = r.vec(p + "att.time_maa_r", C);
      L.maa_g = r.vec(p + "att.time_maa_g", C);
      const Tensor& w1 = r.get(p + "att.time_maa_w1");
      if (w1.shape.size() != 2 || w1.shape[0] != C || w1.shape[1] % 5 != 0)
        throw Error("model " + r.model().info.path + ": " + w1.name + " has shape " +
                    shape_str(w1.shape) + ", expected [C, 5*D]");
      const int D = static_cast<int>(w1.shape[1] / 5);
      L.maa_w1 = r.lora(w1.name, C, 5 * D);
      const Vec w2 = r.vec(p + "att.time_maa_w2", 5LL * D * C);  // [5, D, C]
      for (int z = 0; z < 5; ++z)
        L.maa_w2[z] = Reader::transpose_in_out(w2.data() + static_cast<size_t>(z) * D * C, D, C);
      L.decay_base = r.vec(p + "att.time_decay", A);
      const Tensor& dw1 = r.get(p + "att.time_decay_w1");
      if (dw1.shape.size() != 2)
        throw Error("model " + r.model().info.path + ": " + dw1.name + " is not 2-D");
      const int Dd = static_cast<int>(dw1.shape[1]);
      L.decay_w1 = r.lora(dw1.name, C, Dd);
      L.decay_w2 = r.lora(p + "att.time_decay_w2", Dd, A);
      if (r.has(p + "att.time_faaaa")) {
        L.bonus = per_channel(r, p + "att.time_faaaa", H, N);
      } else {
        L.bonus = per_channel(r, p + "att.time_first", H, N);
        if (!real_time_first)
          for (float& u : L.bonus) u = std::exp(u);
      }
      L.att_g = r.linear(p + "att.gate.weight", A, C);
      L.ln_x_w = r.vec(p + "att.ln_x.weight", A);
      L.ln_x_b = r.vec(p + "att.ln_x.bias", A);
      break;
    }
    case Arch::v7: {
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
      auto lora_pair = [&](const std::string& n1, const std::string& n2, Linear& m1, Linear& m2) {
        const Tensor& t1 = r.get(p + n1);
        if (t1.shape.size() != 2)
          throw Error("model " + r.model().info.path + ": " + t1.name + " is not 2-D");
        const int D = static_cast<int>(t1.shape[1]);
        m1 = r.lora(t1.name, C, D);
        m2 = r.lora(p + n2, D, A);
      };
      lora_pair("att.w1", "att.w2", L.w1, L.w2);
      lora_pair("att.a1", "att.a2", L.a1, L.a2);
      lora_pair("att.g1", "att.g2", L.g1, L.g2);
      // Layer 0 defines v_first and never uses v0/v1/v2 (spec 6.1, pitfall 10).
      L.has_v_mix = l > 0;
      if (L.has_v_mix) {
        L.v0 = r.vec(p + "att.v0", A);
        lora_pair("att.v1", "att.v2", L.v1, L.v2);
      }
      L.ln_x_w = r.vec(p + "att.ln_x.weight", A);
      L.ln_x_b = r.vec(p + "att.ln_x.bias", A);
      break;
    }
  }

  if (w.arch == Arch::v7) {
    L.ffn_mix_k = r.vec(p + "ffn.x_k", C);
  } else if (w.arch == Arch::v6) {
    L.ffn_mix_k = r.vec(p + "ffn.time_maa_k", C);
    L.ffn_mix_r = r.vec(p + "ffn.time_maa_r", C);
    L.ffn_r = r.linear(p + "ffn.receptance.weight", C, C);
  } else {
    L.ffn_mix_k = r.vec(p + "ffn.time_mix_k", C);
    L.ffn_mix_r = r.vec(p + "ffn.time_mix_r", C);
    L.ffn_r = r.linear(p + "ffn.receptance.weight", C, C);
  }
}

}  // namespace

// pip: any *.time_faaaa key makes every time_first a raw bonus (spec 4.2).
static bool has_real_time_first(const Model& model) {
  for (const auto& kv : model.tensors())
    if (kv.first.find(".time_faaaa") != std::string::npos) return true;
  return false;
}

CpuWeights load_cpu_globals(const Model& model) {
  const ModelInfo& info = model.info;
  Reader r(model);
  CpuWeights w;
  w.arch = info.arch;
  w.C = info.n_embd;
  w.L = info.n_layer;
  w.V = info.n_vocab;
  w.F = info.n_ffn;
  if (info.arch == Arch::v4) {
    w.A = info.n_att > 0 ? info.n_att : info.n_embd;
    w.H = 0;
    w.N = 0;
  } else {
    w.H = info.n_head;
    w.N = info.head_size;
    w.A = w.H * w.N;
    if (w.H <= 0 || w.N <= 0)
      throw Error("model " + info.path + ": version " + arch_name(info.arch) +
                  " needs n_head and head_size, got " + std::to_string(w.H) + " and " +
                  std::to_string(w.N));
  }
  if (w.C <= 0 || w.L <= 0 || w.V <= 0 || w.F <= 0)
    throw Error("model " + info.path + ": bad hyper-parameters C=" + std::to_string(w.C) +
                " L=" + std::to_string(w.L) + " V=" + std::to_string(w.V) +
                " F=" + std::to_string(w.F));
  w.emb = fold_ln0(r, info);
  w.ln_out_w = r.vec("ln_out.weight", w.C);
  w.ln_out_b = r.vec("ln_out.bias", w.C);
  w.head = r.linear("head.weight", w.V, w.C);
  return w;
}

LayerWeights load_cpu_layer(const Model& model, const CpuWeights& globals, int l) {
  LayerWeights L;
  load_layer(Reader(model), globals, l, has_real_time_first(model), L);
  return L;
}

CpuWeights load_cpu_weights(const Model& model) {
  CpuWeights w = load_cpu_globals(model);
  w.layers.resize(static_cast<size_t>(w.L));
  for (int l = 0; l < w.L; ++l) w.layers[static_cast<size_t>(l)] = load_cpu_layer(model, w, l);
  return w;
}

}  // namespace cpu
}  // namespace rwkv
