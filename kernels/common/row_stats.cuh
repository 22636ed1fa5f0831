// kernels/common/row_stats.cuh: the LayerNorm statistics of one row of the residual stream,
// shared by kernels/layernorm.cu, kernels/layer_prologue.cu and kernels/gemv.cu (`LN` in
// docs/rwkv-math.md section 1).
#pragma once

#include "kernels/common/block_reduce.cuh"
#include "kernels/common/dtype_io.cuh"

namespace rwkv_kernels {

// Adds the delta row `dr` (when not null) into the row `xr` of C floats, in place, then returns the
// row's mean and 1 / sqrt(variance + eps), two-pass over the block: thread t owns the VEC-channel
// chunks t, t + blockDim.x, ... (the ones it re-reads afterwards). `scratch`: 33 floats of shared
// memory for block_sum.
template <int VEC, class TD>
__device__ __forceinline__ void residual_row_stats(float* xr, const TD* dr, int C, float eps, float* scratch,
                                                   float& mean, float& rstd) {
  const int nchunks = C / VEC;
  float sum = 0.0f;
  for (int c = threadIdx.x; c < nchunks; c += blockDim.x) {
    float v[VEC];
    load_vec<VEC>(xr + c * VEC, v);
    if (dr != nullptr) {
      float d[VEC];
      load_vec<VEC>(dr + c * VEC, d);
#pragma unroll
      for (int e = 0; e < VEC; ++e) v[e] += d[e];
      store_vec<VEC>(xr + c * VEC, v);
    }
#pragma unroll
    for (int e = 0; e < VEC; ++e) sum += v[e];
  }
  mean = block_sum(sum, scratch) / (float)C;
  float sq = 0.0f;
  for (int c = threadIdx.x; c < nchunks; c += blockDim.x) {
    float v[VEC];
    load_vec<VEC>(xr + c * VEC, v);
#pragma unroll
    for (int e = 0; e < VEC; ++e) {
      const float d = v[e] - mean;
      sq += d * d;
    }
  }
  rstd = rsqrtf(block_sum(sq, scratch) / (float)C + eps);
}

// The statistics of the row `xr` alone (no residual add: nothing is written), as above.
template <int VEC>
__device__ __forceinline__ void layer_norm_stats(const float* xr, int C, float eps, float* scratch, float& mean,
                                                 float& rstd) {
  residual_row_stats<VEC>(const_cast<float*>(xr), static_cast<const float*>(nullptr), C, eps, scratch, mean, rstd);
}

}  // namespace rwkv_kernels
