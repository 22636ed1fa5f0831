// runtime/cpu/cpu_weights.h: the CPU backend's own copy of a model: the
// version registry's transformed weights (runtime/arch/weights.h), the
// matrices held in the dtype the backend was given (docs/cpu-backend.md).
#pragma once

#include <vector>

#include "runtime/arch/weights.h"
#include "runtime/cpu/cpu_ops.h"
#include "runtime/model/model.h"

namespace rwkv {
namespace cpu {

using Vec = std::vector<float>;
using LayerWeights = rwkv::LayerWeights;
using CpuWeights = rwkv::ModelWeights;

// Builds the copy; throws rwkv::Error naming a missing or misshaped tensor.
inline CpuWeights load_cpu_weights(const Model& model, WeightFormat format = {}) {
  return load_weights(model, format);
}

}  // namespace cpu
}  // namespace rwkv
