// kernels/common/gemv_dot.cuh: the summation order of kernels/gemv.cu's products, for kernels
// that compute a few of the same dot products themselves and must give the GEMV's bits (the v6
// decode's fused decay LoRA in kernels/wkv5.cu).
//
// gemv_kernel splits a row of K elements into K / VEC chunks; the G threads of a group
// (G = gemv_group_threads(chunks)) each sum the chunks j, j + G, ... with fmaf, element by element;
// the G partials are then added four columns at a time (s[q % 4] += partial q, then
// (s0 + s1) + (s2 + s3)) when G >= 4, else one after another.
#pragma once

#include "kernels/common/dtype_io.cuh"

namespace rwkv_kernels {

constexpr int kGemvGroupMaxThreads = 256;  // gemv.cu's block

// Threads that share one output row of a GEMV task of `chunks` vector chunks: chunks / 2 rounded
// down to a power of two, 1..256 (two chunks per thread at least, so that loads overlap).
constexpr int gemv_group_threads(int chunks) {
  int g = 1;
  while (g * 2 <= chunks / 2 && g * 2 <= kGemvGroupMaxThreads) g *= 2;
  return g;
}

// Partial j of a group of G threads: fmaf over the chunks j, j + G, ... element by element.
template <int VEC, class TW, class TX>
__device__ __forceinline__ float gemv_group_partial(const TW* __restrict__ w, const TX* __restrict__ x, int chunks,
                                                    int G, int j) {
  float partial = 0.0f;
  for (int c = j; c < chunks; c += G) {
    float wv[VEC], xv[VEC];
    load_vec<VEC>(w + (size_t)c * VEC, wv);
    load_vec<VEC>(x + (size_t)c * VEC, xv);
#pragma unroll
    for (int e = 0; e < VEC; ++e) partial = fmaf(wv[e], xv[e], partial);
  }
  return partial;
}

// sum_k w[k] * x[k] over K elements (K % VEC == 0; 16-byte loads when VEC * sizeof(T) == 16) in
// gemv_kernel's order: one thread computes every partial of the group in turn.
template <int VEC, class TW, class TX>
__device__ __forceinline__ float gemv_ordered_dot(const TW* __restrict__ w, const TX* __restrict__ x, int K) {
  const int chunks = K / VEC, G = gemv_group_threads(chunks);
  if (G < 4) {
    float sum = 0.0f;
    for (int j = 0; j < G; ++j) sum += gemv_group_partial<VEC>(w, x, chunks, G, j);
    return sum;
  }
  float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;  // the reduction's float4 columns
  for (int j = 0; j < G; j += 4) {
    s0 += gemv_group_partial<VEC>(w, x, chunks, G, j);
    s1 += gemv_group_partial<VEC>(w, x, chunks, G, j + 1);
    s2 += gemv_group_partial<VEC>(w, x, chunks, G, j + 2);
    s3 += gemv_group_partial<VEC>(w, x, chunks, G, j + 3);
  }
  return (s0 + s1) + (s2 + s3);
}

}  // namespace rwkv_kernels
