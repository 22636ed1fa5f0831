// kernels/common/kernel_errors.cuh: status helpers shared by the launchers.
#pragma once
#include "kernels/common/cuda_compat.cuh"

namespace rwkv_kernels {

// The name of a CUDA status ("cudaErrorInvalidValue"), for messages.
const char* launch_status_name(cudaError_t e);

// Every launcher ends with this: the launch's own status, cleared.
inline cudaError_t launch_status() { return cudaGetLastError(); }

}  // namespace rwkv_kernels
