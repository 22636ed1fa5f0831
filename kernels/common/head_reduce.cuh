// kernels/common/head_reduce.cuh: sums over the threads of a head (N = 8 .. 64 threads, one per
// channel), the GroupNorm statistics of a head, and the state row loads of the WKV kernels; for
// .cu files only.
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

// ---- helpers of the WKV kernels (kernels/wkv5.cu, kernels/wkv7.cu) ----------------------------
// Their blocks hold 64 / N heads of N threads (N = 8, 16, 32: a head inside one warp; N = 64: a
// head over both warps), and every thread of the block runs every collective below.

// Sum over each aligned group of W consecutive lanes (W a power of two <= 32): full-warp xor
// shuffles, so groups of several heads in one warp reduce side by side. Every lane gets its
// group's total.
template <int W>
__device__ __forceinline__ float lane_group_sum(float v) {
  static_assert(W >= 1 && W <= 32 && (W & (W - 1)) == 0, "W: a power of two <= 32");
#pragma unroll
  for (int o = W / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Mean and sum of squared deviations (M2) of a group of values.
struct MeanM2 {
  float mean, m2;
};

// Two-pass statistics over each aligned group of W lanes (one value per lane).
template <int W>
__device__ __forceinline__ MeanM2 lane_group_mean_m2(float y) {
  const float mean = lane_group_sum<W>(y) * (1.0f / W);
  const float d = y - mean;
  return {mean, lane_group_sum<W>(d * d)};
}

// Statistics of the union of two groups of n values each (the pairwise update of Chan, Golub
// and LeVeque): the two-pass result without a second pass over the data.
__device__ __forceinline__ MeanM2 merge_equal_groups(MeanM2 a, MeanM2 b, float n) {
  const float delta = b.mean - a.mean;
  return {0.5f * (a.mean + b.mean), a.m2 + b.m2 + delta * delta * (0.5f * n)};
}

// GroupNorm statistics of y over a head of N threads (the WKV kernels). N <= 32: the head is a
// lane group of one warp; N = 64: each warp's statistics meet in shared memory (`sh.stats[2]`, of
// the kernel's shared struct) behind one barrier and are merged pairwise.
template <int N, class Shared>
__device__ __forceinline__ MeanM2 head_stats(float y, Shared& sh) {
  if constexpr (N <= 32) {
    return lane_group_mean_m2<N>(y);
  } else {
    const MeanM2 mine = lane_group_mean_m2<32>(y);
    if ((threadIdx.x & 31) == 0) sh.stats[threadIdx.x >> 5] = mine;
    __syncthreads();
    return merge_equal_groups(sh.stats[0], sh.stats[1], 32.0f);
  }
}

// Channels a lane holds when one warp holds a head of N <= 64 channels: l and l + 32 (those
// below N).
template <int N>
constexpr int kWarpHeadPer = N > 32 ? 2 : 1;

// GroupNorm of a head held by one warp as above (y zero beyond N): y becomes
// (y - mean) * rsqrt(var + eps), two passes over the registers (the chunked WKV kernels' GroupNorm,
// kernels/wkv5_chunked.cu and kernels/wkv7_chunked.cu). All 32 lanes must call it.
template <int N>
__device__ __forceinline__ void warp_head_norm(float (&y)[kWarpHeadPer<N>], float eps) {
  const int lane = (int)(threadIdx.x & 31);
  float sum = 0.0f;
#pragma unroll
  for (int z = 0; z < kWarpHeadPer<N>; ++z) sum += y[z];
  const float mean = lane_group_sum<32>(sum) * (1.0f / N);
  float m2 = 0.0f;
#pragma unroll
  for (int z = 0; z < kWarpHeadPer<N>; ++z) {
    const float d = lane + 32 * z < N ? y[z] - mean : 0.0f;
    m2 = fmaf(d, d, m2);
  }
  const float inv = rsqrtf(lane_group_sum<32>(m2) * (1.0f / N) + eps);
#pragma unroll
  for (int z = 0; z < kWarpHeadPer<N>; ++z) y[z] = (y[z] - mean) * inv;
}

// Tells nvcc that p points to global memory. A state pointer is read from a device array, so the
// compiler cannot infer its space and would emit generic accesses; with this, global ones.
__device__ __forceinline__ void assume_global(const void* p) {
#if defined(__CUDACC__)
  __builtin_assume(__isGlobal(p));
#else
  (void)p;
#endif
}

// True when p may be read and written with 16-byte accesses.
__device__ __forceinline__ bool is_aligned16(const void* p) {
  return (reinterpret_cast<unsigned long long>(p) & 15ull) == 0;
}

// CNT consecutive floats (CNT % 4 == 0) from p into registers: CNT / 4 independent 16-byte loads,
// all issued before any use, when `vec` (p 16-byte aligned); CNT independent 4-byte loads
// otherwise (a state at an unaligned offset).
template <int CNT>
__device__ __forceinline__ void load_floats(const float* __restrict__ p, float* out, bool vec) {
  static_assert(CNT % 4 == 0, "CNT: a multiple of 4");
  if (vec) {
#pragma unroll
    for (int q = 0; q < CNT / 4; ++q) {
      const float4 f = reinterpret_cast<const float4*>(p)[q];
      out[4 * q] = f.x;
      out[4 * q + 1] = f.y;
      out[4 * q + 2] = f.z;
      out[4 * q + 3] = f.w;
    }
  } else {
#pragma unroll
    for (int e = 0; e < CNT; ++e) out[e] = p[e];
  }
}

// The inverse of load_floats.
template <int CNT>
__device__ __forceinline__ void store_floats(float* __restrict__ p, const float* in, bool vec) {
  static_assert(CNT % 4 == 0, "CNT: a multiple of 4");
  if (vec) {
#pragma unroll
    for (int q = 0; q < CNT / 4; ++q)
      reinterpret_cast<float4*>(p)[q] = make_float4(in[4 * q], in[4 * q + 1], in[4 * q + 2], in[4 * q + 3]);
  } else {
#pragma unroll
    for (int e = 0; e < CNT; ++e) p[e] = in[e];
  }
}

// Four consecutive floats of shared memory (16-byte aligned) as one 16-byte load.
__device__ __forceinline__ float4 shared_float4(const float* p) { return *reinterpret_cast<const float4*>(p); }

}  // namespace rwkv_kernels
