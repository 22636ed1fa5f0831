// kernels/wkv4.cuh: the RWKV-4 WKV recurrence fused with the receptance gate
// (docs/rwkv-math.md sections 3.3, 3.5): out = sigmoid(r) * wkv, over every token of
// every sequence, with the state aa, bb, pp in fp32.
//
// Host declarations only; the kernel is in wkv4.cu.
#pragma once
#include <cstddef>

#include "kernels/common/cuda_compat.cuh"
#include "kernels/common/ragged_batch.cuh"
#include "runtime/core/dtype.h"

namespace rwkv_kernels {

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
};

cudaError_t wkv4_forward(const wkv4_params& p, cudaStream_t stream);

}  // namespace rwkv_kernels
