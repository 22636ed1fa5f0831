// runtime/cuda/gemm.cpp
#include "runtime/cuda/gemm.h"

#include "runtime/cuda/cuda_check.h"

namespace rwkv {
namespace cuda {

static cudaDataType_t cuda_type(DType t) {
  switch (t) {
    case DType::f16: return CUDA_R_16F;
    case DType::bf16: return CUDA_R_16BF;
    default: return CUDA_R_32F;
  }
}

void linear(cublasHandle_t h, const DeviceMatrix& W, const void* X, int ldx, int M, void* Y,
            DType y_dtype, int ldy) {
  if (M == 0) return;
  const float alpha = 1.0f, beta = 0.0f;
  RWKV_CUBLAS_TRY(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, W.out, M, W.in, &alpha, W.data,
                               cuda_type(W.dtype), W.in, X, cuda_type(W.dtype), ldx, &beta, Y,
                               cuda_type(y_dtype), ldy, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

void linear_batched(cublasHandle_t h, const DeviceMatrix& W, int count, const void* X, int ldx,
                    long long x_stride, int M, void* Y, DType y_dtype, int ldy, long long y_stride) {
  if (M == 0 || count == 0) return;
  const float alpha = 1.0f, beta = 0.0f;
  RWKV_CUBLAS_TRY(cublasGemmStridedBatchedEx(
      h, CUBLAS_OP_T, CUBLAS_OP_N, W.out, M, W.in, &alpha, W.data, cuda_type(W.dtype), W.in,
      (long long)W.out * W.in, X, cuda_type(W.dtype), ldx, x_stride, &beta, Y, cuda_type(y_dtype),
      ldy, y_stride, count, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

}  // namespace cuda
}  // namespace rwkv
