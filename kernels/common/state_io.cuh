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
#include <cstring>

#include "kernels/common/cuda_compat.cuh"
#include "kernels/common/head_reduce.cuh"

namespace rwkv_kernels {

template <class TS>
__device__ __forceinline__ TS* state_piece(float* base, size_t offset) {
  return reinterpret_cast<TS*>(base + offset);
}

template <int CNT>
__device__ __forceinline__ void load_state(const float* __restrict__ p, float* out, bool vec) {
  load_floats<CNT>(p, out, vec);
}

template <int CNT>
__device__ __forceinline__ void store_state(float* __restrict__ p, const float* in, bool vec) {
  store_floats<CNT>(p, in, vec);
}

// Two bf16 values in one 32-bit word (the first in the low half, as in memory) and back: a bf16
// value is the high half of its fp32 bits, so widening is a shift or a mask.
__device__ __forceinline__ void widen_bf16x2(unsigned w, float* out) {
  out[0] = __uint_as_float(w << 16);
  out[1] = __uint_as_float(w & 0xffff0000u);
}
__device__ __forceinline__ unsigned round_bf16x2(float lo, float hi) {
  const __nv_bfloat162 b = __floats2bfloat162_rn(lo, hi);  // round to nearest even
  unsigned w;
  memcpy(&w, &b, sizeof w);
  return w;
}

template <int CNT>
__device__ __forceinline__ void load_state(const __nv_bfloat16* __restrict__ p, float* out, bool vec) {
  static_assert(CNT == 4 || CNT % 8 == 0, "CNT: 4 or a multiple of 8");
  if (CNT == 4 && vec) {  // one 8-byte load
    const uint2 w = *reinterpret_cast<const uint2*>(p);
    widen_bf16x2(w.x, out);
    widen_bf16x2(w.y, out + 2);
  } else if (vec) {  // CNT / 8 independent 16-byte loads
#pragma unroll
    for (int q = 0; q < CNT / 8; ++q) {
      const uint4 w = reinterpret_cast<const uint4*>(p)[q];
      widen_bf16x2(w.x, out + 8 * q);
      widen_bf16x2(w.y, out + 8 * q + 2);
      widen_bf16x2(w.z, out + 8 * q + 4);
      widen_bf16x2(w.w, out + 8 * q + 6);
    }
  } else {  // 4-byte pairs: a bf16 piece starts at a float offset and CNT is even
#pragma unroll
    for (int e = 0; e < CNT; e += 2) widen_bf16x2(reinterpret_cast<const unsigned*>(p)[e / 2], out + e);
  }
}

template <int CNT>
__device__ __forceinline__ void store_state(__nv_bfloat16* __restrict__ p, const float* in, bool vec) {
  static_assert(CNT == 4 || CNT % 8 == 0, "CNT: 4 or a multiple of 8");
  if (CNT == 4 && vec) {
    *reinterpret_cast<uint2*>(p) = make_uint2(round_bf16x2(in[0], in[1]), round_bf16x2(in[2], in[3]));
  } else if (vec) {
#pragma unroll
    for (int q = 0; q < CNT / 8; ++q) {
      const float* f = in + 8 * q;
      reinterpret_cast<uint4*>(p)[q] = make_uint4(round_bf16x2(f[0], f[1]), round_bf16x2(f[2], f[3]),
                                                  round_bf16x2(f[4], f[5]), round_bf16x2(f[6], f[7]));
    }
  } else {
#pragma unroll
    for (int e = 0; e < CNT; e += 2) reinterpret_cast<unsigned*>(p)[e / 2] = round_bf16x2(in[e], in[e + 1]);
  }
}

}  // namespace rwkv_kernels
