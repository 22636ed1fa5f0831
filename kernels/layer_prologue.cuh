// kernels/layer_prologue.cuh: the start of a time or channel mix at decode, fused into one kernel
// (docs/rwkv-math.md sections 1, 1.1, 5.2, 10.5):
//
//   x[r, :]  += delta[r, :]                          (when delta is set; written back)
//   cur[r, :] = LN(x[r, :]; ln_w, ln_b, eps)          (fp32, kept: the next row's previous token)
//   prev[r]   = r is its sequence's first row ? state[seq][state_offset + :] : cur[r - 1]
//   prev_out[r, :] = prev[r]                          (optional: for a later mix, e.g. v6's ddlerp)
//   prev_weighted (v6/v7): out_z = cur + (prev - cur) * mu_z
//   cur_weighted  (v4/v5): out_z = cur * mu_z + prev * (1 - mu_z)
//   then, once the sequence's rows are done: state[seq][state_offset + :] = cur[last row]
//
// The residual add, the LayerNorm, every token-shift mix and the shift-state store of shift_mix.cuh
// and layernorm.cuh in one launch; the results are the same fp32 operations in the same order.
// One block owns one sequence and walks its rows in order, so the state is read (first row) before
// it is written (last row) by the same threads, with no race between blocks.
//
// row_parallel (prefill rounds, where a block per sequence would leave the GPU idle): one block
// per row, which recomputes the previous row's LayerNorm (the same reductions and operations as
// that row's own block: the same bits) instead of reading it. Then x must already hold the whole
// residual stream (delta null: the rounds' output products add into x) and the state is only read
// (store_state false: shift_store writes it after the layer). cur is written for every row, or
// with cur_all_rows false only for each sequence's last row (what shift_store reads).
//
// Host declarations only; the kernel is in layer_prologue.cu.
#pragma once
#include <cstddef>

#include "kernels/common/cuda_compat.cuh"
#include "kernels/common/ragged_batch.cuh"
#include "kernels/shift_mix.cuh"
#include "runtime/core/dtype.h"

namespace rwkv_kernels {

struct layer_prologue_params {
  ragged_batch batch;
  float* x = nullptr;            // [rows, C] fp32 residual stream
  const float* delta = nullptr;  // optional [rows, C] fp32, added to x first
  const float* ln_w = nullptr;   // [C] fp32
  const float* ln_b = nullptr;   // [C] fp32
  float eps = 1e-5f;
  float* cur = nullptr;          // [rows, C] fp32 LayerNorm output
  float* prev_out = nullptr;     // optional [rows, C] fp32: each row's previous token
  size_t state_offset = 0;       // floats from a state's start to this layer's x_prev [C]
  bool store_state = true;       // write each sequence's last cur row into its state
  int C = 0;
  int n_out = 0;                 // 0..6 mixes
  const float* mu[kShiftMixMaxOutputs] = {};  // [C] fp32 each
  bool prev_weighted = true;     // false: the v4/v5 form
  void* out[kShiftMixMaxOutputs] = {};        // [rows, C] in out_dtype each
  rwkv::DType out_dtype = rwkv::DType::f32;
  bool row_parallel = false;     // a block per row (prefill): needs delta null, store_state false
  bool cur_all_rows = true;      // row_parallel: cur for every row; false: each sequence's last row
};

// Enqueues the prologue on `stream`. Returns cudaErrorInvalidValue for a negative row or sequence
// count, C < 1, n_out outside 0..6 or an invalid out_dtype; cudaSuccess without launching for
// n_rows == 0; cudaErrorInvalidValue for n_seq outside 1..n_rows, a null required pointer, an
// output (cur, prev_out, out_z) overlapping x, delta or another output, or row_parallel with a
// delta, store_state or no row_seq; otherwise the launch status.
cudaError_t layer_prologue(const layer_prologue_params& p, cudaStream_t stream);

}  // namespace rwkv_kernels
