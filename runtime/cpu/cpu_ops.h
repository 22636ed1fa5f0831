// runtime/cpu/cpu_ops.h: the numeric building blocks of the CPU reference
// backend: linear layers (fp32 sums over fp32, fp16, bf16 or quantized
// weights: OpenBLAS and the kernels of dense_kernels.h / quant_kernels.h),
// LayerNorm, GroupNorm and the small scalar functions, written to match
// PyTorch's fp32 definitions.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "runtime/arch/layer_norm.h"
#include "runtime/arch/weights.h"
#include "runtime/cpu/dense_kernels.h"
#include "runtime/cpu/quant_kernels.h"
#include "runtime/cpu/thread_pool.h"

namespace rwkv {
namespace cpu {

// A weight matrix [out, in] applied as y = W x (runtime/arch/weights.h).
using Linear = rwkv::Linear;

// How linear() computes a quantized W (the defaults serve the backend; the
// tests force each variant and a split over the pool's threads).
struct LinearOptions {
  QuantIsa isa = best_quant_isa();
  // M up to this: the fused kernels of quant_kernels.h (each weight byte read
  // once); above: rows dequantized a block at a time, then BLAS. -1: the
  // variant's measured crossover (quant_fused_max_inputs).
  int fused_max_inputs = -1;
  // An int8 W under AVX-512: the products on inputs rounded to int16
  // (quant_kernels.h; above the crossover only where the CPU has VNNI, else
  // rows dequantized then BLAS). false: the fp32 inputs times the exact fp32
  // weights at every M (the fp32-expansion kernels, or dequantize + BLAS),
  // which is what the CUDA backend computes.
  bool int8_rounded_inputs = true;
  // The same for a dense W (fp32, fp16, bf16): up to this M the kernels of
  // dense_kernels.h, above it BLAS (fp16/bf16 rows expanded a block at a
  // time). -1: the measured crossover (dense_fused_max_inputs).
  int dense_fused_max_inputs = -1;
  // The least multiply-adds worth handing to another thread.
  size_t min_macs_per_thread = size_t(1) << 16;
};

// Y[m, :] = W X[m, :] for m < M. X rows are `ldx` floats apart, Y rows `ldy`.
// OpenBLAS runs single-threaded per call; large products are split over
// output rows across the pool, in blocks of a multiple of 16 rows.
void linear(ThreadPool& pool, const Linear& W, const float* X, size_t ldx, size_t M, float* Y,
            size_t ldy, const LinearOptions& options = LinearOptions());

// One product of a group: Y = W X over the group's M inputs, then, when set,
// `after(r0, r1)` on the thread that computed output rows [r0, r1) (columns
// r0..r1-1 of every Y row): the element-wise work a layer fuses into the pass
// that produced its operand (relu^2, a sigmoid gate, the v4 WKV).
struct Product {
  const Linear& W;
  const float* X;
  size_t ldx;
  float* Y;
  size_t ldy;
  std::function<void(int r0, int r1)> after = {};
};

// The most products one group takes.
constexpr size_t kMaxGroupProducts = 4;

// The products of `group` in one hand-off to the pool (one instead of one
// each; they are independent, e.g. the K, V and R projections of a layer).
// Every product's rows are cut into the same number of blocks, multiples of
// 16 rows, and block b of every product runs on one thread in the group's
// order; so the `after` of a product may read rows [r0, r1) of the products
// before it with the same `out`. Each product computes exactly what linear()
// computes for it.
void linear_group(ThreadPool& pool, size_t M, const Product* group, size_t n_products,
                  const LinearOptions& options = LinearOptions());

// A dense (fp32 / fp16 / bf16) W as the kernels of dense_kernels.h see it.
DenseView dense_view(const Linear& W);

// The plain product of output rows [r0, r1), on the calling thread: an fp32 W
// through BLAS; an fp16 / bf16 or quantized W widened 16 rows at a time
// (scalar conversions, QuantView::dequantize_row), then BLAS. The reference
// the fast dense and quantized kernels are tested against.
void linear_rows_reference(const Linear& W, int r0, int r1, const float* X, size_t ldx, size_t M,
                           float* Y, size_t ldy);

// LayerNorm of one row (runtime/arch/layer_norm.h, shared with the load-time
// ln0 fold) and of M rows over the pool.
using rwkv::layer_norm_row;
void layer_norm_rows(ThreadPool& pool, const float* x, size_t M, int n, const float* g,
                     const float* b, float* y);

// GroupNorm of one row of H*N values: each contiguous group of N normalised by
// its own mean and biased variance, then the per-channel affine (docs/rwkv-math.md section 1, GN_H).
void group_norm_row(const float* x, int H, int N, const float* g, const float* b, float eps,
                    float* y);

inline float sigmoidf(float x) { return 1.0f / (1.0f + std::exp(-x)); }
inline float siluf(float x) { return x / (1.0f + std::exp(-x)); }
inline float relu_sq(float x) {
  const float r = x > 0.0f ? x : 0.0f;
  return r * r;
}

// y = f(y) on columns [c0, c1) of each of the M rows of width ld: the
// element-wise `after` of a group's product (linear_group), on the rows the
// thread has just computed.
template <class F>
void map_columns(float* y, size_t M, size_t ld, int c0, int c1, F f) {
  for (size_t m = 0; m < M; ++m)
    for (size_t j = m * ld + size_t(c0); j < m * ld + size_t(c1); ++j) y[j] = f(y[j]);
}

// y *= sigmoid(r) on columns [c0, c1) of each of the M rows of width ld (r
// has the same layout): the receptance gate, as a group product's `after`.
inline void gate_columns(float* y, const float* r, size_t M, size_t ld, int c0, int c1) {
  for (size_t m = 0; m < M; ++m)
    for (size_t j = m * ld + size_t(c0); j < m * ld + size_t(c1); ++j) y[j] *= sigmoidf(r[j]);
}

}  // namespace cpu
}  // namespace rwkv
