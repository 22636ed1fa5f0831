// kernels/common/block_reduce.cuh: fp32 sums over a warp and over a block, for .cu files only.
//
// defines:
//   warp_sum(v)                 butterfly sum over the 32 lanes; every lane gets the total
//   block_sum(v, scratch)       sum over the block; every thread gets the total
#pragma once
#include "kernels/common/cuda_compat.cuh"

namespace rwkv_kernels {

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// Block-wide sum. blockDim.x must be a multiple of 32 (at most 1024) and every thread of the
// block must call it. Each warp reduces with shuffles, lane 0 stores the warp's partial, then
// warp 0 alone shuffles the partials and publishes the total. `scratch` is __shared__ float[33];
// it may be reused right after the call (the trailing barrier orders the reads before any
// later write).
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int nwarps = blockDim.x >> 5;
  v = warp_sum(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  if (warp == 0) {
    float t = lane < nwarps ? scratch[lane] : 0.0f;
    t = warp_sum(t);
    if (lane == 0) scratch[32] = t;
  }
  __syncthreads();
  const float total = scratch[32];
  __syncthreads();
  return total;
}

}  // namespace rwkv_kernels
