// kernels/layernorm.cuh: residual add + LayerNorm over the rows of the fp32 residual stream.
//
//   x[r, :] += delta[r, :]                    (when delta is not null)
//   y[r, :]  = LN(x[r, :]; weight, bias, eps)  (docs/rwkv-math.md section 1: biased variance, eps 1e-5)
//
// Host declarations only; the kernel is in layernorm.cu.
#pragma once
#include <cuda_runtime.h>

#include "runtime/core/dtype.h"

namespace rwkv_kernels {

struct layernorm_params {
  float* x = nullptr;             // [rows, C] fp32 residual stream; updated in place when delta is set
  const void* delta = nullptr;    // [rows, C] in delta_dtype, added to x first; null: no residual add
  rwkv::DType delta_dtype = rwkv::DType::f32;
  const void* weight = nullptr;   // [C] in w_dtype (gamma)
  const void* bias = nullptr;     // [C] in w_dtype (beta)
  rwkv::DType w_dtype = rwkv::DType::f32;
  void* y = nullptr;              // [rows, C] in y_dtype; must not overlap x or delta
  rwkv::DType y_dtype = rwkv::DType::f32;
  int rows = 0;                   // 0: nothing to do
  int C = 0;                      // channels per row, >= 1
  float eps = 1e-5f;              // PyTorch F.layer_norm default, used by every RWKV LayerNorm
};

// Enqueues the kernel on `stream`. Returns cudaErrorInvalidValue for a bad shape, a null
// required pointer, or overlapping y/x/delta; otherwise the launch status (cudaGetLastError).
cudaError_t layernorm_residual(const layernorm_params& p, cudaStream_t stream);

}  // namespace rwkv_kernels
