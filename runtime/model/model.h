// runtime/model/model.h: the canonical model, whatever file it came from.
//
// Every reader (official .pth, safetensors, rwkv.cpp .bin) produces this one
// structure: official tensor names, official stored shapes (PyTorch order, e.g.
// `blocks.0.att.key.weight` is [A, C]) and official values (rwkv.cpp's stored
// transforms undone). Backends apply the load-time transforms (docs/rwkv-math.md
// sections 3.1, 4.2, 5.1, 6.1) from this, through the version registry
// (runtime/arch/weights.h), which also holds each version's tensor schema.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/core/dtype.h"
#include "runtime/core/error.h"
#include "runtime/quant/quant_format.h"

namespace rwkv {

// Error (runtime/core/error.h) and DType (runtime/core/dtype.h) are included
// above for the code that reaches them through this header.

// Model architecture, following docs/rwkv-math.md section 2.3 (pip's naming).
enum class Arch { v4, v5_0, v5_1, v5_2, v6, v7 };
const char* arch_name(Arch a);  // "4", "5.0", "5.1", "5.2", "6", "7"

// A read-only tensor: a view into the mapped file or into memory owned by the
// Model (dequantised or un-transformed tensors). Row-major, contiguous.
struct Tensor {
  std::string name;
  DType dtype = DType::f32;
  std::vector<int64_t> shape;  // official PyTorch shape
  const void* data = nullptr;
  size_t nbytes = 0;
  // Set when the tensor is stored quantized (runtime/quant/quant_format.h); then
  // `data`/`nbytes` are the packed values, `dtype` is meaningless, and the view
  // holds the matrix as applied ([out, in]). `quant_transposed`: the official
  // tensor is that matrix transposed (a LoRA matrix, stored [in, out]).
  QuantView quant;
  bool quant_transposed = false;
  bool quantized() const { return quant.valid(); }
  // Bytes the tensor takes in memory (packed values plus scales when quantized).
  size_t stored_bytes() const { return quantized() ? quant.bytes() : nbytes; }

  int64_t numel() const;
  // Element i converted to float (for tests and the CPU reference); quantized
  // tensors are dequantized.
  float at(int64_t i) const;
  // The whole tensor converted to float32.
  std::vector<float> to_f32() const;
  // The same into `out` (numel() floats).
  void to_f32(float* out) const;
};

struct ModelInfo {
  std::string format;       // "pth", "safetensors", "ggml"
  std::string path;
  uint64_t file_bytes = 0;
  Arch arch = Arch::v4;
  int n_embd = 0;   // C
  int n_layer = 0;  // L
  int n_vocab = 0;  // V
  int n_head = 0;   // H (v4: 0)
  int head_size = 0;  // N (v4: 0)
  int n_att = 0;    // A = H*N (v4: C)
  int n_ffn = 0;    // F
  // v7 LoRA widths (0 when absent)
  int lora_w = 0, lora_a = 0, lora_v = 0, lora_g = 0;
  // v6 LoRA widths
  int lora_maa = 0, lora_decay = 0;
  // v6 state-tuned checkpoints carry att.time_state
  bool has_time_state = false;
  int64_t params = 0;  // total parameter count (sum of numel)
  // Things about the file that load but look wrong, one line each without the
  // path (a front end prints them as notes): e.g. an n_layer that no released
  // model of this n_embd has, as when a checkpoint lost its last layers.
  std::vector<std::string> warnings;
};

struct MappedFile;  // the input file's bytes in memory (runtime/model/mapped_file.h)

class Model {
 public:
  ModelInfo info;

  // Lookup by official name; get() throws rwkv::Error naming the tensor.
  const Tensor* find(const std::string& name) const;
  const Tensor& get(const std::string& name) const;
  const std::map<std::string, Tensor>& tensors() const { return tensors_; }

  // Used by the readers.
  void add_view(Tensor t);                            // data points into file_ (owned bytes)
  void add_owned(Tensor t, std::vector<uint8_t> bytes);  // data owned by the model
  std::shared_ptr<MappedFile> file_;

 private:
  std::map<std::string, Tensor> tensors_;
  std::vector<std::vector<uint8_t>> owned_;
};

// Opens any supported file (format detected from its content, not its name),
// reads the tensors, detects the version, fills and validates ModelInfo.
// Throws rwkv::Error on any problem (FileError, runtime/core/regular_file.h,
// when the file cannot be opened or read: not a regular file, changed while
// read; "out of memory while ..." instead of std::bad_alloc). The file is read
// into memory first (runtime/model/mapped_file.h), so nothing that happens to
// it afterwards can disturb the model. `progress` (may be null) is called with
// bytes done / total while the file is read.
using ProgressFn = void (*)(void* user, uint64_t done, uint64_t total);
std::unique_ptr<Model> load_model(const std::string& path, ProgressFn progress = nullptr,
                                  void* progress_user = nullptr);

// The same from bytes already in memory (also used by the fuzz targets);
// `progress` is not called (there is nothing left to read).
std::unique_ptr<Model> load_model(std::shared_ptr<MappedFile> file, ProgressFn progress = nullptr,
                                  void* progress_user = nullptr);

// Version detection (docs/rwkv-math.md section 2.3), hyper-parameters and shape
// validation of a model whose tensors are already in place (official names).
// Fills m.info (except format/path/file_bytes). Throws rwkv::Error naming
// `what` (the file) on any inconsistency or unsupported extra tensor.
void check_model(Model& m, const std::string& what);

}  // namespace rwkv
