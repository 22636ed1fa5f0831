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
#include <cstring>

#include "kernels/common/mma.cuh"

namespace rwkv_kernels {

struct SplitA {
  mma_frag_a hi, mid, lo;
};
struct SplitB {
  mma_frag_b hi, mid, lo;
};

// The 32 bits of a bf16 pair (.x in the low half), as a fragment register.
__device__ __forceinline__ uint32_t bf16x2_bits(__nv_bfloat162 v) {
  uint32_t w;
  memcpy(&w, &v, sizeof(w));
  return w;
}

// The three parts of the pair (x0, x1), each packed as one fragment register. Each part of both
// elements is one paired conversion (cvt.rn.bf16x2.f32, round to nearest even: the same bits as two
// __float2bfloat16_rn), each half back as fp32 by mma_element (exact), each remainder exact: about
// 11 instructions a pair.
__device__ __forceinline__ void split_pair(float x0, float x1, uint32_t& hi, uint32_t& mid, uint32_t& lo) {
  hi = bf16x2_bits(__floats2bfloat162_rn(x0, x1));
  const float r0 = x0 - mma_element<__nv_bfloat16>(hi, 0), r1 = x1 - mma_element<__nv_bfloat16>(hi, 1);  // exact
  mid = bf16x2_bits(__floats2bfloat162_rn(r0, r1));
  lo = bf16x2_bits(__floats2bfloat162_rn(r0 - mma_element<__nv_bfloat16>(mid, 0),
                                         r1 - mma_element<__nv_bfloat16>(mid, 1)));
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
