// kernels/common/wkv7_token.cuh: one channel's per-token inputs and per-channel parameters of the
// RWKV-7 time-mix core (wkv7_params), shared by kernels/wkv7.cu and kernels/wkv7_chunked.cu; for
// .cu files only.
#pragma once
#include <cstddef>

#include "kernels/common/cuda_compat.cuh"
#include "kernels/wkv7.cuh"

namespace rwkv_kernels {

// Per-channel parameters, constant over the call.
struct Wkv7Channel {
  float w0, a0, v0, k_k, k_a, r_k, ln_w, ln_b;
};

// One token's inputs for one channel.
struct Wkv7Token {
  float r, k, v, w_lora, a_lora, v_lora, g, v_first;
};

__device__ __forceinline__ Wkv7Token load_token(const wkv7_params& p, size_t at) {
  Wkv7Token t;
  const float* __restrict__ r = p.r;
  const float* __restrict__ k = p.k;
  const float* __restrict__ v = p.v;
  const float* __restrict__ w_lora = p.w_lora;
  const float* __restrict__ a_lora = p.a_lora;
  const float* __restrict__ g = p.g;
  const float* __restrict__ v_first = p.v_first;
  t.r = r[at];
  t.k = k[at];
  t.v = v[at];
  t.w_lora = w_lora[at];
  t.a_lora = a_lora[at];
  t.g = g[at];
  t.v_lora = 0.0f;
  t.v_first = 0.0f;
  if (!p.first_layer) {
    const float* __restrict__ v_lora = p.v_lora;
    t.v_lora = v_lora[at];
    t.v_first = v_first[at];
  }
  return t;
}

__device__ __forceinline__ Wkv7Channel load_channel(const wkv7_params& p, int c) {
  return {p.w0[c], p.a0[c], p.first_layer ? 0.0f : p.v0[c], p.k_k[c], p.k_a[c], p.r_k[c], p.ln_w[c], p.ln_b[c]};
}

}  // namespace rwkv_kernels
