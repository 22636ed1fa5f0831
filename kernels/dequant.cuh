// kernels/dequant.cuh: a quantized matrix (docs/quantization.md, runtime/quant/quant_format.h)
// expanded into a dense one, the first half of the large-round product of a quantized Linear
// (runtime/cuda/gemm.cpp, linear(): dequantize rows into the workspace's scratch, then the cuBLAS
// GEMM in the activation dtype).
//
//   out[r, k] = round_to_out_dtype(q[r, k] * scale[r, k / group] + min[r, k / group])
// computed in fp32 (the fp16 scale and offset converted exactly; the product is the CPU
// reference's, runtime/quant/quant_format.cpp, before the final rounding to out_dtype).
//
// Launch: one thread per 8 consecutive values of a row (a group never splits them: 32 | group),
// grid-stride over rows * in / 8, blocks of 256. Per value: 1 byte (int8) or 1/2 byte (q4) read
// plus 2 / group (or 4 / group) bytes of scales, sizeof(out_dtype) written; 2 FLOPs.
// ptxas (sm_80 / sm_90, no spills): 19-28 / 26-31 registers.
//
// Host declarations only; the kernel is in dequant.cu.
#pragma once

#include <cstdint>

#include "kernels/common/cuda_compat.cuh"
#include "kernels/gemv.cuh"
#include "runtime/core/dtype.h"

namespace rwkv_kernels {

struct dequant_params {
  gemv_weights kind = gemv_weights::int8;  // int8 or q4
  const void* q = nullptr;                 // packed values of the first row converted
  const uint16_t* scale = nullptr;         // fp16 [rows, in / group] of that row on
  const uint16_t* min = nullptr;           // fp16 [rows, in / group]
  int group = 0, rows = 0, in = 0;
  void* out = nullptr;                     // [rows, in] row-major in out_dtype
  rwkv::DType out_dtype = rwkv::DType::bf16;
};

// Enqueues the expansion on `stream`. cudaSuccess without a launch for rows == 0;
// cudaErrorInvalidValue for a dense kind, in or group not multiples of 32, group not dividing in,
// a null pointer, an out not 16-byte aligned, or out overlapping the inputs; else the launch status.
cudaError_t dequantize(const dequant_params& p, cudaStream_t stream);

}  // namespace rwkv_kernels
