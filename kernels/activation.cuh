// kernels/activation.cuh: element-wise activations between GEMMs.
//
// activation(): fp32 GEMM output [rows, width] -> activation -> out_dtype, by
// column segments, e.g. the v7 LoRA middles [tanh | id | id | sigmoid]
// (docs/rwkv-math.md section 6.3), the v6 tanh of time_maa_w1 / time_decay_w1 (5.2), or
// relu^2 of the channel-mix key (3.4, 6.4).
// gate_mul(): out = sigmoid(r) * v, or out += sigmoid(r) * v, in fp32 (channel mix of v4/v5/v6,
// 3.4, 5.3).
//
// Host declarations only; the kernels are in activation.cu.
#pragma once

#include "kernels/common/cuda_compat.cuh"
#include "runtime/core/dtype.h"

namespace rwkv_kernels {

enum class act_kind : int { identity = 0, tanh = 1, sigmoid = 2, relu_sq = 3 };
constexpr int kActivationMaxSegments = 4;

struct activation_params {
  const float* in = nullptr;   // [rows, width] fp32, row stride `width`
  void* out = nullptr;         // [rows, width] in out_dtype (may not alias `in` unless both fp32)
  rwkv::DType out_dtype = rwkv::DType::f32;
  int rows = 0;
  int width = 0;
  int n_seg = 1;               // segments cover the row left to right
  int seg_width[kActivationMaxSegments] = {};
  act_kind seg_act[kActivationMaxSegments] = {};
};

cudaError_t activation(const activation_params& p, cudaStream_t stream);

// out[i] = sigmoid(r[i]) * v[i], n elements, fp32; with `accumulate`, out[i] += sigmoid(r[i]) * v[i]
// (the product rounded first, then the sum: the prefill rounds add the gated value into the
// residual stream). out must not overlap r or v.
cudaError_t gate_mul(const float* r, const float* v, float* out, size_t n, cudaStream_t stream,
                     bool accumulate = false);

}  // namespace rwkv_kernels
