// kernels/gemv.cuh: grouped skinny GEMM (GEMV) for rounds of at most kGemvMaxRows rows, with
// fused epilogues; the decode path's projections (runtime/cuda/layer.h).
//
// One launch runs up to kGemvMaxTasks independent products
//   acc[m, n] = sum_k W[n, k] * X[m, k]      m < M, n < N (fp32 accumulation)
// each with its own matrix W ([N, K] row-major, the layout of runtime/cuda/gemm.h), input X
// (rows ldx elements apart), output Y (rows ldy elements apart) and epilogue:
//   store      Y = acc                              (y_dtype)
//   tanh       Y = tanh(acc)                        (y_dtype)
//   sigmoid    Y = sigmoid(acc)                     (y_dtype)
//   silu       Y = acc * sigmoid(acc)               (y_dtype)
//   relu_sq    Y = max(acc, 0)^2                    (y_dtype f32 or bf16; f16 is refused: it
//                                                    overflows above 256)
//   add        Y += acc                             (Y fp32: a residual add)
//   mul_add    Y += aux[m, n] * acc                 (Y, aux fp32, aux rows ldy apart: the v4-v6
//                                                    channel mix's sigmoid(r) * value)
//   lerp       Y = a + (b - a) * (mu[n] + acc)      (a = aux, b = aux2, fp32 rows ldy apart;
//                                                    y_dtype: the v6 data-dependent token shift)
// With p.store_state, the lerp task 0 also stores, when m is its sequence's last row (p.batch), the
// sequence's state[store_state_offset + n] = a (the v6 decode's shift-state store, in the launch
// after the one that read the old state).
// All tasks of a launch share M, W's dtype and X's dtype (W's dtype or fp32).
//
// Quantized weights (gemv_task::weights int8 or q4, docs/quantization.md; the layout of
// runtime/quant/quant_format.h): W is then the packed values [N, K] (int8: K bytes a row; q4: K / 2,
// element 2j in the low nibble of byte j), `scale` and `min` fp16 [N, K / group]; the
// product is acc = sum_k (q[n, k] * scale[n, g] + min[n, g]) * X[m, k] with g = k / group,
// dequantized in registers (gemv_quant_kernel in gemv.cu). Then every task of the launch has the same
// kind (a model is quantized in one kind or not at all), w_dtype names the dense dtype the
// activations use (X is in w_dtype or fp32, as for dense weights; the transform rounds to w_dtype),
// K is a multiple of the task's group, the group a multiple of 32, W and X 16-byte aligned and ldx a
// multiple of 16 / sizeof(X's dtype) (quantized products have no element-wise path). Every epilogue,
// the transform and store_state work alike.
//
// Optional input transform (gemv_ln_mix, the v6 decode's maa_w1; docs/rwkv-math.md sections 1,
// 5.2): every task's input row m is then, instead of X,
//   cur[m]  = LN(x[m]; ln_w, ln_b, eps)    (kernels/common/row_stats.cuh, as layer_prologue.cu;
//                                           both in 8-channel chunks or both element-wise: the
//                                           same statistics bit for bit)
//   prev[m] = m is its sequence's first row ? state[seq][state_offset + :] : cur[m - 1]
//   in[m]   = cur + (prev - cur) * mu, rounded to x_dtype (what the prologue stored)
// and cur, prev go to cur_out, prev_out (fp32) for a later launch. Every block computes the LN
// statistics of all M rows itself; row m's cur and prev are written by one thread group, so no
// block waits for another. The state is only read here.
//
// Host declarations only; the kernel is in gemv.cu.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/common/ragged_batch.cuh"
#include "runtime/core/dtype.h"

namespace rwkv_kernels {

constexpr int kGemvMaxTasks = 8;
constexpr int kGemvMaxRows = 16;

enum class gemv_epilogue : int { store = 0, tanh, sigmoid, silu, relu_sq, add, mul_add, lerp };

// How a task's W holds its values: dense (the launch's w_dtype) or quantized.
enum class gemv_weights : int { dense = 0, int8, q4 };

struct gemv_task {
  const void* W = nullptr;    // [N, K] row-major in the launch's w_dtype
  const void* X = nullptr;    // [M, K] rows ldx elements apart, in the launch's x_dtype
  void* Y = nullptr;          // [M, N] rows ldy elements apart
  int N = 0, K = 0, ldx = 0, ldy = 0;
  gemv_epilogue epilogue = gemv_epilogue::store;
  rwkv::DType y_dtype = rwkv::DType::f32;  // store / activations / lerp; add and mul_add: f32
  const float* aux = nullptr;   // mul_add: the gate; lerp: a (the current token)
  const float* aux2 = nullptr;  // lerp: b (the previous token)
  const float* mu = nullptr;    // lerp: [N]
  // Quantized W (see above): the kind, fp16 scales and offsets [N, K / group], the group.
  gemv_weights weights = gemv_weights::dense;
  const uint16_t* scale = nullptr;
  const uint16_t* min = nullptr;
  int group = 0;
};

// The input transform: every task's K is the row width, its X and ldx are not read.
struct gemv_ln_mix {
  const float* x = nullptr;      // [M, K] fp32 residual stream (rows K apart); null: no transform
  const float* ln_w = nullptr;   // [K] fp32
  const float* ln_b = nullptr;   // [K] fp32
  float eps = 1e-5f;
  const float* mu = nullptr;     // [K] fp32 mix factors
  size_t state_offset = 0;       // floats from a state's start to the previous token x_prev [K]
  float* cur_out = nullptr;      // [M, K] fp32
  float* prev_out = nullptr;     // [M, K] fp32
};

struct gemv_params {
  int M = 0;                         // rows, 0..kGemvMaxRows (0: nothing to do)
  int n_tasks = 0;                   // 1..kGemvMaxTasks
  rwkv::DType w_dtype = rwkv::DType::f32;
  rwkv::DType x_dtype = rwkv::DType::f32;  // w_dtype or f32
  gemv_task task[kGemvMaxTasks];
  ragged_batch batch;                // the rows' sequences: the transform and the state store only
  gemv_ln_mix ln_mix;
  bool store_state = false;          // task 0 (lerp) also stores a into the state
  size_t store_state_offset = 0;     // floats from a state's start to the row it writes
};

// Enqueues the grouped product on `stream`. Returns cudaErrorInvalidValue for M outside
// 0..kGemvMaxRows, n_tasks outside 1..kGemvMaxTasks, an x_dtype that is neither w_dtype nor
// f32, a task with N, K < 1, ldx < K, ldy < N, a null pointer, relu_sq into f16, add/mul_add
// into a non-f32 Y, or a Y overlapping its W, X or aux; store_state with a task 0 that is not
// lerp, with an x_dtype other than w_dtype or without a batch of M rows; a transform with a null pointer, without a batch of M rows, with
// tasks of different K, an x_dtype other than w_dtype, or outputs (Y, cur_out, prev_out)
// overlapping each other or x; tasks of different weight kinds, or a quantized task breaking the
// conditions above; otherwise the launch status.
cudaError_t gemv(const gemv_params& p, cudaStream_t stream);

}  // namespace rwkv_kernels
