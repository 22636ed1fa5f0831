// runtime/cpu/cpu_weights.h: the CPU backend's own fp32 copy of a model: the
// version registry's transformed weights (runtime/arch/weights.h), kept as
// they are (the CPU backend computes in fp32).
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

// Builds the fp32 copy; throws rwkv::Error naming a missing or misshaped tensor.
inline CpuWeights load_cpu_weights(const Model& model, WeightFormat format = {}) {
  return load_weights(model, format);
}

}  // namespace cpu
}  // namespace rwkv
