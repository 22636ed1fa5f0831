// kernels/common/dtype_io.cuh: element types of kernel inputs/outputs, for .cu files only.
//
// defines:
//   to_float(x), from_float<T>(f)        fp32 <-> float/__half/__nv_bfloat16 (round to nearest even)
//   load_vec<VEC>(p, out), store_vec<VEC>(p, in)
//                                        VEC consecutive elements as fp32; 16-byte loads/stores
//                                        when VEC*sizeof(T) is a multiple of 16 (p must then be
//                                        16-byte aligned), element by element otherwise
//   kVecElems                            VEC of the vector paths: 8 elements (16 B of 16-bit data)
//   aligned16(p)                         host check before choosing a vector path
//   dispatch_dtype(dtype, f)             host: calls f(type_tag<T>{}) for T matching rwkv::DType
#pragma once
#include <cstdint>

#include "kernels/common/cuda_compat.cuh"
#include "runtime/core/dtype.h"

namespace rwkv_kernels {

__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }

template <class T>
__device__ __forceinline__ T from_float(float x);
template <>
__device__ __forceinline__ float from_float<float>(float x) { return x; }
template <>
__device__ __forceinline__ __half from_float<__half>(float x) { return __float2half_rn(x); }
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }

// Elements per vector step of the vectorised kernel paths: 16 bytes of 16-bit data,
// two 16-byte accesses of fp32 data.
constexpr int kVecElems = 8;

// 16 bytes of T; loaded and stored as one 128-bit access on the GPU.
template <class T>
struct alignas(16) Pack16 {
  T e[16 / sizeof(T)];
};

template <int VEC, class T>
__device__ __forceinline__ void load_vec(const T* p, float (&out)[VEC]) {
  constexpr int per_pack = 16 / (int)sizeof(T);
  if constexpr (VEC % per_pack == 0) {
#pragma unroll
    for (int q = 0; q < VEC / per_pack; ++q) {
      const Pack16<T> pk = reinterpret_cast<const Pack16<T>*>(p)[q];
#pragma unroll
      for (int e = 0; e < per_pack; ++e) out[q * per_pack + e] = to_float(pk.e[e]);
    }
  } else {
#pragma unroll
    for (int e = 0; e < VEC; ++e) out[e] = to_float(p[e]);
  }
}

template <int VEC, class T>
__device__ __forceinline__ void store_vec(T* p, const float (&in)[VEC]) {
  constexpr int per_pack = 16 / (int)sizeof(T);
  if constexpr (VEC % per_pack == 0) {
#pragma unroll
    for (int q = 0; q < VEC / per_pack; ++q) {
      Pack16<T> pk;
#pragma unroll
      for (int e = 0; e < per_pack; ++e) pk.e[e] = from_float<T>(in[q * per_pack + e]);
      reinterpret_cast<Pack16<T>*>(p)[q] = pk;
    }
  } else {
#pragma unroll
    for (int e = 0; e < VEC; ++e) p[e] = from_float<T>(in[e]);
  }
}

inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

template <class T>
struct type_tag {
  using type = T;
};

// Calls f(type_tag<T>{}) with the element type of `dtype`; returns what f returns.
template <class F>
auto dispatch_dtype(rwkv::DType dtype, F&& f) {
  switch (dtype) {
    case rwkv::DType::f16: return f(type_tag<__half>{});
    case rwkv::DType::bf16: return f(type_tag<__nv_bfloat16>{});
    default: return f(type_tag<float>{});
  }
}

inline bool valid_dtype(rwkv::DType d) {
  return d == rwkv::DType::f32 || d == rwkv::DType::f16 || d == rwkv::DType::bf16;
}

}  // namespace rwkv_kernels
