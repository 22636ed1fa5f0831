// runtime/cuda/gemm.cpp
#include "runtime/cuda/gemm.h"

#include "runtime/core/error.h"
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

DeviceMatrix matrix_at(const DeviceMatrix& W, int z) {
  DeviceMatrix m = W;
  m.data = static_cast<const char*>(W.data) + (size_t)z * W.out * W.in * dtype_size(W.dtype);
  return m;
}

rwkv_kernels::gemv_task gemv_task(const DeviceMatrix& W, const void* X, int ldx, void* Y, int ldy,
                                  rwkv_kernels::gemv_epilogue epilogue, DType y_dtype) {
  rwkv_kernels::gemv_task t;
  t.W = W.data;
  t.X = X;
  t.Y = Y;
  t.N = W.out;
  t.K = W.in;
  t.ldx = ldx;
  t.ldy = ldy;
  t.epilogue = epilogue;
  t.y_dtype = y_dtype;
  return t;
}

void grouped_gemv(cudaStream_t stream, int M, DType w_dtype, DType x_dtype,
                  std::initializer_list<rwkv_kernels::gemv_task> tasks) {
  rwkv_kernels::gemv_params p;
  p.M = M;
  p.w_dtype = w_dtype;
  p.x_dtype = x_dtype;
  for (const rwkv_kernels::gemv_task& t : tasks) {
    if (p.n_tasks == rwkv_kernels::kGemvMaxTasks) throw Error("grouped_gemv: too many tasks for one launch");
    p.task[p.n_tasks++] = t;
  }
  RWKV_CUDA_TRY(rwkv_kernels::gemv(p, stream));
}

}  // namespace cuda
}  // namespace rwkv
