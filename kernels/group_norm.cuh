// kernels/group_norm.cuh: per-head GroupNorm of the WKV output, optionally times a gate.
//
//   out[r, h*N:(h+1)*N] = GN(y[r, h*N:(h+1)*N]; weight, bias, eps)   (rwkv-spec.md section 1, GN_H)
//   out *= gate (elementwise, when gate is not null)                (v5.1+/v6/v7 `o * g`)
//
// Host declarations only; the kernel is in group_norm.cu.
#pragma once
#include <cuda_runtime.h>

#include "runtime/core/dtype.h"

namespace rwkv_kernels {

struct group_norm_params {
  const float* y = nullptr;      // [rows, H*N] fp32 WKV output
  const void* weight = nullptr;  // [H*N] in w_dtype (ln_x.weight)
  const void* bias = nullptr;    // [H*N] in w_dtype (ln_x.bias)
  rwkv::DType w_dtype = rwkv::DType::f32;
  const void* gate = nullptr;    // [rows, H*N] in out_dtype, multiplied in after the norm; null: none
  void* out = nullptr;           // [rows, H*N] in out_dtype; may be the same buffer as gate, must not
                                 // overlap y
  rwkv::DType out_dtype = rwkv::DType::f32;
  int rows = 0;                  // tokens; 0: nothing to do
  int H = 0;                     // heads (groups), >= 1
  int N = 0;                     // head size (channels per group), >= 1
  float eps = 64e-5f;            // ln_x eps of pip for v5/v6/v7 (rwkv-spec.md section 1)
};

// Enqueues the kernel on `stream`. Returns cudaErrorInvalidValue for a bad shape, a null required
// pointer or out overlapping y; otherwise the launch status (cudaGetLastError).
cudaError_t group_norm(const group_norm_params& p, cudaStream_t stream);

}  // namespace rwkv_kernels
