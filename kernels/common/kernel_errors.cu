// kernels/common/kernel_errors.cu: turns the status of a launch into a message.
#include "kernels/common/kernel_errors.cuh"

#include <cstdio>

namespace rwkv_kernels {

const char* launch_status_name(cudaError_t e) { return cudaGetErrorName(e); }

}  // namespace rwkv_kernels
