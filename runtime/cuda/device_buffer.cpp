// runtime/cuda/device_buffer.cpp
#include "runtime/cuda/device_buffer.h"

#include <string>

#include "runtime/cuda/cuda_check.h"

namespace rwkv {
namespace cuda {

static std::string mib(size_t b) { return std::to_string((b + (1 << 20) - 1) >> 20) + " MiB"; }

std::pair<size_t, size_t> device_memory_info() {
  size_t free_b = 0, total_b = 0;
  RWKV_CUDA_TRY(cudaMemGetInfo(&free_b, &total_b));
  return {free_b, total_b};
}

DeviceBuffer::DeviceBuffer(size_t bytes, const char* what) : bytes_(bytes) {
  if (bytes == 0) return;
  cudaError_t e = cudaMalloc(&ptr_, bytes);
  if (e != cudaSuccess) {
    cudaGetLastError();
    ptr_ = nullptr;
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    throw Error(std::string("out of GPU memory: ") + what + " needs " + mib(bytes) + ", " +
                mib(free_b) + " free of " + mib(total_b));
  }
}

DeviceBuffer::~DeviceBuffer() {
  if (ptr_) cudaFree(ptr_);
}

}  // namespace cuda
}  // namespace rwkv
