// kernels/shift_mix.cuh: token-shift mixes of a ragged batch, as the backend
// runs them (docs/rwkv-math.md sections 1.1, 5.2, 10.5), and the shift-state store.
//
//   prev[row] = row is its sequence's first ? state[seq][state_offset + :] : cur[row - 1]
//   prev_weighted (v6/v7): out_z = cur + (prev - cur) * (mu_z + delta_z[row])
//   cur_weighted  (v4/v5): out_z = cur * mu_z + prev * (1 - mu_z)   (+ delta_z[row] likewise)
// delta (v6 ddlerp: the data-dependent part of the mix) is optional. shift_mix only
// reads the states; shift_store writes them once a layer's rows are done.
//
// The batch arrays (seq_start, row_seq, state) live in device memory and are
// trusted to describe a valid ragged batch (kernels/common/ragged_batch.cuh);
// the launchers check what the host can see.
//
// Host declarations only; the kernels are in shift_mix.cu.
#pragma once
#include <cstddef>

#include "kernels/common/cuda_compat.cuh"
#include "kernels/common/ragged_batch.cuh"
#include "runtime/core/dtype.h"

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
  void* out[kShiftMixMaxOutputs] = {};        // [rows, C] in out_dtype each; must not overlap
                                              // each other, cur, delta or a mu
  rwkv::DType out_dtype = rwkv::DType::f32;  // f32, f16 or bf16
};

// Enqueues the mixes on `stream`. Returns cudaErrorInvalidValue for a negative
// row or sequence count, C < 1, n_out outside 1..6 or another out_dtype; then
// cudaSuccess without launching when batch.n_rows == 0; cudaErrorInvalidValue
// for n_seq outside 1..n_rows, a null required pointer or an overlapping
// output; otherwise the launch status.
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

// Enqueues the store on `stream`. Returns cudaErrorInvalidValue for a negative
// row or sequence count or C < 1; then cudaSuccess without launching when
// batch.n_seq == 0; cudaErrorInvalidValue for n_rows < n_seq or a null required
// pointer; otherwise the launch status.
cudaError_t shift_store(const shift_store_params& p, cudaStream_t stream);

}  // namespace rwkv_kernels
