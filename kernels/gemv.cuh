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
// All tasks of a launch share M, W's dtype and X's dtype (W's dtype or fp32).
//
// Host declarations only; the kernel is in gemv.cu.
#pragma once
#include <cuda_runtime.h>

#include "runtime/core/dtype.h"

namespace rwkv_kernels {

constexpr int kGemvMaxTasks = 8;
constexpr int kGemvMaxRows = 16;

enum class gemv_epilogue : int { store = 0, tanh, sigmoid, silu, relu_sq, add, mul_add, lerp };

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
};

struct gemv_params {
  int M = 0;                         // rows, 0..kGemvMaxRows (0: nothing to do)
  int n_tasks = 0;                   // 1..kGemvMaxTasks
  rwkv::DType w_dtype = rwkv::DType::f32;
  rwkv::DType x_dtype = rwkv::DType::f32;  // w_dtype or f32
  gemv_task task[kGemvMaxTasks];
};

// Enqueues the grouped product on `stream`. Returns cudaErrorInvalidValue for M outside
// 0..kGemvMaxRows, n_tasks outside 1..kGemvMaxTasks, an x_dtype that is neither w_dtype nor
// f32, a task with N, K < 1, ldx < K, ldy < N, a null pointer, relu_sq into f16, add/mul_add
// into a non-f32 Y, or a Y overlapping its W, X or aux; otherwise the launch status.
cudaError_t gemv(const gemv_params& p, cudaStream_t stream);

}  // namespace rwkv_kernels
