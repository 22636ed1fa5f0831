// kernels/common/cuda_compat.cuh: one kernel source, two compilers.
//
// Under nvcc this is plain CUDA. Under a host compiler (the `emu` build) the
// CUDA built-ins come from the SIMT emulator (cuda_emu/include/cuda_emu/device.h).
// Kernels use exactly two spellings that differ from textbook CUDA:
//   LAUNCH_KERNEL(kernel, grid, block, smem_bytes, stream, args...)
//   DYNAMIC_SHARED(type, name);     // `extern __shared__ type name[]`
// A template kernel is launched through a pointer variable:
//   auto* k = my_kernel<float, 64>;  LAUNCH_KERNEL(k, ...);
#pragma once

#if defined(__CUDACC__)
#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#define RWKV_EMULATED 0
#define LAUNCH_KERNEL(kernel, grid, block, smem, stream, ...) \
  kernel<<<(grid), (block), (smem), (stream)>>>(__VA_ARGS__)
#define DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#elif defined(RWKV_CUDA_EMU)
#include "cuda_emu/device.h"
#define RWKV_EMULATED 1
#define LAUNCH_KERNEL(kernel, grid, block, smem, stream, ...) \
  ::cuda_emu::launch(#kernel, kernel, (grid), (block), (smem), (stream), __VA_ARGS__)
#define DYNAMIC_SHARED(type, name) \
  type* name = reinterpret_cast<type*>(::cuda_emu::tls_ctx->dyn_smem)
#else
// Host code of the real CUDA build (e.g. runtime/cuda/*.cpp including a
// launcher header): declarations only; kernels are compiled by nvcc.
#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#define RWKV_EMULATED 0
#endif

#if defined(__CUDACC__) || defined(RWKV_CUDA_EMU)
namespace rwkv_kernels {
// threadIdx.x, read anew where this is called. Under nvcc an asm volatile, which the compiler can
// neither hoist nor merge with an earlier read: a kernel at its register cap then recomputes what
// it derives from the index after a long phase instead of holding (or spilling) it through that
// phase (kernels/wkv7_chunked.cu, pass 1's phase 5). Emulated: threadIdx.x.
__device__ __forceinline__ int thread_index_fresh() {
#if RWKV_EMULATED
  return (int)threadIdx.x;
#else
  unsigned index;
  asm volatile("mov.u32 %0, %%tid.x;" : "=r"(index));
  return (int)index;
#endif
}
}  // namespace rwkv_kernels
#endif
