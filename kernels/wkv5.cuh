// kernels/wkv5.cuh: the fused RWKV-5 / RWKV-6 time-mix core (docs/rwkv-math.md
// sections 4.4, 5.2): the WKV recurrence with the bonus u over every token of
// every sequence, per-head GroupNorm, and the SiLU gate (5.1+, 6).
//
// Host declarations only; the kernel is in wkv5.cu.
#pragma once
#include <cstddef>

#include "kernels/common/cuda_compat.cuh"
#include "kernels/common/ragged_batch.cuh"
#include "kernels/common/split_parts.h"
#include "runtime/core/dtype.h"

namespace rwkv_kernels {

constexpr int kWkv5MaxLoraRows = 16;  // rows of a launch that computes its decays (decay_w2 set)

struct wkv5_params {
  ragged_batch batch;
  size_t kv_offset = 0;  // floats from a state's start to this layer's att.kv [H][N][N], [h][key][value]
                         // (16-byte state accesses when state[s] + kv_offset is 16-byte aligned:
                         // keep kv_offset % 4 == 0 and the state buffers 16-byte aligned)
  rwkv::DType state_dtype = rwkv::DType::f32;  // of att.kv: f32, or bf16 (H*N*N bf16 at kv_offset;
                                               // loaded to fp32, rounded to nearest even on store)
  int H = 0;
  int N = 0;             // head size: 8, 16, 32 or 64

  // Per-token inputs, fp32 [rows, H*N] (GEMM outputs).
  const float* r = nullptr;
  const float* k = nullptr;
  const float* v = nullptr;
  const float* g = nullptr;       // gate pre-activation (silu applied here); null: no gate (5.0)
  // Decay, fp32 [H*N]: v5: the per-step factor exp(-exp(time_decay)), constant over tokens.
  // v6 (w_lora given): time_decay itself; the factor of a token is exp(-exp(decay + w_lora[row])).
  const float* decay = nullptr;
  const float* w_lora = nullptr;  // v6: tanh(x_w decay_w1) decay_w2, fp32 [rows, H*N]; null for v5
  // v6 decode instead of w_lora (then null): the kernel computes w_lora itself before the
  // recurrence, w_lora[row, c] = sum_k lora_act[row, k] * decay_w2[c, k] in fp32, in the order of
  // kernels/gemv.cu (the bits of the GEMV it replaces: kernels/common/gemv_dot.cuh). At most
  // kWkv5MaxLoraRows rows in the batch (batch.n_rows).
  const void* lora_act = nullptr;  // tanh(x_w decay_w1), [rows, Dd] in out_dtype (the model's dtype)
  const void* decay_w2 = nullptr;  // [H*N, Dd] row-major in out_dtype
  int Dd = 0;                      // the decay LoRA's width
  const float* u = nullptr;       // bonus, fp32 [H*N] (exp(time_first) or time_faaaa)
  const float* ln_w = nullptr;    // ln_x.weight, fp32 [H*N]
  const float* ln_b = nullptr;
  float gn_eps = 64e-5f;

  void* out = nullptr;            // [rows, H*N] in out_dtype: GN(y) (* silu(g)), input of att.output
  rwkv::DType out_dtype = rwkv::DType::f32;
  // wkv5_chunked_forward only: the bf16 parts of each tensor-core operand
  // (kernels/common/mma_split.cuh): 3, fp32-accurate; 2, for runs with bf16 or fp16 activations.
  int split_parts = kSplitFp32;
};

// Enqueues the kernel on `stream`. Returns cudaErrorInvalidValue for a missing required pointer, a
// head size that is not built, both w_lora and decay_w2 set, or decay_w2 without lora_act, with
// Dd < 1 or with more than kWkv5MaxLoraRows rows; cudaSuccess without launching for no sequence;
// otherwise the launch status.
cudaError_t wkv5_forward(const wkv5_params& p, cudaStream_t stream);

}  // namespace rwkv_kernels
