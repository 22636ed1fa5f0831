// runtime/cpu/cpu_ops.cpp: see cpu_ops.h.
#include "runtime/cpu/cpu_ops.h"

#include <cblas.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "runtime/core/error.h"

namespace rwkv {
namespace cpu {

namespace {

// One BLAS call for output rows [r0, r1) of a dense W (Wp: row r0).
void dense_rows(const Linear& W, const float* Wp, int r0, int r1, const float* X, size_t ldx, size_t M,
                float* Y, size_t ldy) {
  const int rows = r1 - r0;
  if (M == 1) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, rows, W.in, 1.0f, Wp, W.in, X, 1, 0.0f, Y + r0, 1);
  } else {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(M), rows, W.in, 1.0f,
                X, static_cast<int>(ldx), Wp, W.in, 0.0f, Y + r0, static_cast<int>(ldy));
  }
}

// Rows per block of the dequantize-then-BLAS path: enough for BLAS to amortise
// its packing of X, small enough for the block to stay in the L2 cache.
int dequant_block_rows(int in) {
  const int fit = (256 * 1024 / 4) / std::max(in, 1);  // 256 KiB of fp32 rows
  return std::clamp(fit / 16 * 16, 16, 128);
}

// Output rows [r0, r1) of a quantized or fp16 / bf16 W for many inputs: blocks
// of rows widened to fp32 by the vectorised kernels (the values the reference
// widens to), then one BLAS call per block.
void widened_rows_blas(const Linear& W, QuantIsa isa, int r0, int r1, const float* X, size_t ldx,
                       size_t M, float* Y, size_t ldy) {
  if (r1 <= r0 || M == 0) return;
  const int block = std::min(dequant_block_rows(W.in), r1 - r0);
  std::vector<float> rows(static_cast<size_t>(block) * static_cast<size_t>(W.in));
  for (int b0 = r0; b0 < r1; b0 += block) {
    const int b1 = std::min(r1, b0 + block);
    if (W.quantized())
      dequantize_rows(isa, W.q.view(), b0, b1, rows.data());
    else
      expand_dense_rows(isa, dense_view(W), b0, b1, rows.data());
    dense_rows(W, rows.data(), b0, b1, X, ldx, M, Y, ldy);
  }
}

// The inputs of a many-input int8 product rounded and packed, 16 at a time
// over the pool; false if any could not be rounded.
bool pack_many_inputs(ThreadPool& pool, QuantProduct& product) {
  pool.run(product.input_chunks(), [&](size_t chunk) { product.pack_inputs(chunk); });
  return product.finish_packing();
}

}  // namespace

DenseView dense_view(const Linear& W) {
  DenseView v;
  v.dtype = W.dense_dtype();
  v.out = W.out;
  v.in = W.in;
  v.data = W.half() ? static_cast<const void*>(W.h.data()) : static_cast<const void*>(W.w.data());
  return v;
}

void linear_rows_reference(const Linear& W, int r0, int r1, const float* X, size_t ldx, size_t M,
                           float* Y, size_t ldy) {
  if (r1 <= r0 || M == 0) return;
  if (!W.quantized() && !W.half()) {
    dense_rows(W, W.w.data() + static_cast<size_t>(r0) * static_cast<size_t>(W.in), r0, r1, X, ldx, M, Y, ldy);
    return;
  }
  const QuantView q = W.q.view();
  const DenseView v = dense_view(W);
  constexpr int kRows = 16;
  std::vector<float> rows(static_cast<size_t>(kRows) * static_cast<size_t>(W.in));
  for (int b0 = r0; b0 < r1; b0 += kRows) {
    const int b1 = std::min(r1, b0 + kRows);
    if (W.quantized()) {
      for (int r = b0; r < b1; ++r) q.dequantize_row(r, rows.data() + static_cast<size_t>(r - b0) * W.in);
    } else {
      expand_dense_rows(QuantIsa::scalar, v, b0, b1, rows.data());
    }
    dense_rows(W, rows.data(), b0, b1, X, ldx, M, Y, ldy);
  }
}

namespace {

// How output rows [r0, r1) of one product are computed for its M inputs,
// chosen by W's kind and M; `prepared` holds a quantized product's prepared
// inputs (and must outlive the returned function).
std::function<void(int, int)> product_rows(ThreadPool& pool, const Product& p, size_t M,
                                           const LinearOptions& options,
                                           std::optional<QuantProduct>& prepared) {
  const Linear& W = p.W;
  const float* X = p.X;
  const size_t ldx = p.ldx, ldy = p.ldy;
  float* Y = p.Y;
  if (!W.quantized()) {
    const DenseCrossover crossover = dense_fused_max_inputs(options.isa);
    const int fused_max = options.dense_fused_max_inputs >= 0 ? options.dense_fused_max_inputs
                          : W.half()                          ? crossover.half
                                                              : crossover.fp32;
    const DenseView v = dense_view(W);
    const QuantIsa isa = options.isa;
    if (M <= static_cast<size_t>(fused_max))
      return [=](int r0, int r1) { dense_gemv(isa, v, r0, r1, X, ldx, M, Y, ldy); };
    if (W.half())
      return [=, &W](int r0, int r1) { widened_rows_blas(W, isa, r0, r1, X, ldx, M, Y, ldy); };
    return [=, &W](int r0, int r1) { linear_rows_reference(W, r0, r1, X, ldx, M, Y, ldy); };
  }
  const size_t fused_max = options.fused_max_inputs >= 0 ? static_cast<size_t>(options.fused_max_inputs)
                                                         : quant_fused_max_inputs(options.isa, W.q.kind);
  if (M <= fused_max) {
    prepared.emplace(W.q.view(), X, ldx, M, Y, ldy, options.isa, false, options.int8_rounded_inputs);
    return [&prepared](int r0, int r1) { prepared->rows(r0, r1); };
  }
  if (options.int8_rounded_inputs && W.q.kind == QuantKind::int8 && int8_rounded_gemm_supported(options.isa) &&
      pack_many_inputs(pool, prepared.emplace(W.q.view(), X, ldx, M, Y, ldy, options.isa, true))) {
    // (Inputs that cannot be rounded, a NaN or inf among them, take the last branch.)
    return [&prepared](int r0, int r1) { prepared->rows(r0, r1); };
  }
  const QuantIsa isa = options.isa;
  return [=, &W](int r0, int r1) { widened_rows_blas(W, isa, r0, r1, X, ldx, M, Y, ldy); };
}

// Rows of block b of `parts` for `out` rows: a multiple of 16 rows (whole
// cache lines of Y), empty past the end.
std::pair<int, int> block_rows(int out, size_t b, size_t parts) {
  const int per = ((out + static_cast<int>(parts) - 1) / static_cast<int>(parts) + 15) / 16 * 16;
  const int r0 = std::min(out, static_cast<int>(b) * per);
  return {r0, std::min(out, r0 + per)};
}

}  // namespace

void linear_group(ThreadPool& pool, size_t M, const Product* group, size_t n_products,
                  const LinearOptions& options) {
  if (M == 0 || n_products == 0) return;
  if (n_products > kMaxGroupProducts)
    throw Error("linear_group: " + std::to_string(n_products) + " products, at most " +
                std::to_string(kMaxGroupProducts));
  std::array<std::optional<QuantProduct>, kMaxGroupProducts> prepared;
  std::array<std::function<void(int, int)>, kMaxGroupProducts> rows;
  size_t macs = 0;
  int min_out = group[0].W.out;
  for (size_t i = 0; i < n_products; ++i) {
    rows[i] = product_rows(pool, group[i], M, options, prepared[i]);
    macs += M * static_cast<size_t>(group[i].W.out) * static_cast<size_t>(group[i].W.in);
    min_out = std::min(min_out, group[i].W.out);
  }
  // Below ~64k multiply-adds per thread the hand-off costs more than it saves.
  size_t parts = std::min<size_t>(static_cast<size_t>(pool.size()),
                                  macs / std::max<size_t>(options.min_macs_per_thread, 1));
  parts = std::max<size_t>(1, std::min<size_t>(parts, static_cast<size_t>(std::max(min_out, 0)) / 16));
  auto block = [&](size_t b) {
    for (size_t i = 0; i < n_products; ++i) {
      const auto [r0, r1] = block_rows(group[i].W.out, b, parts);
      if (r0 >= r1) continue;
      rows[i](r0, r1);
      if (group[i].after) group[i].after(r0, r1);
    }
  };
  if (parts == 1) {
    block(0);
    return;
  }
  pool.run(parts, block);
}

void linear(ThreadPool& pool, const Linear& W, const float* X, size_t ldx, size_t M, float* Y,
            size_t ldy, const LinearOptions& options) {
  const Product p{W, X, ldx, Y, ldy};
  linear_group(pool, M, &p, 1, options);
}

void layer_norm_rows(ThreadPool& pool, const float* x, size_t M, int n, const float* g,
                     const float* b, float* y) {
  const size_t grain = std::max<size_t>(1, 8192 / static_cast<size_t>(n));
  pool.parallel_for(M, grain, [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; ++r) layer_norm_row(x + r * n, g, b, n, y + r * n);
  });
}

void group_norm_row(const float* x, int H, int N, const float* g, const float* b, float eps,
                    float* y) {
  for (int h = 0; h < H; ++h) {
    const int o = h * N;
    layer_norm_row(x + o, g + o, b + o, N, y + o, eps);
  }
}

}  // namespace cpu
}  // namespace rwkv
