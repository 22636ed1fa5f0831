// kernels/common/mma_split.cuh: fp32-accurate products on bf16 tensor cores, for the chunked WKV
// kernels (kernels/wkv5_chunked.cu, kernels/wkv7_chunked.cu). Header only; device code.
//
// Every fp32 operand is split in three bf16 parts, x = hi + mid + lo (hi = bf16(x), mid =
// bf16(x - hi), lo = bf16(x - hi - mid): 24 significant bits, about fp32's), and a product sums six
// partial products down to 2^-27 relative (lo*hi + mid*mid + hi*lo + mid*hi + hi*mid + hi*hi, the
// small ones first, each an m16n8k16 bf16 product with fp32 accumulation, kernels/common/mma.cuh;
// the three dropped are below 2^-26). A two-part split (hi*hi + hi*lo + lo*hi, 2^-17 per product)
// is not enough: on RWKV-7 at N = 64 its output errors reach 3e-5 (tests/kernels/
// test_wkv7_chunked.cpp), and a 16k-token v6 prompt drifts its state to 1.6e-4 relative where the
// sequential kernel stays at 1.9e-5 (tests/kernels/test_cuda_batch.cpp).
#pragma once

#include <cstdint>

#include "kernels/common/mma.cuh"

namespace rwkv_kernels {

struct SplitA {
  mma_frag_a hi, mid, lo;
};
struct SplitB {
  mma_frag_b hi, mid, lo;
};

// The three parts of the pair (x0, x1), each packed as one fragment register.
__device__ __forceinline__ void split_pair(float x0, float x1, uint32_t& hi, uint32_t& mid, uint32_t& lo) {
  const __nv_bfloat16 h0 = __float2bfloat16_rn(x0), h1 = __float2bfloat16_rn(x1);
  const float r0 = x0 - __bfloat162float(h0), r1 = x1 - __bfloat162float(h1);  // exact
  const __nv_bfloat16 m0 = __float2bfloat16_rn(r0), m1 = __float2bfloat16_rn(r1);
  hi = mma_pack(h0, h1);
  mid = mma_pack(m0, m1);
  lo = mma_pack(__float2bfloat16_rn(r0 - __bfloat162float(m0)), __float2bfloat16_rn(r1 - __bfloat162float(m1)));
}

// D += A B with both operands split, the small partial products first.
__device__ __forceinline__ void mma_split(mma_frag_c& d, const SplitA& a, const SplitB& b) {
  mma_m16n8k16<__nv_bfloat16>(d, a.lo, b.hi, d);
  mma_m16n8k16<__nv_bfloat16>(d, a.mid, b.mid, d);
  mma_m16n8k16<__nv_bfloat16>(d, a.hi, b.lo, d);
  mma_m16n8k16<__nv_bfloat16>(d, a.mid, b.hi, d);
  mma_m16n8k16<__nv_bfloat16>(d, a.hi, b.mid, d);
  mma_m16n8k16<__nv_bfloat16>(d, a.hi, b.hi, d);
}

// This lane's part of the 16 x 16 A operand whose element (m, k) is at(m, k), split.
template <class F>
__device__ __forceinline__ SplitA split_a_of(F at) {
  const int lane = (int)(threadIdx.x & 31), g = lane >> 2, c = 2 * (lane & 3);
  SplitA a;
#pragma unroll
  for (int q = 0; q < 4; ++q) {  // r[q]: row g + 8 (q & 1), columns c + 8 (q >> 1) and the next
    const int m = g + 8 * (q & 1), k = c + 8 * (q >> 1);
    split_pair(at(m, k), at(m, k + 1), a.hi.r[q], a.mid.r[q], a.lo.r[q]);
  }
  return a;
}

// This lane's part of the 16 x 8 B operand whose element (k, n) is at(k, n), split.
template <class F>
__device__ __forceinline__ SplitB split_b_of(F at) {
  const int lane = (int)(threadIdx.x & 31), g = lane >> 2, c = 2 * (lane & 3);
  SplitB b;
#pragma unroll
  for (int q = 0; q < 2; ++q) split_pair(at(c + 8 * q, g), at(c + 8 * q + 1, g), b.hi.r[q], b.mid.r[q], b.lo.r[q]);
  return b;
}

}  // namespace rwkv_kernels
