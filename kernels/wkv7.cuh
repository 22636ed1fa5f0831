// kernels/wkv7.cuh: the fused RWKV-7 time-mix core (docs/rwkv-math.md section 6.3):
// decay, key normalisation and replacement, value residual, the generalised
// delta-rule recurrence over every token of every sequence, GroupNorm, the
// per-head bonus and the gate, in one launch. The projections around it are
// cuBLAS GEMMs (runtime/cuda/).
//
// Host declarations only; the kernel is in wkv7.cu.
#pragma once
#include <cstddef>

#include "kernels/common/cuda_compat.cuh"
#include "kernels/common/ragged_batch.cuh"
#include "kernels/common/split_parts.h"
#include "runtime/core/dtype.h"

namespace rwkv_kernels {

struct wkv7_params {
  ragged_batch batch;
  size_t kv_offset = 0;  // floats from a state's start to this layer's att.kv [H][N][N], [h][value][key]
                         // (16-byte state accesses when state[s] + kv_offset is 16-byte aligned:
                         // keep kv_offset % 4 == 0 and the state buffers 16-byte aligned)
  rwkv::DType state_dtype = rwkv::DType::f32;  // of att.kv: f32, or bf16 (H*N*N bf16 at kv_offset;
                                               // loaded to fp32, rounded to nearest even on store)
  int H = 0;
  int N = 0;             // head size: 8, 16, 32 or 64

  // Per-token inputs, fp32 [rows, H*N] (GEMM outputs).
  const float* r = nullptr;       // receptance
  const float* k = nullptr;       // key (before normalisation and replacement)
  const float* v = nullptr;       // value (before the value residual)
  const float* w_lora = nullptr;  // tanh(x_w w1) w2
  const float* a_lora = nullptr;  // (x_a a1) a2
  const float* v_lora = nullptr;  // (x_v v1) v2; unused in layer 0
  const float* g = nullptr;       // sigmoid(x_g g1) g2
  float* v_first = nullptr;       // [rows, H*N]: written by layer 0, read by the others
  bool first_layer = false;

  // Per-channel parameters, fp32 [H*N].
  const float* w0 = nullptr;
  const float* a0 = nullptr;
  const float* v0 = nullptr;   // unused in layer 0
  const float* k_k = nullptr;
  const float* k_a = nullptr;
  const float* r_k = nullptr;  // [H, N]
  const float* ln_w = nullptr; // ln_x.weight
  const float* ln_b = nullptr; // ln_x.bias
  float gn_eps = 64e-5f;

  void* out = nullptr;         // [rows, H*N] in out_dtype: ((GN(y) + bonus * v) * g), input of att.output
  rwkv::DType out_dtype = rwkv::DType::f32;

  // wkv7_chunked_forward at N = 32, 64 only: fp32 scratch of wkv7_chunked_scratch_floats(rows, H, N)
  // (kernels/wkv7_chunked.cuh); wkv7_forward does not read it.
  float* chunk_scratch = nullptr;
  // wkv7_chunked_forward at N = 32, 64: how many blocks of pass 2 the device runs at once; its
  // shape is cut into as many key slices as fit them (wkv7_chunk_carry_slices); -1: two per SM of
  // the current device; 0: never cut (a block per head).
  int carry_split_slots = -1;
  // wkv7_chunked_forward at N = 32, 64: the bf16 parts of each tensor-core operand
  // (kernels/common/mma_split.cuh): 3, fp32-accurate; 2, for runs with bf16 or fp16 activations
  // (about 2^-16 a product, half the products). Anything else is cudaErrorInvalidValue there.
  int split_parts = kSplitFp32;
};

// Whether p has every pointer its layer needs and a supported state dtype (the head size is
// checked by the launch).
bool wkv7_params_valid(const wkv7_params& p);

// Enqueues the kernel; cudaErrorInvalidValue for an unsupported N or a missing pointer.
cudaError_t wkv7_forward(const wkv7_params& p, cudaStream_t stream);

}  // namespace rwkv_kernels
