// runtime/arch/arch.h: the version registry. Everything that differs between
// RWKV versions (v4, v5.0/5.1/5.2, v6, v7) is answered by one ArchSpec per
// version, implemented in runtime/arch/v4.cpp, v5.cpp, v6.cpp and v7.cpp:
//   - hyper-parameter detection from layer-0 shapes (docs/rwkv-math.md section 2.3)
//   - the tensor schema: per-layer official names and the shapes the
//     hyper-parameters require (used by check_model and synth)
//   - the load-time transforms the backends compute with (sections 3.1, 4.2,
//     5.1, 6.1; see runtime/arch/weights.h)
//   - the recurrent state layout (sections 3.2, 4.3, 5.4, 6.2)
//   - how rwkv.cpp (.bin) files store each tensor (section 2.2)
//   - the released sizes synthetic models copy
// Code outside runtime/arch asks the registry instead of testing Arch values;
// only dispatch switches (one branch per version) name Arch::v* elsewhere.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "runtime/model/model.h"

namespace rwkv {

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);  // "[2,3]"

// One tensor a version uses: its official name and the shape the
// hyper-parameters require. Optional tensors may be absent from a checkpoint.
struct TensorSpec {
  std::string name;
  Shape shape;
  bool required = true;
};

// Read access to a model's shapes for hyper-parameter detection; every
// failure throws rwkv::Error prefixed with `what` (the file).
class TensorProbe {
 public:
  TensorProbe(const Model& m, std::string what) : m_(m), what_(std::move(what)) {}
  [[noreturn]] void fail(const std::string& msg) const;
  bool has(const std::string& name) const { return m_.find(name) != nullptr; }
  const Tensor& need(const std::string& name) const;
  // Dimension k of a tensor that must have `ndim` dimensions, all non-empty.
  int64_t dim(const std::string& name, size_t ndim, size_t k) const;
  // v as a positive int of plausible size, else fail naming `what`.
  int to_int(int64_t v, const char* what) const;

 private:
  const Model& m_;
  std::string what_;
};

// One piece of a layer's recurrent state.
enum class StateSlot { att_x, aa, bb, pp, kv, ffn_x };
struct StatePiece {
  StateSlot slot;
  std::string name;      // relative to "blocks.<l>.", e.g. "att.kv"
  Shape shape;           // e.g. {H, N, N}
  float initial = 0.0f;  // value of a fresh sequence
};

// How rwkv.cpp's converter stored a tensor, and so how its reader restores the
// official form (runtime/model/read_ggml.cpp applies these rules).
enum class GgmlShape {
  as_stored,         // same shape
  mix,               // a mixing vector squeezed to [C]: back to [1,1,C]
  flat,              // one dimension [numel]
  squeeze,           // trailing size-1 dimensions dropped
  transpose,         // a 2-D matrix stored transposed
  transpose_batched, // [B, a, b] stored as [B, b, a]
  split,             // several [1,1,C] vectors concatenated: see GgmlRule::parts
};
// The inverse of a value transform rwkv.cpp applied: x -> inverse(x), after
// checking valid(x) (values outside the transform's range are refused).
struct GgmlInverse {
  double (*inverse)(double);
  bool (*valid)(double);
  const char* stored_as;  // e.g. "-exp(time_decay)", for the error message
};
struct GgmlRule {
  const char* suffix;  // the stored name ends with this
  GgmlShape shape;
  const GgmlInverse* values = nullptr;  // null: values as stored
  std::vector<const char*> parts = {};  // split: official names replacing the last name component
};

// A released model size (synthetic models copy these shapes).
struct ReleasedSize {
  const char* size;  // as in the release names, e.g. "1.5B"
  int n_embd, n_layer;
};

class WeightReader;  // runtime/arch/weights.h
struct LayerWeights;

class ArchSpec {
 public:
  virtual ~ArchSpec() = default;
  Arch arch() const { return arch_; }
  // Dispatch predicates for the backends.
  bool is_v5() const { return arch_ == Arch::v5_0 || arch_ == Arch::v5_1 || arch_ == Arch::v5_2; }
  bool has_heads() const { return arch_ != Arch::v4; }  // n_head/head_size defined
  // Token-shift mixing toward the previous token, x + mu (p - x) (v6, v7), rather
  // than mu x + (1 - mu) p (v4, v5); docs/rwkv-math.md section 1.
  bool mixes_toward_previous() const { return arch_ == Arch::v6 || arch_ == Arch::v7; }
  bool has_ffn_receptance() const { return arch_ != Arch::v7; }  // ffn.receptance gates the FFN
  bool has_value_residual() const { return arch_ == Arch::v7; }   // layer 0's v feeds later layers
  // att.gate.weight gates the time mix's output (v5.1, v5.2, v6; v7 gates through its g LoRA).
  bool has_gate_matrix() const { return arch_ == Arch::v5_1 || arch_ == Arch::v5_2 || arch_ == Arch::v6; }

  // The LoRA widths of a model, named as the golden manifests and `rwkv-run
  // info` name them (v7: w, a, v, g; v6: time_maa, time_decay); empty for v4/v5.
  struct LoraWidth {
    const char* name;
    int width;
  };
  virtual std::vector<LoraWidth> lora_widths(const ModelInfo&) const { return {}; }

  // Fills n_head, head_size and the LoRA widths (and has_time_state) of `in`,
  // whose n_embd, n_layer, n_att and n_ffn are already set.
  virtual void detect_hyper_parameters(const TensorProbe& p, ModelInfo& in) const = 0;

  // Appends the tensors of layer l that follow ln1/ln2 (attention, then FFN).
  // `model` selects among the spellings a checkpoint may use (e.g. v5
  // time_first or time_faaaa); null gives the canonical one synth writes.
  virtual void layer_tensors(const ModelInfo& in, int l, const Model* model,
                             std::vector<TensorSpec>& out) const = 0;

  // The state pieces of one layer, in the official (pip) order.
  virtual std::vector<StatePiece> layer_state(const ModelInfo& in) const = 0;
  // Writes a checkpoint's tuned initial state of layer l, if it has one, into
  // the layer's att.kv piece.
  virtual void load_tuned_state(const Model& model, int l, float* kv) const;

  // Load-time transforms of layer l's version-specific tensors into L.
  virtual void load_layer(const WeightReader& r, int l, LayerWeights& L) const = 0;
  // pip folds ln0 into the embedding in bf16 arithmetic for a bf16 checkpoint
  // (v4-v6); v7 folds in fp32.
  virtual bool folds_ln0_in_bf16() const { return true; }

  // rwkv.cpp's storage of this version's tensors; unlisted ones are as stored.
  virtual const std::vector<GgmlRule>& ggml_rules() const = 0;

  // Released sizes, and the hyper-parameters of a released model of width
  // n_embd (n_vocab, n_ffn, head_size, LoRA widths). Empty: none released.
  virtual std::vector<ReleasedSize> released_sizes() const { return {}; }
  virtual void released_hyper_parameters(ModelInfo& in) const;

 protected:
  explicit ArchSpec(Arch a) : arch_(a) {}

 private:
  Arch arch_;
};

// The registry: one ArchSpec per version.
const ArchSpec& arch_spec(Arch a);
// "4", "5.0", "5.1", "5.2", "6", "7" (arch_name's spelling); false otherwise.
bool arch_from_name(const std::string& s, Arch* out);

// The version of a model in official form, from layer 0's tensors (section 2.3).
Arch detect_arch(const Model& m);
// rwkv.cpp's own detection on its stored names (section 2.2); the three v5
// sub-versions are stored alike and come back as Arch::v5_2.
Arch detect_ggml_arch(const std::set<std::string>& stored_names);

// Every tensor of a model with hyper-parameters `in`: the version-independent
// ones (emb, ln0, ln1/ln2, ln_out, head) and the version's layer tensors, in
// file order (emb, layer by layer, ln_out, head). `model` as in layer_tensors.
std::vector<TensorSpec> model_tensors(const ModelInfo& in, const Model* model);

}  // namespace rwkv
