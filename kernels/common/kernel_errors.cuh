// kernels/common/kernel_errors.cuh: status helpers shared by the launchers (header only).
#pragma once
#include <cstddef>

#include "kernels/common/cuda_compat.cuh"

namespace rwkv_kernels {

// Every launcher ends with this: the launch's own status, cleared.
inline cudaError_t launch_status() { return cudaGetLastError(); }

// True when the byte ranges [a, a + abytes) and [b, b + bbytes) share a byte
// (null pointers overlap nothing): launchers refuse outputs aliasing inputs.
inline bool overlaps(const void* a, size_t abytes, const void* b, size_t bbytes) {
  if (a == nullptr || b == nullptr) return false;
  const char* pa = static_cast<const char*>(a);
  const char* pb = static_cast<const char*>(b);
  return pa < pb + bbytes && pb < pa + abytes;
}

}  // namespace rwkv_kernels
