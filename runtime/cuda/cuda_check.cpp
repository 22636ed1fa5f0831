// runtime/cuda/cuda_check.cpp: messages for failed CUDA and cuBLAS calls.
#include "runtime/cuda/cuda_check.h"

namespace rwkv {
namespace cuda {

static std::string where(const char* expr, const char* file, int line) {
  std::string f(file);
  const size_t slash = f.rfind("/runtime/");
  if (slash != std::string::npos) f = f.substr(slash + 1);
  return std::string(" in ") + expr + " (" + f + ":" + std::to_string(line) + ")";
}

void throw_cuda_error(cudaError_t e, const char* expr, const char* file, int line) {
  cudaGetLastError();  // clear a non-sticky error so the next call starts clean
  throw Error(std::string("CUDA error ") + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")" +
              where(expr, file, line));
}

void throw_cublas_error(cublasStatus_t s, const char* expr, const char* file, int line) {
  throw Error(std::string("cuBLAS error ") + std::to_string((int)s) + where(expr, file, line));
}

}  // namespace cuda
}  // namespace rwkv
