// kernels/common/state_io.cuh: the WKV kernels' matrix state (att.kv) in fp32 or bf16; for .cu
// files only.
//
// A state buffer is a float* base with piece offsets in floats (runtime/backend/state_layout.h).
// With a bf16 state (CudaOptions::state_dtype) the att.kv piece at its float offset holds bf16
// values (2 per float of room); the kernels load it into fp32 registers, compute in fp32, and
// round to nearest even once when they store it back (docs/architecture.md, "bf16 state").
//
// defines:
//   state_piece<TS>(base, offset)            the piece at `offset` floats as TS elements
//   load_state<CNT>(p, out, vec)             CNT state values (fp32 or bf16) into fp32 registers
//   store_state<CNT>(p, in, vec)             the inverse (bf16: round to nearest even)
// `vec`: p is 16-byte aligned (fp32: 16-byte accesses; bf16: 16-byte accesses of 8 values, or
// one 8-byte access when CNT == 4); otherwise element by element (bf16: by 4-byte pairs, as a
// bf16 piece starts at a float offset and the kernels' rows and tiles start at even elements).
#pragma once
#include <cstddef>

#include "kernels/common/cuda_compat.cuh"
#include "kernels/common/head_reduce.cuh"

namespace rwkv_kernels {

template <class TS>
__device__ __forceinline__ TS* state_piece(float* base, size_t offset) {
  return reinterpret_cast<TS*>(base + offset);
}

// BYTES of bf16 values (as pairs), read or written as one access.
template <int BYTES>
struct alignas(BYTES) Bf16Pack {
  __nv_bfloat162 e[BYTES / 4];
};

template <int CNT>
__device__ __forceinline__ void load_state(const float* __restrict__ p, float* out, bool vec) {
  load_floats<CNT>(p, out, vec);
}

template <int CNT>
__device__ __forceinline__ void store_state(float* __restrict__ p, const float* in, bool vec) {
  store_floats<CNT>(p, in, vec);
}

template <int CNT>
__device__ __forceinline__ void load_state(const __nv_bfloat16* __restrict__ p, float* out, bool vec) {
  static_assert(CNT == 4 || CNT % 8 == 0, "CNT: 4 or a multiple of 8");
  constexpr int kBytes = CNT == 4 ? 8 : 16, kPer = kBytes / 2;
  if (vec) {
#pragma unroll
    for (int q = 0; q < CNT / kPer; ++q) {
      const Bf16Pack<kBytes> pk = reinterpret_cast<const Bf16Pack<kBytes>*>(p)[q];
#pragma unroll
      for (int e = 0; e < kPer; e += 2) {
        const float2 f = __bfloat1622float2(pk.e[e / 2]);
        out[q * kPer + e] = f.x;
        out[q * kPer + e + 1] = f.y;
      }
    }
  } else {  // 4-byte pairs: a bf16 piece starts at a float offset and CNT is even
    const __nv_bfloat162* pairs = reinterpret_cast<const __nv_bfloat162*>(p);
#pragma unroll
    for (int e = 0; e < CNT; e += 2) {
      const float2 f = __bfloat1622float2(pairs[e / 2]);
      out[e] = f.x;
      out[e + 1] = f.y;
    }
  }
}

template <int CNT>
__device__ __forceinline__ void store_state(__nv_bfloat16* __restrict__ p, const float* in, bool vec) {
  static_assert(CNT == 4 || CNT % 8 == 0, "CNT: 4 or a multiple of 8");
  constexpr int kBytes = CNT == 4 ? 8 : 16, kPer = kBytes / 2;
  if (vec) {
#pragma unroll
    for (int q = 0; q < CNT / kPer; ++q) {
      Bf16Pack<kBytes> pk;
#pragma unroll
      for (int e = 0; e < kPer; e += 2) pk.e[e / 2] = __floats2bfloat162_rn(in[q * kPer + e], in[q * kPer + e + 1]);
      reinterpret_cast<Bf16Pack<kBytes>*>(p)[q] = pk;
    }
  } else {
    __nv_bfloat162* pairs = reinterpret_cast<__nv_bfloat162*>(p);
#pragma unroll
    for (int e = 0; e < CNT; e += 2) pairs[e / 2] = __floats2bfloat162_rn(in[e], in[e + 1]);
  }
}

}  // namespace rwkv_kernels
