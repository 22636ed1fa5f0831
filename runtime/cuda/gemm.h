// runtime/cuda/gemm.h: the projections of every layer as cuBLAS GEMMs.
//
// Weights are kept in PyTorch Linear layout, row-major W[out, in] (LoRA
// matrices are transposed into it at load). Activations are row-major
// X[M, in]. cuBLAS is column-major, so Y^T = W X^T is one GEMM with W taken
// transposed: gemm(op_T, op_N, m = out, n = M, k = in, A = W (lda = in),
// B = X (ldb = ldx), C = Y (ldc = ldy)). Inputs share W's dtype; the output is
// fp32 or W's dtype; accumulation is always fp32 (CUBLAS_COMPUTE_32F, no TF32).
//
// Rounds of at most RoundRun::gemv_max_rows rows use grouped_gemv() instead (kernels/gemv.cuh):
// several products with fused epilogues in one launch, every weight byte read once.
#pragma once
#include <cublas_v2.h>

#include <initializer_list>

#include "kernels/gemv.cuh"
#include "runtime/model/model.h"

namespace rwkv {
namespace cuda {

// A matrix on the device: dense in `dtype`, or quantized (docs/quantization.md; quant int8 or q4):
// then `data` holds the packed values (runtime/quant/quant_format.h's layout), `scale` (and for q4
// `min`) the fp16 [out, in / group] scales (offsets), and `dtype` is the dense dtype the products'
// inputs and the dequantized scratch use. Several matrices back to back (att_kvrg, maa_w2) keep
// their packed values back to back and their scales back to back.
struct DeviceMatrix {
  const void* data = nullptr;  // [out, in] row-major, `count` of them back to back for batched use
  DType dtype = DType::f32;
  int out = 0, in = 0;
  QuantKind quant = QuantKind::none;
  int group = 0;
  const uint16_t* scale = nullptr;  // fp16 [out, in / group]
  const uint16_t* min = nullptr;    // q4: fp16 [out, in / group]
  bool quantized() const { return quant != QuantKind::none; }
  // Device bytes of one matrix (packed values and scales when quantized).
  size_t bytes() const;
};

// Where a quantized matrix is expanded before a cuBLAS GEMM (Workspace::dequant): `elems` values
// in the matrix's dtype; a matrix larger than that is multiplied in slices of rows.
struct DequantScratch {
  void* data = nullptr;
  size_t elems = 0;
};

// Y[m, :] = W X[m, :] for m < M; with `accumulate`, Y[m, :] += W X[m, :] (one rounding of the
// fp32 product plus Y: the prefill rounds add their output products into the residual stream).
// A quantized W is expanded into `scratch` (rwkv::Error without one) on the handle's stream, in
// slices of at most scratch.elems / in rows, each followed by its GEMM.
void linear(cublasHandle_t h, const DeviceMatrix& W, const void* X, int ldx, int M, void* Y,
            DType y_dtype, int ldy, const DequantScratch& scratch = {}, bool accumulate = false);

// `count` independent products with matrices W_z stored back to back:
// Y_z = W_z X_z, X_z = X + z * x_stride elements, Y_z = Y + z * y_stride elements
// (quantized: one linear() per matrix).
void linear_batched(cublasHandle_t h, const DeviceMatrix& W, int count, const void* X, int ldx,
                    long long x_stride, int M, void* Y, DType y_dtype, int ldy, long long y_stride,
                    const DequantScratch& scratch = {});

// Matrix z of `count` matrices stored back to back in W (e.g. att_kvrg's k, v, r, g).
DeviceMatrix matrix_at(const DeviceMatrix& W, int z);

// One task of a grouped GEMV: Y[m, :] = epilogue(W X[m, :]) for the launch's M rows.
rwkv_kernels::gemv_task gemv_task(const DeviceMatrix& W, const void* X, int ldx, void* Y, int ldy,
                                  rwkv_kernels::gemv_epilogue epilogue, DType y_dtype);

// The tasks (all with matrices in w_dtype, inputs in x_dtype) in one launch over M rows. The
// matrices are all dense or all quantized in one kind (rwkv::Error otherwise); w_dtype is then
// the dense dtype of the inputs.
void grouped_gemv(cudaStream_t stream, int M, DType w_dtype, DType x_dtype,
                  std::initializer_list<rwkv_kernels::gemv_task> tasks);

}  // namespace cuda
}  // namespace rwkv
