// kernels/shift_mix.cuh: token-shift mixes of a ragged batch, as the backend
// runs them (rwkv-spec.md sections 1.1, 5.2, 10.5), and the shift-state store.
//
//   prev[row] = row is its sequence's first ? state[seq][state_offset + :] : cur[row - 1]
//   prev_weighted (v6/v7): out_z = cur + (prev - cur) * (mu_z + delta_z[row])
//   cur_weighted  (v4/v5): out_z = cur * mu_z + prev * (1 - mu_z)
// delta (v6 ddlerp: the data-dependent part of the mix) is optional.
//
// Host declarations only; the kernels are in shift_mix.cu.
#pragma once
#include <cstddef>

#include "kernels/common/cuda_compat.cuh"
#include "kernels/common/ragged_batch.cuh"
#include "runtime/model/model.h"

namespace rwkv_kernels {

constexpr int kShiftMixMaxOutputs = 6;

struct shift_mix_params {
  ragged_batch batch;
  size_t state_offset = 0;       // floats from a state's start to this layer's x_prev [C]
  const float* cur = nullptr;    // [rows, C] fp32 LayerNorm outputs
  int C = 0;
  int n_out = 0;                 // 1..6
  const float* mu[kShiftMixMaxOutputs] = {};  // [C] fp32 each
  const float* delta = nullptr;  // optional [n_out][rows][C] fp32, added to mu per row (v6)
  bool prev_weighted = true;     // false: the v4/v5 form
  void* out[kShiftMixMaxOutputs] = {};        // [rows, C] in out_dtype each
  rwkv::DType out_dtype = rwkv::DType::f32;
};

cudaError_t shift_mix(const shift_mix_params& p, cudaStream_t stream);

// After a layer: every sequence's att.x_prev and ffn.x_prev take the LayerNorm
// outputs of its last token (att_cur, ffn_cur: [rows, C] fp32).
struct shift_store_params {
  ragged_batch batch;
  size_t att_offset = 0, ffn_offset = 0;
  const float* att_cur = nullptr;
  const float* ffn_cur = nullptr;
  int C = 0;
};

cudaError_t shift_store(const shift_store_params& p, cudaStream_t stream);

}  // namespace rwkv_kernels
