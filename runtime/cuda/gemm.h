// runtime/cuda/gemm.h: the projections of every layer as cuBLAS GEMMs.
//
// Weights are kept in PyTorch Linear layout, row-major W[out, in] (LoRA
// matrices are transposed into it at load). Activations are row-major
// X[M, in]. cuBLAS is column-major, so Y^T = W X^T is one GEMM with W taken
// transposed: gemm(op_T, op_N, m = out, n = M, k = in, A = W (lda = in),
// B = X (ldb = ldx), C = Y (ldc = ldy)). Inputs share W's dtype; the output is
// fp32 or W's dtype; accumulation is always fp32 (CUBLAS_COMPUTE_32F, no TF32).
#pragma once
#include <cublas_v2.h>

#include "runtime/model/model.h"

namespace rwkv {
namespace cuda {

struct DeviceMatrix {
  const void* data = nullptr;  // [out, in] row-major, `count` of them back to back for batched use
  DType dtype = DType::f32;
  int out = 0, in = 0;
};

// Y[m, :] = W X[m, :] for m < M.
void linear(cublasHandle_t h, const DeviceMatrix& W, const void* X, int ldx, int M, void* Y,
            DType y_dtype, int ldy);

// `count` independent products with matrices W_z stored back to back:
// Y_z = W_z X_z, X_z = X + z * x_stride elements, Y_z = Y + z * y_stride elements.
void linear_batched(cublasHandle_t h, const DeviceMatrix& W, int count, const void* X, int ldx,
                    long long x_stride, int M, void* Y, DType y_dtype, int ldy, long long y_stride);

}  // namespace cuda
}  // namespace rwkv
