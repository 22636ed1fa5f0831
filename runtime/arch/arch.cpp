// runtime/arch/arch.cpp: the registry itself and what is common to every
// version (version detection, the global tensors, shape probing).
#include "runtime/arch/arch.h"

namespace rwkv {

// One per version, each in its own file.
const ArchSpec& arch_spec_v4();
const ArchSpec& arch_spec_v5(Arch sub);
const ArchSpec& arch_spec_v6();
const ArchSpec& arch_spec_v7();

const ArchSpec& arch_spec(Arch a) {
  switch (a) {
    case Arch::v4: return arch_spec_v4();
    case Arch::v5_0:
    case Arch::v5_1:
    case Arch::v5_2: return arch_spec_v5(a);
    case Arch::v6: return arch_spec_v6();
    case Arch::v7: return arch_spec_v7();
  }
  throw Error("unknown RWKV version code " + std::to_string(int(a)));
}

bool arch_from_name(const std::string& s, Arch* out) {
  for (Arch a : {Arch::v4, Arch::v5_0, Arch::v5_1, Arch::v5_2, Arch::v6, Arch::v7})
    if (s == arch_name(a)) {
      *out = a;
      return true;
    }
  return false;
}

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); i++) out += (i ? "," : "") + std::to_string(s[i]);
  return out + "]";
}

void TensorProbe::fail(const std::string& msg) const { throw Error(what_ + ": " + msg); }

const Tensor& TensorProbe::need(const std::string& name) const {
  const Tensor* t = m_.find(name);
  if (!t) fail("missing tensor '" + name + "' (version " + arch_name(m_.info.arch) + ")");
  return *t;
}

int64_t TensorProbe::dim(const std::string& name, size_t ndim, size_t k) const {
  const Tensor& t = need(name);
  if (t.shape.size() != ndim)
    fail("tensor '" + name + "' has shape " + shape_str(t.shape) + ", expected " + std::to_string(ndim) +
         " dimensions");
  if (t.shape[k] <= 0) fail("tensor '" + name + "' has an empty dimension");
  return t.shape[k];
}

int TensorProbe::to_int(int64_t v, const char* what) const {
  if (v <= 0 || v > (1 << 30)) fail(std::string("implausible ") + what + " " + std::to_string(v));
  return int(v);
}

void ArchSpec::load_tuned_state(const Model&, int, float*) const {}

void ArchSpec::released_hyper_parameters(ModelInfo&) const {
  throw Error(std::string("no released models of RWKV version ") + arch_name(arch_));
}

// Section 2.3, from layer 0's tensors.
Arch detect_arch(const Model& m) {
  auto has = [&](const char* n) { return m.find(n) != nullptr; };
  if (has("blocks.0.att.r_k") || has("blocks.0.att.k_k") || has("blocks.0.att.x_r")) return Arch::v7;
  if (has("blocks.0.att.time_maa_x")) return Arch::v6;
  if (has("blocks.0.att.ln_x.weight")) {
    if (!has("blocks.0.att.gate.weight")) return Arch::v5_0;
    const Tensor* td = m.find("blocks.0.att.time_decay");
    if (td && td->shape.size() == 2 && td->shape[1] > 1) return Arch::v5_2;
    return Arch::v5_1;
  }
  return Arch::v4;
}

Arch detect_ggml_arch(const std::set<std::string>& names) {
  if (names.count("blocks.0.att.x_rwkvag") || names.count("blocks.0.att.r_k")) return Arch::v7;
  if (names.count("blocks.0.att.time_maa_x")) return Arch::v6;
  if (names.count("blocks.0.att.ln_x.weight")) return Arch::v5_2;
  return Arch::v4;
}

std::vector<TensorSpec> model_tensors(const ModelInfo& in, const Model* model) {
  const int64_t C = in.n_embd, V = in.n_vocab;
  const Shape c{C};
  const ArchSpec& spec = arch_spec(in.arch);
  std::vector<TensorSpec> out;
  out.push_back({"emb.weight", {V, C}});
  for (int l = 0; l < in.n_layer; l++) {
    const std::string b = "blocks." + std::to_string(l) + ".";
    if (l == 0) {
      out.push_back({b + "ln0.weight", c});
      out.push_back({b + "ln0.bias", c});
    }
    for (const char* n : {"ln1.weight", "ln1.bias", "ln2.weight", "ln2.bias"}) out.push_back({b + n, c});
    spec.layer_tensors(in, l, model, out);
  }
  out.push_back({"ln_out.weight", c});
  out.push_back({"ln_out.bias", c});
  out.push_back({"head.weight", {V, C}});
  return out;
}

}  // namespace rwkv
