// kernels/common/head_reduce.cuh: a sum over the N threads of a block that owns
// one head (N = 8 .. 64 threads, one per channel), for .cu files only.
#pragma once
#include "kernels/common/cuda_compat.cuh"

namespace rwkv_kernels {

// Every one of the block's N threads must call it; every thread gets the total.
// N <= 32: shuffles within the (partial) warp. N = 64: two warps combine
// through `scratch` (__shared__ float[2]), with a barrier before (the previous
// call's readers are done) and after (the partials are written).
template <int N>
__device__ __forceinline__ float head_sum(float v, float* scratch) {
  constexpr unsigned kMask = N >= 32 ? 0xffffffffu : ((1u << N) - 1u);
  constexpr int kWidth = N >= 32 ? 32 : N;
#pragma unroll
  for (int o = kWidth / 2; o > 0; o >>= 1) v += __shfl_xor_sync(kMask, v, o);
  if constexpr (N <= 32) {
    return v;
  } else {
    static_assert(N == 64, "head_sum supports N = 8, 16, 32, 64");
    __syncthreads();
    if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = v;
    __syncthreads();
    return scratch[0] + scratch[1];
  }
}

__device__ __forceinline__ float sigmoidf_(float x) { return 1.0f / (1.0f + __expf(-x)); }

}  // namespace rwkv_kernels
