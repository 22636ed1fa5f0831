// kernels/wkv4.cuh: the RWKV-4 WKV recurrence fused with the receptance gate
// (docs/rwkv-math.md sections 3.3, 3.5): out = sigmoid(r) * wkv, over every token of
// every sequence, with the state aa, bb, pp in fp32.
//
// Two forms with the same numerics (pip's running-max recurrence, per channel):
//   wkv4_forward          token after token per sequence (decode, short prompts);
//   wkv4_forward_chunked  parallel in time for prefill: the round's rows cut into blocks of
//                         chunk_rows rows, three launches (wkv4.cu says which).
// Host declarations only; the kernels are in wkv4.cu.
#pragma once
#include <cstddef>

#include "kernels/common/cuda_compat.cuh"
#include "kernels/common/ragged_batch.cuh"
#include "runtime/core/dtype.h"

namespace rwkv_kernels {

// Rows per block of the chunked form (docs/performance.md, "Chunked prefill: RWKV-4", says why 32).
constexpr int kWkv4ChunkRows = 32;

struct wkv4_params {
  ragged_batch batch;
  size_t aa_offset = 0, bb_offset = 0, pp_offset = 0;  // floats from a state's start, [A] each
  // (16-byte accesses when A and the offsets are multiples of 4 and the buffers 16-byte aligned)
  int A = 0;                    // attention width (channels)
  const float* r = nullptr;     // fp32 [rows, A] receptance pre-activation
  const float* k = nullptr;     // fp32 [rows, A]
  const float* v = nullptr;     // fp32 [rows, A]
  const float* w = nullptr;     // fp32 [A]: -exp(time_decay)
  const float* u = nullptr;     // fp32 [A]: time_first
  void* out = nullptr;          // [rows, A] in out_dtype: sigmoid(r) * wkv, input of att.output
  rwkv::DType out_dtype = rwkv::DType::f32;
  // wkv4_forward_chunked only (batch.row_seq and batch.n_rows are needed too):
  int chunk_rows = kWkv4ChunkRows;   // rows per block (>= 1)
  float* chunk_state = nullptr;      // fp32 scratch of chunk_state_floats floats, at least
  size_t chunk_state_floats = 0;     //   wkv4_chunk_state_floats(batch.n_rows, A, chunk_rows)
};

cudaError_t wkv4_forward(const wkv4_params& p, cudaStream_t stream);

// The chunked form's scratch: two (aa, bb, pp) triples of A floats per block of chunk_rows rows.
inline size_t wkv4_chunk_state_floats(int rows, int A, int chunk_rows) {
  const size_t blocks = chunk_rows > 0 ? ((size_t)rows + (size_t)chunk_rows - 1) / (size_t)chunk_rows : 0;
  return blocks * 6 * (size_t)A;
}

// Same outputs and final states as wkv4_forward within fp32 rounding (not bit for bit: the
// exponent offsets pp reach a block's start through one combine per block instead of one
// addition per token).
cudaError_t wkv4_forward_chunked(const wkv4_params& p, cudaStream_t stream);

}  // namespace rwkv_kernels
