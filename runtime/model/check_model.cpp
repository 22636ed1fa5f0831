// runtime/model/check_model.cpp: version detection, hyper-parameters and
// shape validation of a model in official form (docs/rwkv-math.md sections 2.3,
// 3.1, 4.2, 5.1, 6.1).
//
// The version comes from which tensors exist; the hyper-parameters from a few
// shapes; then every tensor of every layer is checked against the shape the
// version requires, and any tensor the version does not use is rejected. What
// each version requires is its ArchSpec's (runtime/arch/).
#include <cstdlib>
#include <map>
#include <vector>

#include "runtime/arch/arch.h"
#include "runtime/model/model.h"

namespace rwkv {

namespace {

// Tensors whose presence means a model variant no official inference path
// supports (docs/rwkv-math.md section 2.3 "Reject unknown extras").
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
  Checker(Model& m, const std::string& what) : m_(m), what_(what), probe_(m, what) {}
  void run();

 private:
  [[noreturn]] void fail(const std::string& msg) const { probe_.fail(msg); }
  void hyper_parameters();
  int layer_count() const;
  void released_size_warning();
  void compare(const std::vector<TensorSpec>& expected);

  Model& m_;
  std::string what_;
  TensorProbe probe_;
};

// The number of layers, from the blocks.<i>. names. Checked before anything is
// allocated per layer: the indices must be exactly 0..n-1, so n is at most the
// number of tensors, and a stray huge index (blocks.999999.ln1.weight) is named
// instead of making the schema a million layers long.
int Checker::layer_count() const {
  long max_layer = -1;
  const std::string* max_name = nullptr;
  for (const auto& kv : m_.tensors()) {
    const long l = layer_of(kv.first);
    if (kv.first.compare(0, 7, "blocks.") == 0 && l < 0) fail("malformed tensor name '" + kv.first + "'");
    if (l > max_layer) {
      max_layer = l;
      max_name = &kv.first;
    }
  }
  if (max_layer < 0) fail("no blocks.* tensors");
  if (uint64_t(max_layer) >= m_.tensors().size())
    fail("tensor '" + *max_name + "' has layer index " + std::to_string(max_layer) + ", but the file has only " +
         std::to_string(m_.tensors().size()) + " tensors (layers must be numbered 0..n_layer-1 without gaps)");
  std::vector<bool> seen(size_t(max_layer) + 1, false);
  for (const auto& kv : m_.tensors()) {
    const long l = layer_of(kv.first);
    if (l >= 0) seen[size_t(l)] = true;
  }
  for (size_t l = 0; l < seen.size(); ++l)
    if (!seen[l])
      fail("no tensor of layer " + std::to_string(l) + ", but tensor '" + *max_name + "' has layer index " +
           std::to_string(max_layer) + " (layers must be numbered 0..n_layer-1 without gaps)");
  return int(max_layer + 1);
}

void Checker::hyper_parameters() {
  ModelInfo& in = m_.info;
  const TensorProbe& p = probe_;
  in.n_vocab = p.to_int(p.dim("emb.weight", 2, 0), "vocabulary size");
  in.n_embd = p.to_int(p.dim("emb.weight", 2, 1), "n_embd");

  in.n_layer = p.to_int(layer_count(), "n_layer");

  in.n_ffn = p.to_int(p.dim("blocks.0.ffn.key.weight", 2, 0), "n_ffn");
  in.n_att = p.to_int(p.dim("blocks.0.att.key.weight", 2, 0), "attention width");
  arch_spec(in.arch).detect_hyper_parameters(p, in);
}

void Checker::compare(const std::vector<TensorSpec>& expected) {
  // In name order, so that the first problem reported does not depend on the schema's order.
  std::map<std::string, const TensorSpec*> by_name;
  for (const TensorSpec& e : expected) by_name[e.name] = &e;
  for (const auto& entry : by_name) {
    const TensorSpec& e = *entry.second;
    const Tensor* t = m_.find(e.name);
    if (!t) {
      if (e.required)
        fail("missing tensor '" + e.name + "' (version " + arch_name(m_.info.arch) + ", " +
             std::to_string(m_.info.n_layer) + " layers)");
      continue;
    }
    if (t->shape != e.shape)
      fail("tensor '" + e.name + "' has shape " + shape_str(t->shape) + ", expected " +
           shape_str(e.shape) + " (version " + arch_name(m_.info.arch) + ")");
  }
  int64_t params = 0;
  for (const auto& kv : m_.tensors()) {
    if (const char* why = unsupported_extra(kv.first))
      fail("tensor '" + kv.first + "' belongs to an unsupported model variant: " + why);
    if (!by_name.count(kv.first))
      fail("unexpected tensor '" + kv.first + "' for RWKV version " + arch_name(m_.info.arch) +
           " (it is not part of the official model; refusing to ignore it)");
    params += kv.second.numel();
  }
  m_.info.params = params;
}

// A checkpoint that lost its whole last layer(s) is still a consistent model,
// one layer shorter. Released models of a known width have known depths, so an
// n_embd of a released size with a depth none of them has is worth a warning
// (only a warning: fine-tunes and custom depths exist).
void Checker::released_size_warning() {
  ModelInfo& in = m_.info;
  std::string depths;
  bool width_released = false;
  for (const ReleasedSize& r : arch_spec(in.arch).released_sizes()) {
    if (r.n_embd != in.n_embd) continue;
    if (r.n_layer == in.n_layer) return;
    width_released = true;
    depths += (depths.empty() ? "" : ", ") + std::to_string(r.n_layer) + " (" + r.size + ")";
  }
  if (!width_released) return;
  in.warnings.push_back("n_layer " + std::to_string(in.n_layer) + " matches no released RWKV-" + arch_name(in.arch) +
                        " model of n_embd " + std::to_string(in.n_embd) + " (released: " + depths +
                        " layers); if this is a released model, the file has lost layers");
}

void Checker::run() {
  // Unsupported variants first: their message is clearer than a shape error.
  for (const auto& kv : m_.tensors())
    if (const char* why = unsupported_extra(kv.first))
      fail("tensor '" + kv.first + "' belongs to an unsupported model variant: " + why);
  m_.info.arch = detect_arch(m_);
  hyper_parameters();
  compare(model_tensors(m_.info, &m_));
  released_size_warning();
}

}  // namespace

void check_model(Model& m, const std::string& what) { Checker(m, what).run(); }

}  // namespace rwkv
