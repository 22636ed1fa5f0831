// kernels/dequant.cu: quantized matrix -> dense; see dequant.cuh.
#include "kernels/dequant.cuh"

#include <algorithm>

#include "kernels/common/dtype_io.cuh"
#include "kernels/common/kernel_errors.cuh"

namespace rwkv_kernels {
namespace {

constexpr int kDequantThreads = 256;
constexpr int kDequantVec = 8;

// The 8 values from element index `first` (row-major, a multiple of 8) as fp32.
template <gemv_weights Q>
__device__ __forceinline__ void dequant_eight(const dequant_params& p, size_t first, float (&v)[kDequantVec]) {
  const size_t r = first / (size_t)p.in;
  const int k = (int)(first % (size_t)p.in);
  const size_t g = r * (size_t)(p.in / p.group) + (size_t)(k / p.group);
  const float scale = __half2float(reinterpret_cast<const __half*>(p.scale)[g]);
  const float mn = __half2float(reinterpret_cast<const __half*>(p.min)[g]);
  if constexpr (Q == gemv_weights::int8) {
    const int8_t* q = static_cast<const int8_t*>(p.q) + first;
#pragma unroll
    for (int e = 0; e < kDequantVec; ++e) v[e] = fmaf((float)q[e], scale, mn);
  } else {
    const uint32_t word = *reinterpret_cast<const uint32_t*>(static_cast<const uint8_t*>(p.q) + first / 2);
#pragma unroll
    for (int e = 0; e < kDequantVec; ++e) v[e] = fmaf((float)((word >> (4 * e)) & 0xFu), scale, mn);
  }
}

template <gemv_weights Q, class T>
static __global__ void __launch_bounds__(kDequantThreads) dequant_kernel(dequant_params p) {
  const size_t n = (size_t)p.rows * p.in / kDequantVec;
  for (size_t i = (size_t)blockIdx.x * kDequantThreads + threadIdx.x; i < n; i += (size_t)gridDim.x * kDequantThreads) {
    float v[kDequantVec];
    dequant_eight<Q>(p, i * kDequantVec, v);
    store_vec<kDequantVec>(static_cast<T*>(p.out) + i * kDequantVec, v);
  }
}

template <gemv_weights Q>
void launch(const dequant_params& p, cudaStream_t stream) {
  const size_t n = (size_t)p.rows * p.in / kDequantVec;
  const size_t blocks = std::min<size_t>((n + kDequantThreads - 1) / kDequantThreads, size_t(1) << 16);
  dispatch_dtype(p.out_dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    auto* k = dequant_kernel<Q, T>;
    LAUNCH_KERNEL(k, dim3((unsigned)blocks), dim3(kDequantThreads), 0, stream, p);
  });
}

}  // namespace

cudaError_t dequantize(const dequant_params& p, cudaStream_t stream) {
  if (p.kind == gemv_weights::dense || p.rows < 0 || p.in < 32 || p.in % 32 != 0 || p.group < 32 ||
      p.group % 32 != 0 || p.in % p.group != 0 || !valid_dtype(p.out_dtype))
    return cudaErrorInvalidValue;
  if (p.rows == 0) return cudaSuccess;
  if (!p.q || !p.scale || !p.out || !p.min || !aligned16(p.out))
    return cudaErrorInvalidValue;
  const size_t values = (size_t)p.rows * p.in;
  const size_t out_bytes = values * rwkv::dtype_size(p.out_dtype);
  const size_t q_bytes = p.kind == gemv_weights::int8 ? values : values / 2;
  const size_t scale_bytes = values / p.group * 2;
  if (overlaps(p.out, out_bytes, p.q, q_bytes) || overlaps(p.out, out_bytes, p.scale, scale_bytes) ||
      overlaps(p.out, out_bytes, p.min, scale_bytes))
    return cudaErrorInvalidValue;
  if (p.kind == gemv_weights::int8)
    launch<gemv_weights::int8>(p, stream);
  else
    launch<gemv_weights::q4>(p, stream);
  return launch_status();
}

}  // namespace rwkv_kernels
