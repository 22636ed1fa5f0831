// kernels/common/mma_split.cuh: fp32 products on bf16 tensor cores, for the chunked WKV kernels
// (kernels/wkv5_chunked.cu, kernels/wkv7_chunked.cu) and tile_mma (kernels/tile_mma.cu). Header
// only; device code.
//
// Every fp32 operand is split in kParts bf16 parts, x = hi + mid + lo: hi = bf16(x), mid =
// bf16(x - hi), lo = bf16(x - hi - mid), each rounded to nearest even, each remainder exact. A
// product sums the partial products whose parts' indices add up to at most kParts - 1, the small
// ones first, each an m16n8k16 bf16 product with fp32 accumulation (kernels/common/mma.cuh):
//   kParts = 3 (kSplitFp32): 24 significant bits, about fp32's; six products, lo*hi, mid*mid,
//     hi*lo, mid*hi, hi*mid, hi*hi, to 2^-27 relative (the three dropped are below 2^-26). The
//     runs with fp32 activations: their results stay within fp32 rounding of the sequential
//     kernels (tests/kernels/test_wkv7_chunked.cpp: outputs 2e-5, states 1e-5).
//   kParts = 2 (kSplitBf16Run): hi and mid, 16 significant bits; three products, mid*hi, hi*mid,
//     hi*hi, about 2^-16 relative a product. Not enough for fp32 runs (at N = 64 RWKV-7's output
//     errors reach 3e-5; a 16k-token v6 prompt drifts its state to 1.6e-4 relative where the
//     sequential kernel stays at 1.9e-5, tests/kernels/test_cuda_batch.cpp), but 2^7 below the
//     rounding of a bf16 activation (2^-9), and 2^5 below fp16's: the runs with 16-bit
//     activations take it, at half the tensor-core products and two thirds of the splitting
//     (docs/performance.md "Operand parts by the run's precision").
#pragma once

#include <cstdint>
#include <cstring>

#include "kernels/common/mma.cuh"
#include "kernels/common/split_parts.h"

namespace rwkv_kernels {

// A lane's fragment of a split operand: part 0 is hi, 1 mid, 2 lo.
template <int kParts>
struct SplitA {
  mma_frag_a part[kParts];
};
template <int kParts>
struct SplitB {
  mma_frag_b part[kParts];
};

// The 32 bits of a bf16 pair (.x in the low half), as a fragment register.
__device__ __forceinline__ uint32_t bf16x2_bits(__nv_bfloat162 v) {
  uint32_t w;
  memcpy(&w, &v, sizeof(w));
  return w;
}

// The parts of the pair (x0, x1), each packed as one fragment register. Each part of both
// elements is one paired conversion (cvt.rn.bf16x2.f32, round to nearest even: the same bits as two
// __float2bfloat16_rn), each half back as fp32 by mma_element (exact), each remainder exact: about
// 11 instructions a pair for three parts, 7 for two.
template <int kParts>
__device__ __forceinline__ void split_pair(float x0, float x1, uint32_t (&parts)[kParts]) {
  static_assert(split_parts_valid(kParts), "two or three parts");
#pragma unroll
  for (int k = 0; k < kParts; ++k) {
    parts[k] = bf16x2_bits(__floats2bfloat162_rn(x0, x1));
    if (k + 1 < kParts) {
      x0 -= mma_element<__nv_bfloat16>(parts[k], 0);  // exact
      x1 -= mma_element<__nv_bfloat16>(parts[k], 1);
    }
  }
}

// D += A B with both operands split: the partial products part_a * part_b with indices adding up
// to s, for s = kParts - 1 down to 0 (the small ones first), a's index falling within each s.
template <int kParts>
__device__ __forceinline__ void mma_split(mma_frag_c& d, const SplitA<kParts>& a, const SplitB<kParts>& b) {
#pragma unroll
  for (int s = kParts - 1; s >= 0; --s)
#pragma unroll
    for (int ia = s; ia >= 0; --ia) mma_m16n8k16<__nv_bfloat16>(d, a.part[ia], b.part[s - ia], d);
}

// The parts of register r of a fragment from split_pair.
template <int kParts, class Frag>
__device__ __forceinline__ void split_into(Frag (&part)[kParts], int r, float x0, float x1) {
  uint32_t bits[kParts];
  split_pair<kParts>(x0, x1, bits);
#pragma unroll
  for (int k = 0; k < kParts; ++k) part[k].r[r] = bits[k];
}

// This lane's part of the 16 x 16 A operand whose element (m, k) is at(m, k), split.
template <int kParts, class F>
__device__ __forceinline__ SplitA<kParts> split_a_of(F at) {
  const int lane = (int)(threadIdx.x & 31), g = lane >> 2, c = 2 * (lane & 3);
  SplitA<kParts> a;
#pragma unroll
  for (int q = 0; q < 4; ++q) {  // r[q]: row g + 8 (q & 1), columns c + 8 (q >> 1) and the next
    const int m = g + 8 * (q & 1), k = c + 8 * (q >> 1);
    split_into<kParts>(a.part, q, at(m, k), at(m, k + 1));
  }
  return a;
}

// This lane's part of the 16 x 8 B operand whose element (k, n) is at(k, n), split.
template <int kParts, class F>
__device__ __forceinline__ SplitB<kParts> split_b_of(F at) {
  const int lane = (int)(threadIdx.x & 31), g = lane >> 2, c = 2 * (lane & 3);
  SplitB<kParts> b;
#pragma unroll
  for (int q = 0; q < 2; ++q) split_into<kParts>(b.part, q, at(c + 8 * q, g), at(c + 8 * q + 1, g));
  return b;
}

}  // namespace rwkv_kernels
