// kernels/tile_mma.cuh: a plain tensor-core product on whole 16 x 8 tiles,
//   D[m, n] += sum_k A[m, k] * W[n, k]     (A [M, K], W [N, K] row-major 16-bit; D [M, N] fp32)
// one warp per output tile through kernels/common/mma.cuh. It is the tested building block of the
// chunked WKV kernels (their products have the shapes of tiles of this one), and the check that the
// fragment layout of mma.cuh is the hardware's: its test compares it with a CPU product on the
// emulator (bit for bit, the emulator's defined order) and on a GPU (within the fp32 bound).
// With fp32 A and W, every element is split in three (or two) bf16 parts and the tile multiplied
// with mma_split (kernels/common/mma_split.cuh), as the chunked WKV kernels multiply: the test of
// the split's parts and of its products' order and accuracy.
//
// Host declarations only; the kernel is in tile_mma.cu.
#pragma once

#include "kernels/common/cuda_compat.cuh"
#include "kernels/common/split_parts.h"
#include "runtime/core/dtype.h"

namespace rwkv_kernels {

struct tile_mma_params {
  const void* A = nullptr;  // [M, K] row-major, in dtype
  const void* W = nullptr;  // [N, K] row-major, in dtype
  float* D = nullptr;       // [M, N] row-major fp32, accumulated into
  int M = 0, N = 0, K = 0;  // multiples of 16, 8 and 16
  rwkv::DType dtype = rwkv::DType::bf16;  // bf16, f16, or f32 (split in bf16 parts)
  int split_parts = kSplitFp32;           // f32: the parts, 3 or 2 (mma_split.cuh); others: unread
};

// Enqueues the product on `stream`. Returns cudaSuccess without launching when M or N is 0;
// cudaErrorInvalidValue for a negative size, M, N or K not a multiple of 16, 8, 16 (K >= 16), an
// unknown dtype, f32 with split_parts not 2 or 3, a null pointer, or D overlapping A or W; otherwise
// the launch status.
cudaError_t tile_mma(const tile_mma_params& p, cudaStream_t stream);

}  // namespace rwkv_kernels
