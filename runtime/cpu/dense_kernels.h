// runtime/cpu/dense_kernels.h: fast CPU products of dense weight matrices held
// in fp32, fp16 or bf16 (rwkv::Linear, runtime/arch/weights.h), with fp32
// inputs, outputs and sums (docs/cpu-backend.md).
//
// Decode (few inputs M): Y[m, r] = sum_c W[r, c] X[m, c] reading every weight
// once per call, fp16/bf16 expanded to fp32 in registers (exact), tiles of 4
// rows x up to 4 inputs. Many inputs (prefill): row blocks expanded to fp32,
// then OpenBLAS (cpu_ops.cpp). Either differs from the plain fp32 product of
// the same values (linear_rows_reference) only in the order of the fp32 sums.
//
// Bytes and FLOPs of one call: out * in * (4 | 2) bytes of weights, plus
// M * (in + out) * 4 of activations; 2 * M * out * in FLOPs. At M = 1 the
// floor is the weight bytes over the memory bandwidth.
//
// Variants by instruction set, chosen at run time (the ISAs of
// quant_kernels.h): AVX-512 (F, BW, VL), AVX2 + FMA + F16C, a portable scalar loop.
#pragma once

#include <cstddef>
#include <cstdint>

#include "runtime/core/dtype.h"
#include "runtime/cpu/dense_kernels_isa.h"
#include "runtime/cpu/quant_kernels.h"

namespace rwkv {
namespace cpu {

// A dense row-major [out, in] matrix: fp32 values, or fp16 / bf16 bits.
struct DenseView {
  DType dtype = DType::f32;
  int out = 0, in = 0;
  const void* data = nullptr;
};

// The most inputs M for which dense_gemv beats expanding rows and calling
// BLAS (docs/cpu-backend.md, "The kernels"): fp32 weights go to BLAS above
// `fp32`, fp16/bf16 above `half`. 0: BLAS always.
struct DenseCrossover {
  int fp32 = 0, half = 0;
};
DenseCrossover dense_fused_max_inputs(QuantIsa isa);

// Y[m, r] for r in [r0, r1) and every m < M, on the calling thread.
void dense_gemv(QuantIsa isa, const DenseView& w, int r0, int r1, const float* X, size_t ldx,
                size_t M, float* Y, size_t ldy);

// Rows [r0, r1) of an fp16 / bf16 matrix as fp32 into dst, `in` floats each,
// row r0 first (exact conversions).
void expand_dense_rows(QuantIsa isa, const DenseView& w, int r0, int r1, float* dst);

}  // namespace cpu
}  // namespace rwkv
