// runtime/quant/weight_bytes.cpp: see weight_bytes.h.
#include "runtime/quant/weight_bytes.h"

#include <cstring>

#include "runtime/quant/quant_file.h"

namespace rwkv {

namespace {

bool ends_with(const std::string& s, const char* suffix) {
  const size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

uint64_t numel(const std::vector<int64_t>& shape) {
  uint64_t n = 1;
  for (int64_t d : shape) n *= static_cast<uint64_t>(d);
  return n;
}

// Bytes of one Linear [out, in] as held: quantized when `quant` is set and the
// matrix can be (kept in its stored group when stored in that kind), else dense.
uint64_t linear_bytes(const WeightTensor& t, int64_t out, int64_t in, DType dense, QuantKind quant) {
  const bool dense_head = t.name == "head.weight" && !quant_kind_covers_head(quant) && t.quant != quant;
  if (quant != QuantKind::none && !dense_head) {
    const int group = t.quant == quant ? t.group : default_quant_group(quant, static_cast<int>(in));
    if (group > 0) return quant_matrix_bytes(quant, static_cast<int>(out), static_cast<int>(in), group);
  }
  return static_cast<uint64_t>(out) * static_cast<uint64_t>(in) * dtype_size(dense);
}

}  // namespace

std::vector<WeightTensor> weight_tensors(const Model& m) {
  std::vector<WeightTensor> out;
  for (const auto& kv : m.tensors()) {
    const Tensor& t = kv.second;
    WeightTensor w;
    w.name = t.name;
    w.shape = t.shape;
    w.dtype = t.dtype;
    w.quant = t.quant.kind;
    w.group = t.quant.group;
    w.stored_bytes = t.stored_bytes();
    out.push_back(std::move(w));
  }
  return out;
}

std::vector<WeightTensor> weight_tensors(const std::vector<SafetensorsEntry>& entries) {
  std::vector<WeightTensor> out;
  for (const SafetensorsEntry& e : entries) {
    WeightTensor w;
    w.name = e.name;
    w.shape = e.shape;
    w.dtype = e.dtype;
    w.stored_bytes = numel(e.shape) * dtype_size(e.dtype);
    out.push_back(std::move(w));
  }
  return out;
}

uint64_t backend_weight_bytes(const ModelInfo& info, const std::vector<WeightTensor>& tensors, DType dense,
                              QuantKind quant) {
  uint64_t bytes = 0;
  for (const WeightTensor& t : tensors) {
    const uint64_t n = numel(t.shape);
    switch (matrix_use(info.arch, t.name, t.shape)) {
      case MatrixUse::linear:
        bytes += linear_bytes(t, t.shape[0], t.shape[1], dense, quant);
        continue;
      case MatrixUse::lora:  // [in, out] applied as [out, in]
        bytes += linear_bytes(t, t.shape[1], t.shape[0], dense, quant);
        continue;
      case MatrixUse::lora_batched:  // [B, D, C]: B matrices [C, D]
        bytes += static_cast<uint64_t>(t.shape[0]) * linear_bytes(t, t.shape[2], t.shape[1], dense, quant);
        continue;
      case MatrixUse::none: break;
    }
    if (t.name == "emb.weight") {
      bytes += n * dtype_size(dense);
    } else if (ends_with(t.name, ".ln0.weight") || ends_with(t.name, ".ln0.bias") ||
               ends_with(t.name, ".att.time_state")) {
      // folded into the embedding / part of the initial state
    } else if (info.n_head > 0 && n == static_cast<uint64_t>(info.n_head) && info.n_att > info.n_head) {
      bytes += static_cast<uint64_t>(info.n_att) * sizeof(float);  // per head, broadcast
    } else {
      bytes += n * sizeof(float);
    }
  }
  return bytes;
}

uint64_t stored_weight_bytes(const std::vector<WeightTensor>& tensors) {
  uint64_t bytes = 0;
  for (const WeightTensor& t : tensors) bytes += t.stored_bytes;
  return bytes;
}

}  // namespace rwkv
