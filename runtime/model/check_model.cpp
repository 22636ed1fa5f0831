// runtime/model/check_model.cpp: version detection, hyper-parameters and
// shape validation of a model in official form (rwkv-spec.md sections 2.3,
// 3.1, 4.2, 5.1, 6.1).
//
// The version comes from which tensors exist; the hyper-parameters from a few
// shapes; then every tensor of every layer is checked against the shape the
// version requires, and any tensor the version does not use is rejected.
#include <cstdlib>
#include <map>
#include <set>

#include "runtime/model/model.h"

namespace rwkv {

namespace {

using Shape = std::vector<int64_t>;

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); i++) out += (i ? "," : "") + std::to_string(s[i]);
  return out + "]";
}

// Tensors whose presence means a model variant no official inference path
// supports (rwkv-spec.md section 2.3 "Reject unknown extras").
const char* unsupported_extra(const std::string& name) {
  if (name.find("pos_emb") != std::string::npos) return "positional embedding (pos_emb)";
  if (name.find("ffnPre") != std::string::npos) return "ffnPre";
  if (name.find("tiny_") != std::string::npos) return "tiny attention (tiny_*)";
  if (name.find("head_qk") != std::string::npos) return "head_qk";
  if (name.find("ffn.s_emb") != std::string::npos || name.find("ffn.s0") != std::string::npos ||
      name.find("ffn.s1") != std::string::npos || name.find("ffn.s2") != std::string::npos)
    return "DeepEmbed (ffn.s_emb / ffn.s0/s1/s2)";
  return nullptr;
}

// Layer index of "blocks.<i>.", or -1.
long layer_of(const std::string& name) {
  if (name.compare(0, 7, "blocks.") != 0) return -1;
  size_t i = 7, j = i;
  while (j < name.size() && j - i < 6 && name[j] >= '0' && name[j] <= '9') j++;
  if (j == i || j >= name.size() || name[j] != '.') return -1;
  if (name[i] == '0' && j - i > 1) return -1;  // no leading zeros
  return std::strtol(name.c_str() + i, nullptr, 10);
}

class Checker {
 public:
  Checker(Model& m, const std::string& what) : m_(m), what_(what) {}
  void run();

 private:
  [[noreturn]] void fail(const std::string& msg) const { throw Error(what_ + ": " + msg); }

  const Tensor& need(const std::string& name) const {
    const Tensor* t = m_.find(name);
    if (!t) fail("missing tensor '" + name + "' (version " + arch_name(m_.info.arch) + ")");
    return *t;
  }
  int64_t dim(const std::string& name, size_t ndim, size_t k) const {
    const Tensor& t = need(name);
    if (t.shape.size() != ndim)
      fail("tensor '" + name + "' has shape " + shape_str(t.shape) + ", expected " +
           std::to_string(ndim) + " dimensions");
    if (t.shape[k] <= 0) fail("tensor '" + name + "' has an empty dimension");
    return t.shape[k];
  }
  int to_int(int64_t v, const char* what) const {
    if (v <= 0 || v > (1 << 30)) fail(std::string("implausible ") + what + " " + std::to_string(v));
    return int(v);
  }
  // Declares a tensor the version uses, with its expected shape.
  void expect(const std::string& name, Shape shape, bool required = true) {
    expected_[name] = {std::move(shape), required};
  }

  Arch detect() const;
  void hyper_parameters();
  void expect_all();
  void compare();

  Model& m_;
  std::string what_;
  struct Expected {
    Shape shape;
    bool required;
  };
  std::map<std::string, Expected> expected_;
};

// rwkv-spec.md section 2.3, from layer 0's tensors.
Arch Checker::detect() const {
  auto has = [&](const char* n) { return m_.find(n) != nullptr; };
  if (has("blocks.0.att.r_k") || has("blocks.0.att.k_k") || has("blocks.0.att.x_r")) return Arch::v7;
  if (has("blocks.0.att.time_maa_x")) return Arch::v6;
  if (has("blocks.0.att.ln_x.weight")) {
    if (!has("blocks.0.att.gate.weight")) return Arch::v5_0;
    const Tensor* td = m_.find("blocks.0.att.time_decay");
    if (td && td->shape.size() == 2 && td->shape[1] > 1) return Arch::v5_2;
    return Arch::v5_1;
  }
  return Arch::v4;
}

void Checker::hyper_parameters() {
  ModelInfo& in = m_.info;
  in.n_vocab = to_int(dim("emb.weight", 2, 0), "vocabulary size");
  in.n_embd = to_int(dim("emb.weight", 2, 1), "n_embd");

  long max_layer = -1;
  for (const auto& kv : m_.tensors()) {
    long l = layer_of(kv.first);
    if (kv.first.compare(0, 7, "blocks.") == 0 && l < 0) fail("malformed tensor name '" + kv.first + "'");
    if (l > max_layer) max_layer = l;
  }
  if (max_layer < 0) fail("no blocks.* tensors");
  in.n_layer = to_int(max_layer + 1, "n_layer");

  const int64_t C = in.n_embd;
  in.n_ffn = to_int(dim("blocks.0.ffn.key.weight", 2, 0), "n_ffn");
  in.n_att = to_int(dim("blocks.0.att.key.weight", 2, 0), "attention width");
  switch (in.arch) {
    case Arch::v4:
      in.n_head = in.head_size = 0;
      break;
    case Arch::v5_0:
    case Arch::v5_1:
    case Arch::v5_2: {
      // time_decay is [H] / [H,1] (5.0, 5.1) or [H,N] (5.2)
      const Tensor& decay = need("blocks.0.att.time_decay");
      in.n_head = to_int(decay.shape.empty() ? 0 : decay.shape[0], "n_head");
      if (in.n_att % in.n_head) fail("attention width " + std::to_string(in.n_att) +
                                     " is not a multiple of n_head " + std::to_string(in.n_head));
      in.head_size = in.n_att / in.n_head;
      break;
    }
    case Arch::v6:
      in.n_head = to_int(dim("blocks.0.att.time_faaaa", 2, 0), "n_head");
      in.head_size = to_int(dim("blocks.0.att.time_faaaa", 2, 1), "head_size");
      if (int64_t(in.n_head) * in.head_size != in.n_att)
        fail("time_faaaa " + shape_str(need("blocks.0.att.time_faaaa").shape) +
             " does not match the attention width " + std::to_string(in.n_att));
      if (dim("blocks.0.att.time_maa_w1", 2, 1) % 5)
        fail("time_maa_w1 width is not a multiple of 5");
      in.lora_maa = to_int(dim("blocks.0.att.time_maa_w1", 2, 1) / 5, "time_maa LoRA width");
      in.lora_decay = to_int(dim("blocks.0.att.time_decay_w1", 2, 1), "time_decay LoRA width");
      in.has_time_state = m_.find("blocks.0.att.time_state") != nullptr;
      break;
    case Arch::v7:
      in.n_head = to_int(dim("blocks.0.att.r_k", 2, 0), "n_head");
      in.head_size = to_int(dim("blocks.0.att.r_k", 2, 1), "head_size");
      if (int64_t(in.n_head) * in.head_size != C)
        fail("r_k " + shape_str(need("blocks.0.att.r_k").shape) + " does not cover n_embd " +
             std::to_string(C) + " (v7 needs n_head * head_size == n_embd)");
      if (in.n_att != C) fail("v7 attention width must equal n_embd");
      in.lora_w = to_int(dim("blocks.0.att.w1", 2, 1), "w LoRA width");
      in.lora_a = to_int(dim("blocks.0.att.a1", 2, 1), "a LoRA width");
      in.lora_g = to_int(dim("blocks.0.att.g1", 2, 1), "g LoRA width");
      // Layer 0 never uses v0/v1/v2 and may lack them (rwkv-spec.md 6.1).
      if (in.n_layer > 1) in.lora_v = to_int(dim("blocks.1.att.v1", 2, 1), "v LoRA width");
      else if (m_.find("blocks.0.att.v1")) in.lora_v = to_int(dim("blocks.0.att.v1", 2, 1), "v LoRA width");
      break;
  }
}

void Checker::expect_all() {
  const ModelInfo& in = m_.info;
  const int64_t C = in.n_embd, V = in.n_vocab, A = in.n_att, F = in.n_ffn;
  const int64_t H = in.n_head, N = in.head_size;
  const Shape c{C}, mix{1, 1, C};

  expect("emb.weight", {V, C});
  expect("blocks.0.ln0.weight", c);
  expect("blocks.0.ln0.bias", c);
  expect("ln_out.weight", c);
  expect("ln_out.bias", c);
  expect("head.weight", {V, C});

  for (int l = 0; l < in.n_layer; l++) {
    const std::string b = "blocks." + std::to_string(l) + ".";
    const std::string att = b + "att.", ffn = b + "ffn.";
    for (const char* n : {"ln1.weight", "ln1.bias", "ln2.weight", "ln2.bias"}) expect(b + n, c);

    if (in.arch == Arch::v7) {
      for (const char* n : {"x_r", "x_w", "x_k", "x_v", "x_a", "x_g", "w0", "a0", "k_k", "k_a"})
        expect(att + n, mix);
      expect(att + "w1", {C, in.lora_w});
      expect(att + "w2", {in.lora_w, C});
      expect(att + "a1", {C, in.lora_a});
      expect(att + "a2", {in.lora_a, C});
      expect(att + "g1", {C, in.lora_g});
      expect(att + "g2", {in.lora_g, C});
      expect(att + "v0", mix, l > 0);
      expect(att + "v1", {C, in.lora_v}, l > 0);
      expect(att + "v2", {in.lora_v, C}, l > 0);
      expect(att + "r_k", {H, N});
      for (const char* n : {"receptance.weight", "key.weight", "value.weight", "output.weight"})
        expect(att + n, {C, C});
      expect(att + "ln_x.weight", c);
      expect(att + "ln_x.bias", c);
      expect(ffn + "x_k", mix);
      expect(ffn + "key.weight", {F, C});
      expect(ffn + "value.weight", {C, F});
      continue;
    }

    // v4, v5, v6 share the projections and the FFN shapes.
    for (const char* n : {"receptance.weight", "key.weight", "value.weight"}) expect(att + n, {A, C});
    expect(att + "output.weight", {C, A});
    expect(ffn + "key.weight", {F, C});
    expect(ffn + "receptance.weight", {C, C});
    expect(ffn + "value.weight", {C, F});

    if (in.arch == Arch::v4) {
      for (const char* n : {"time_mix_k", "time_mix_v", "time_mix_r"}) expect(att + n, mix);
      expect(att + "time_decay", {A});
      expect(att + "time_first", {A});
      expect(ffn + "time_mix_k", mix);
      expect(ffn + "time_mix_r", mix);
    } else if (in.arch == Arch::v6) {
      for (const char* n : {"time_maa_x", "time_maa_w", "time_maa_k", "time_maa_v", "time_maa_r",
                            "time_maa_g"})
        expect(att + n, mix);
      expect(att + "time_maa_w1", {C, 5 * int64_t(in.lora_maa)});
      expect(att + "time_maa_w2", {5, in.lora_maa, C});
      expect(att + "time_decay", {1, 1, A});
      expect(att + "time_decay_w1", {C, in.lora_decay});
      expect(att + "time_decay_w2", {in.lora_decay, A});
      expect(att + "time_faaaa", {H, N});
      expect(att + "time_state", {H, N, N}, false);
      expect(att + "gate.weight", {A, C});
      expect(att + "ln_x.weight", {A});
      expect(att + "ln_x.bias", {A});
      expect(ffn + "time_maa_k", mix);
      expect(ffn + "time_maa_r", mix);
    } else {  // v5.x
      for (const char* n : {"time_mix_k", "time_mix_v", "time_mix_r"}) expect(att + n, mix);
      expect(ffn + "time_mix_k", mix);
      expect(ffn + "time_mix_r", mix);
      const bool gated = in.arch != Arch::v5_0;
      if (gated) {
        expect(att + "time_mix_g", mix);
        expect(att + "gate.weight", {A, C});
      }
      expect(att + "ln_x.weight", {A});
      expect(att + "ln_x.bias", {A});
      // decay per head ([H], or [H,1]) for 5.0/5.1, per channel [H,N] for 5.2;
      // the bonus (time_first in log space, or time_faaaa raw) has the same shape.
      Shape per_head{H};
      const Tensor* td = m_.find(att + "time_decay");
      if (in.arch != Arch::v5_2 && td && td->shape.size() == 2) per_head = {H, 1};
      const Shape decay = in.arch == Arch::v5_2 ? Shape{H, N} : per_head;
      expect(att + "time_decay", decay);
      const bool faaaa = m_.find(att + "time_faaaa") != nullptr;
      expect(att + (faaaa ? "time_faaaa" : "time_first"), decay);
    }
  }
}

void Checker::compare() {
  for (const auto& kv : expected_) {
    const Tensor* t = m_.find(kv.first);
    if (!t) {
      if (kv.second.required)
        fail("missing tensor '" + kv.first + "' (version " + arch_name(m_.info.arch) + ", " +
             std::to_string(m_.info.n_layer) + " layers)");
      continue;
    }
    if (t->shape != kv.second.shape)
      fail("tensor '" + kv.first + "' has shape " + shape_str(t->shape) + ", expected " +
           shape_str(kv.second.shape) + " (version " + arch_name(m_.info.arch) + ")");
  }
  int64_t params = 0;
  for (const auto& kv : m_.tensors()) {
    if (const char* why = unsupported_extra(kv.first))
      fail("tensor '" + kv.first + "' belongs to an unsupported model variant: " + why);
    if (!expected_.count(kv.first))
      fail("unexpected tensor '" + kv.first + "' for RWKV version " + arch_name(m_.info.arch) +
           " (it is not part of the official model; refusing to ignore it)");
    params += kv.second.numel();
  }
  m_.info.params = params;
}

void Checker::run() {
  // Unsupported variants first: their message is clearer than a shape error.
  for (const auto& kv : m_.tensors())
    if (const char* why = unsupported_extra(kv.first))
      fail("tensor '" + kv.first + "' belongs to an unsupported model variant: " + why);
  m_.info.arch = detect();
  hyper_parameters();
  expect_all();
  compare();
}

}  // namespace

void check_model(Model& m, const std::string& what) { Checker(m, what).run(); }

}  // namespace rwkv
