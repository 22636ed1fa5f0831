// runtime/cuda/gemm.cpp
#include "runtime/cuda/gemm.h"

#include <algorithm>

#include "kernels/dequant.cuh"
#include "runtime/core/error.h"
#include "runtime/cuda/cuda_check.h"

namespace rwkv {
namespace cuda {

static cudaDataType_t cuda_type(DType t) {
  switch (t) {
    case DType::f16: return CUDA_R_16F;
    case DType::bf16: return CUDA_R_16BF;
    default: return CUDA_R_32F;
  }
}

namespace {

rwkv_kernels::gemv_weights gemv_kind(QuantKind k) {
  switch (k) {
    case QuantKind::int8: return rwkv_kernels::gemv_weights::int8;
    case QuantKind::q4: return rwkv_kernels::gemv_weights::q4;
    default: return rwkv_kernels::gemv_weights::dense;
  }
}

size_t packed_row_bytes(const DeviceMatrix& W) {
  return W.quant == QuantKind::q4 ? (size_t)W.in / 2 : (size_t)W.in;
}

// Rows [r0, r0 + rows) of a quantized W as a matrix of their own.
DeviceMatrix quant_rows(const DeviceMatrix& W, int r0, int rows) {
  DeviceMatrix s = W;
  const size_t groups = (size_t)(W.in / W.group);
  s.data = static_cast<const uint8_t*>(W.data) + (size_t)r0 * packed_row_bytes(W);
  s.scale = W.scale + (size_t)r0 * groups;
  s.min = W.min ? W.min + (size_t)r0 * groups : nullptr;
  s.out = rows;
  return s;
}

// Quantized W: each slice of rows expanded into the scratch, then its GEMM into Y's columns.
void linear_quant(cublasHandle_t h, const DeviceMatrix& W, const void* X, int ldx, int M, void* Y,
                  DType y_dtype, int ldy, const DequantScratch& scratch, bool accumulate) {
  const size_t slice = scratch.data ? std::min<size_t>((size_t)W.out, scratch.elems / (size_t)W.in) : 0;
  if (slice == 0) throw Error("linear: no dequantization scratch for a quantized matrix");
  cudaStream_t stream = nullptr;
  RWKV_CUBLAS_TRY(cublasGetStream(h, &stream));
  for (int r0 = 0; r0 < W.out; r0 += (int)slice) {
    const int rows = std::min<int>((int)slice, W.out - r0);
    const DeviceMatrix part = quant_rows(W, r0, rows);
    rwkv_kernels::dequant_params d;
    d.kind = gemv_kind(W.quant);
    d.q = part.data;
    d.scale = part.scale;
    d.min = part.min;
    d.group = W.group;
    d.rows = rows;
    d.in = W.in;
    d.out = scratch.data;
    d.out_dtype = W.dtype;
    RWKV_CUDA_TRY(rwkv_kernels::dequantize(d, stream));
    DeviceMatrix dense;
    dense.data = scratch.data;
    dense.dtype = W.dtype;
    dense.out = rows;
    dense.in = W.in;
    linear(h, dense, X, ldx, M, static_cast<char*>(Y) + (size_t)r0 * dtype_size(y_dtype), y_dtype, ldy, {},
           accumulate);
  }
}

}  // namespace

size_t DeviceMatrix::bytes() const {
  if (!quantized()) return (size_t)out * in * dtype_size(dtype);
  return quant_matrix_bytes(quant, out, in, group);
}

void linear(cublasHandle_t h, const DeviceMatrix& W, const void* X, int ldx, int M, void* Y,
            DType y_dtype, int ldy, const DequantScratch& scratch, bool accumulate) {
  if (M == 0) return;
  if (W.quantized()) {
    linear_quant(h, W, X, ldx, M, Y, y_dtype, ldy, scratch, accumulate);
    return;
  }
  const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  RWKV_CUBLAS_TRY(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, W.out, M, W.in, &alpha, W.data,
                               cuda_type(W.dtype), W.in, X, cuda_type(W.dtype), ldx, &beta, Y,
                               cuda_type(y_dtype), ldy, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

void linear_batched(cublasHandle_t h, const DeviceMatrix& W, int count, const void* X, int ldx,
                    long long x_stride, int M, void* Y, DType y_dtype, int ldy, long long y_stride,
                    const DequantScratch& scratch) {
  if (M == 0 || count == 0) return;
  if (W.quantized()) {
    for (int z = 0; z < count; ++z)
      linear(h, matrix_at(W, z), static_cast<const char*>(X) + (size_t)z * x_stride * dtype_size(W.dtype), ldx, M,
             static_cast<char*>(Y) + (size_t)z * y_stride * dtype_size(y_dtype), y_dtype, ldy, scratch);
    return;
  }
  const float alpha = 1.0f, beta = 0.0f;
  RWKV_CUBLAS_TRY(cublasGemmStridedBatchedEx(
      h, CUBLAS_OP_T, CUBLAS_OP_N, W.out, M, W.in, &alpha, W.data, cuda_type(W.dtype), W.in,
      (long long)W.out * W.in, X, cuda_type(W.dtype), ldx, x_stride, &beta, Y, cuda_type(y_dtype),
      ldy, y_stride, count, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

DeviceMatrix matrix_at(const DeviceMatrix& W, int z) {
  if (W.quantized()) return quant_rows(W, z * W.out, W.out);
  DeviceMatrix m = W;
  m.data = static_cast<const char*>(W.data) + (size_t)z * W.out * W.in * dtype_size(W.dtype);
  return m;
}

rwkv_kernels::gemv_task gemv_task(const DeviceMatrix& W, const void* X, int ldx, void* Y, int ldy,
                                  rwkv_kernels::gemv_epilogue epilogue, DType y_dtype) {
  rwkv_kernels::gemv_task t;
  t.W = W.data;
  t.X = X;
  t.Y = Y;
  t.N = W.out;
  t.K = W.in;
  t.ldx = ldx;
  t.ldy = ldy;
  t.epilogue = epilogue;
  t.y_dtype = y_dtype;
  t.weights = gemv_kind(W.quant);
  t.scale = W.scale;
  t.min = W.min;
  t.group = W.group;
  return t;
}

void grouped_gemv(cudaStream_t stream, int M, DType w_dtype, DType x_dtype,
                  std::initializer_list<rwkv_kernels::gemv_task> tasks) {
  rwkv_kernels::gemv_params p;
  p.M = M;
  p.w_dtype = w_dtype;
  p.x_dtype = x_dtype;
  for (const rwkv_kernels::gemv_task& t : tasks) {
    if (p.n_tasks == rwkv_kernels::kGemvMaxTasks) throw Error("grouped_gemv: too many tasks for one launch");
    if (t.weights != tasks.begin()->weights)
      throw Error("grouped_gemv: dense and quantized matrices (or two quantized kinds) in one launch");
    p.task[p.n_tasks++] = t;
  }
  RWKV_CUDA_TRY(rwkv_kernels::gemv(p, stream));
}

}  // namespace cuda
}  // namespace rwkv
