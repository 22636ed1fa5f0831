// kernels/common/mma.cuh: one warp's tensor-core product D = A B + C of a 16 x 16 tile of A
// (16-bit: __half or __nv_bfloat16) and a 16 x 8 tile of B into a 16 x 8 fp32 tile, the PTX
// instruction mma.sync.aligned.m16n8k16.row.col.f32.{f16,bf16}.{f16,bf16}.f32, for the chunked
// WKV kernels (docs/performance.md, prefill). Header only; device code.
//
// Fragments (PTX ISA, "matrix fragments for mma.m16n8k16"; g = lane / 4, t = lane % 4; each 32-bit
// register packs two 16-bit elements, the lower-indexed one in the low half):
//   A (16 x 16, row-major)  r[0]: A[g][2t, 2t+1]     r[1]: A[g+8][2t, 2t+1]
//                           r[2]: A[g][2t+8, 2t+9]   r[3]: A[g+8][2t+8, 2t+9]
//   B (16 x 8, "col": element (k, n) read from a row-major [8, 16] array, i.e. B^T, the layout of a
//     weight matrix W[N, K] of runtime/cuda/gemm.h)
//                           r[0]: B[2t, 2t+1][g]     r[1]: B[2t+8, 2t+9][g]
//   C, D (16 x 8, fp32)     r[0], r[1]: D[g][2t, 2t+1]   r[2], r[3]: D[g+8][2t, 2t+1]
// Every lane of the warp must call it with the same control flow (a warp collective).
//
// The emulated build (RWKV_EMULATED) computes what the instruction computes: each lane gathers its
// two rows of A and two columns of B from the other lanes' fragments, then for each of its four
// outputs acc = C, acc = fmaf(A[m][k], B[k][n], acc) for k = 0..15 in order. The products of two
// 16-bit values are exact in fp32, so this is "exact products, fp32 sums in a defined order"; the
// hardware's summation order and rounding inside the instruction are not specified, so tests
// compare a GPU against an fp32 bound, and the emulator bit for bit against that order.
#pragma once

#include <cstdint>
#include <cstring>

#include "kernels/common/cuda_compat.cuh"
#include "kernels/common/dtype_io.cuh"

namespace rwkv_kernels {

struct mma_frag_a {
  uint32_t r[4];
};
struct mma_frag_b {
  uint32_t r[2];
};
struct mma_frag_c {
  float r[4];
};

// The 16-bit element of `word` (half 0 = low bits) as fp32.
__device__ __forceinline__ float mma_bits_to_float(uint16_t bits, const __half*) {
  __half_raw raw;
  raw.x = bits;
  return __half2float(__half(raw));
}
__device__ __forceinline__ float mma_bits_to_float(uint16_t bits, const __nv_bfloat16*) {
  const uint32_t word = (uint32_t)bits << 16;  // bf16 is the top half of an fp32
  float f;
  memcpy(&f, &word, sizeof(f));
  return f;
}
template <class T>
__device__ __forceinline__ float mma_element(uint32_t word, int half) {
  return mma_bits_to_float((uint16_t)(half ? word >> 16 : word & 0xffffu), static_cast<const T*>(nullptr));
}

// Two 16-bit values packed as one register of a fragment (lo in the low half).
__device__ __forceinline__ uint16_t mma_raw_bits(__half v) { return static_cast<__half_raw>(v).x; }
__device__ __forceinline__ uint16_t mma_raw_bits(__nv_bfloat16 v) { return static_cast<__nv_bfloat16_raw>(v).x; }
template <class T>
__device__ __forceinline__ uint32_t mma_pack(T lo, T hi) {
  return (uint32_t)mma_raw_bits(lo) | ((uint32_t)mma_raw_bits(hi) << 16);
}

#if RWKV_EMULATED
// Emulated: see the header comment. The lanes exchange their fragments in one warp collective
// (::cuda_emu::warp_gather publishes a pointer to each lane's, where moving them by shuffles took
// 32 collectives a product, each a round of the emulator's 32 lanes); a __syncwarp then keeps every
// lane's fragments alive until all have read theirs.
template <class T>
__device__ __forceinline__ void mma_m16n8k16(mma_frag_c& d, const mma_frag_a& a, const mma_frag_b& b,
                                             const mma_frag_c& c) {
  struct Fragments {
    mma_frag_a a;
    mma_frag_b b;
  };
  const Fragments mine = {a, b};
  const uint64_t* published = ::cuda_emu::warp_gather(0xffffffffu, (uint64_t)(uintptr_t)&mine, __FILE__, __LINE__);
  auto lane_fragments = [&](int l) -> const Fragments& {
    return *reinterpret_cast<const Fragments*>((uintptr_t)published[l]);
  };
  const int lane = (int)(threadIdx.x & 31), g = lane >> 2, t = lane & 3;
  float arow[2][16], bcol[2][16];  // rows g, g + 8 of A; columns 2t, 2t + 1 of B
  for (int j = 0; j < 4; ++j) {    // lane 4g + j holds columns 2j, 2j+1, 2j+8, 2j+9 of rows g, g + 8
    const mma_frag_a& w = lane_fragments(4 * g + j).a;
    for (int h = 0; h < 2; ++h) {
      arow[0][2 * j + h] = mma_element<T>(w.r[0], h);
      arow[1][2 * j + h] = mma_element<T>(w.r[1], h);
      arow[0][2 * j + 8 + h] = mma_element<T>(w.r[2], h);
      arow[1][2 * j + 8 + h] = mma_element<T>(w.r[3], h);
    }
  }
  for (int col = 0; col < 2; ++col)  // column n = 2t + col lives in lanes 4n + j
    for (int j = 0; j < 4; ++j) {
      const mma_frag_b& w = lane_fragments(4 * (2 * t + col) + j).b;
      for (int h = 0; h < 2; ++h) {
        bcol[col][2 * j + h] = mma_element<T>(w.r[0], h);
        bcol[col][2 * j + 8 + h] = mma_element<T>(w.r[1], h);
      }
    }
  __syncwarp();  // every lane has read the fragments it needs: each may now let its own go
  for (int i = 0; i < 4; ++i) {  // output i: row g + 8 * (i / 2), column 2t + i % 2
    float acc = c.r[i];
    for (int k = 0; k < 16; ++k) acc = fmaf(arow[i / 2][k], bcol[i % 2][k], acc);
    d.r[i] = acc;
  }
}
#else
template <class T>
__device__ __forceinline__ void mma_m16n8k16(mma_frag_c& d, const mma_frag_a& a, const mma_frag_b& b,
                                             const mma_frag_c& c);

// The instruction for element type T spelled `ptx` (bf16 or f16) in the PTX mnemonic.
#define RWKV_MMA_M16N8K16(T, ptx)                                                                            \
  template <>                                                                                                \
  __device__ __forceinline__ void mma_m16n8k16<T>(mma_frag_c & d, const mma_frag_a& a, const mma_frag_b& b,  \
                                                  const mma_frag_c& c) {                                     \
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32." ptx "." ptx                                        \
                 ".f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%10, %11, %12, %13};\n"               \
                 : "=f"(d.r[0]), "=f"(d.r[1]), "=f"(d.r[2]), "=f"(d.r[3])                                   \
                 : "r"(a.r[0]), "r"(a.r[1]), "r"(a.r[2]), "r"(a.r[3]), "r"(b.r[0]), "r"(b.r[1]),             \
                   "f"(c.r[0]), "f"(c.r[1]), "f"(c.r[2]), "f"(c.r[3]));                                     \
  }
RWKV_MMA_M16N8K16(__nv_bfloat16, "bf16")
RWKV_MMA_M16N8K16(__half, "f16")
#undef RWKV_MMA_M16N8K16
#endif

}  // namespace rwkv_kernels
