// runtime/cpu/cpu_weights.h: the CPU backend's own copy of a model: the
// version registry's transformed weights (runtime/arch/weights.h), the
// matrices held in the dtype the backend was given (docs/cpu-backend.md).
#pragma once

#include <memory>
#include <vector>

#include "runtime/arch/weights.h"
#include "runtime/core/huge_page_arena.h"
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

// Bytes the values of every matrix of `w` take, each rounded up to the arena's
// alignment (what move_matrices_to_arena needs).
size_t matrix_arena_bytes(const CpuWeights& w);

// Moves the values of every matrix of `w` (dense, half or quantized: values,
// scales, offsets) into one new HugePageArena, in the order a forward reads
// them, and returns it (to look at: the matrices keep it alive,
// runtime/core/held_vector.h). Nothing changes but where the values live
// (docs/cpu-backend.md, "Huge pages").
std::shared_ptr<HugePageArena> move_matrices_to_arena(CpuWeights& w);

}  // namespace cpu
}  // namespace rwkv
