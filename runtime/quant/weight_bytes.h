// runtime/quant/weight_bytes.h: the bytes a model's tensors take in its file, and the
// bytes a backend holds for its weights in a given format (docs/quantization.md),
// from names and shapes alone: no tensor data and no GPU needed, so it serves model
// files and the synthetic shapes of runtime/model/synth.h alike.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/model/model.h"
#include "runtime/model/safetensors_writer.h"

namespace rwkv {

// One tensor of a model: official name and shape, and how it is stored.
struct WeightTensor {
  std::string name;
  std::vector<int64_t> shape;
  DType dtype = DType::f32;          // when not quantized
  QuantKind quant = QuantKind::none;  // stored quantized (with `group`)
  int group = 0;
  uint64_t stored_bytes = 0;  // bytes in the file (quantized: values, scales and offsets)
};
std::vector<WeightTensor> weight_tensors(const Model& m);
std::vector<WeightTensor> weight_tensors(const std::vector<SafetensorsEntry>& entries);

// What a backend holds for the weights, as runtime/cuda/cuda_weights.cpp allocates
// them from load_weights (runtime/arch/weights.h):
//   - every Linear (runtime/quant/quant_file.h matrix_use: linear, lora and v6's
//     batched time_maa_w2 as its five matrices): with `quant` set, quantized
//     (quant_matrix_bytes with the stored group when the tensor is already stored in
//     that kind, else default_quant_group; a matrix whose input width is not a multiple
//     of 32 cannot be quantized and is counted dense); else `dense` bytes per element;
//   - the embedding: `dense` bytes per element (never quantized);
//   - vectors: fp32, per-head ones ([H]) broadcast to every channel ([H * N]);
//   - nothing for blocks.0.ln0 (folded into the embedding) and att.time_state (the
//     initial state, not a weight).
// `info` gives the version and n_head / n_att (ModelInfo of a Model, or
// synth_model_info of a synthetic spec).
uint64_t backend_weight_bytes(const ModelInfo& info, const std::vector<WeightTensor>& tensors, DType dense,
                              QuantKind quant = QuantKind::none);

// Sum of stored_bytes.
uint64_t stored_weight_bytes(const std::vector<WeightTensor>& tensors);

}  // namespace rwkv
