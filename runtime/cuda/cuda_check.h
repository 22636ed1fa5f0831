// runtime/cuda/cuda_check.h: CUDA and cuBLAS statuses become rwkv::Error with
// the call, the file and the line where it failed (file:line: expression).
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <string>

#include "runtime/model/model.h"

namespace rwkv {
namespace cuda {

[[noreturn]] void throw_cuda_error(cudaError_t e, const char* expr, const char* file, int line);
[[noreturn]] void throw_cublas_error(cublasStatus_t s, const char* expr, const char* file, int line);

}  // namespace cuda
}  // namespace rwkv

#define RWKV_CUDA_TRY(expr)                                                        \
  do {                                                                             \
    cudaError_t rwkv_e_ = (expr);                                                  \
    if (rwkv_e_ != cudaSuccess)                                                    \
      ::rwkv::cuda::throw_cuda_error(rwkv_e_, #expr, __FILE__, __LINE__);          \
  } while (0)

#define RWKV_CUBLAS_TRY(expr)                                                      \
  do {                                                                             \
    cublasStatus_t rwkv_s_ = (expr);                                               \
    if (rwkv_s_ != CUBLAS_STATUS_SUCCESS)                                          \
      ::rwkv::cuda::throw_cublas_error(rwkv_s_, #expr, __FILE__, __LINE__);        \
  } while (0)
