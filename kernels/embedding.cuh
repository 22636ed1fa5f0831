// kernels/embedding.cuh: embedding row gather into the fp32 residual stream.
//
//   out[i, :] = (float) emb[ids[i], :]      for i in [0, n)
// An id outside [0, V) reads nothing: its row is written as NaN and *error_flag is set to 1.
//
// Host declarations only; the kernel is in embedding.cu.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "runtime/core/dtype.h"

namespace rwkv_kernels {

struct embedding_params {
  const int32_t* ids = nullptr;  // [n] token ids, device memory
  const void* emb = nullptr;     // [V, C] in emb_dtype (emb.weight, ln0 already folded in: docs/rwkv-math.md section 1.1)
  rwkv::DType emb_dtype = rwkv::DType::f32;
  float* out = nullptr;          // [n, C] fp32; must not overlap emb or ids
  int* error_flag = nullptr;     // device int, set to 1 when any id is out of range, never cleared
                                 // here (the caller zeroes it); required
  int n = 0;                     // rows to gather; 0: nothing to do
  int V = 0;                     // vocabulary size, >= 1
  int C = 0;                     // channels, >= 1
};

// Enqueues the kernel on `stream`. Returns cudaErrorInvalidValue for a bad shape, a null required
// pointer or out overlapping emb/ids; otherwise the launch status (cudaGetLastError). Bad ids are
// reported through *error_flag, not through the return value (the launch is asynchronous).
cudaError_t embedding_gather(const embedding_params& p, cudaStream_t stream);

}  // namespace rwkv_kernels
