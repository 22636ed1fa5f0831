// kernels/activation.cu: element-wise activations between GEMMs; see activation.cuh.
#include "kernels/activation.cuh"

#include <cmath>

#include "kernels/common/dtype_io.cuh"
#include "kernels/common/head_reduce.cuh"
#include "kernels/common/kernel_errors.cuh"

namespace rwkv_kernels {

constexpr int kActThreads = 256;

__device__ __forceinline__ float apply_act(act_kind a, float x) {
  switch (a) {
    case act_kind::tanh: return tanhf(x);
    case act_kind::sigmoid: return sigmoidf_(x);
    case act_kind::relu_sq: {
      const float r = fmaxf(x, 0.0f);
      return r * r;
    }
    default: return x;
  }
}

// The activation of column c (segments cover the row left to right).
__device__ __forceinline__ act_kind segment_act(const activation_params& p, int c) {
  act_kind act = p.seg_act[0];
  int start = 0;
#pragma unroll
  for (int s = 0; s < kActivationMaxSegments; ++s) {
    if (s < p.n_seg && c >= start) act = p.seg_act[s];
    start += p.seg_width[s];
  }
  return act;
}

// activation_kernel: launch grid (ceil(width / (256 VEC)), rows), block 256. Thread (c, row) owns
// VEC consecutive elements of its row, c = VEC (blockIdx.x 256 + threadIdx.x), all of one segment.
// VEC = 8 (the vector path: every segment's width a multiple of 8, both planes 16-byte aligned):
// two 16-byte loads a thread, 64 KB in flight on an SM at 2048 threads, what a memory-bound launch
// needs to approach the bandwidth (one 4-byte load a thread keeps a quarter of that in flight);
// VEC = 1 otherwise. Bytes per call: rows*width*(4 + sizeof(out)).
// FLOPs per call: about 10*rows*width (tanh/exp counted as ~8).
template <class TO, int VEC>
static __global__ void __launch_bounds__(kActThreads) activation_kernel(activation_params p) {
  const int c = (blockIdx.x * blockDim.x + threadIdx.x) * VEC;
  if (c >= p.width) return;
  const act_kind act = segment_act(p, c);
  const size_t at = (size_t)blockIdx.y * p.width + c;
  float v[VEC];
  load_vec<VEC>(p.in + at, v);
#pragma unroll
  for (int e = 0; e < VEC; ++e) v[e] = apply_act(act, v[e]);
  store_vec<VEC>(static_cast<TO*>(p.out) + at, v);
}

namespace {

// Whether every segment (and so every thread's VEC elements) starts at a multiple of kVecElems
// and both planes are 16-byte aligned: the vector path of activation_kernel.
bool activation_vectorizable(const activation_params& p) {
  for (int s = 0; s < p.n_seg; ++s)
    if (p.seg_width[s] % kVecElems != 0) return false;
  return aligned16(p.in) && aligned16(p.out);
}

}  // namespace

cudaError_t activation(const activation_params& p, cudaStream_t stream) {
  if (p.rows == 0) return cudaSuccess;
  if (p.rows < 0 || p.width < 1 || p.n_seg < 1 || p.n_seg > kActivationMaxSegments || !p.in || !p.out)
    return cudaErrorInvalidValue;
  int total = 0;
  for (int s = 0; s < p.n_seg; ++s) total += p.seg_width[s];
  if (total != p.width) return cudaErrorInvalidValue;
  const int vec = activation_vectorizable(p) ? kVecElems : 1;
  const int per_block = kActThreads * vec;
  const dim3 grid((unsigned)((p.width + per_block - 1) / per_block), (unsigned)p.rows);
  return dispatch_dtype(p.out_dtype, [&](auto tag) {
    using TO = typename decltype(tag)::type;
    auto* k = vec == 1 ? activation_kernel<TO, 1> : activation_kernel<TO, kVecElems>;
    LAUNCH_KERNEL(k, grid, dim3(kActThreads), 0, stream, p);
    return launch_status();
  });
}

// gate_mul_kernel: launch grid (ceil(n / (256 VEC))), block 256; thread i owns elements
// [VEC i, VEC i + VEC): VEC = 4 (one 16-byte load of r and of v, one store) when n is a multiple of
// 4 and the three planes are 16-byte aligned, else 1. ADD: out += the product (rounded first, no
// fused multiply-add), else out = it. Bytes per call: 12*n (16*n with ADD). FLOPs: about 12*n.
template <int VEC, bool ADD>
static __global__ void __launch_bounds__(kActThreads)
    gate_mul_kernel(const float* r, const float* v, float* out, size_t n) {
  const size_t i = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) * VEC;
  if (i >= n) return;
  float rv[VEC], vv[VEC], ov[VEC];
  load_vec<VEC>(r + i, rv);
  load_vec<VEC>(v + i, vv);
  if (ADD) load_vec<VEC>(out + i, ov);
#pragma unroll
  for (int e = 0; e < VEC; ++e) {
    const float g = __fmul_rn(sigmoidf_(rv[e]), vv[e]);
    rv[e] = ADD ? ov[e] + g : g;
  }
  store_vec<VEC>(out + i, rv);
}

cudaError_t gate_mul(const float* r, const float* v, float* out, size_t n, cudaStream_t stream, bool accumulate) {
  if (n == 0) return cudaSuccess;
  if (!r || !v || !out) return cudaErrorInvalidValue;
  if (overlaps(out, n * 4, r, n * 4) || overlaps(out, n * 4, v, n * 4)) return cudaErrorInvalidValue;
  const bool vec = n % 4 == 0 && aligned16(r) && aligned16(v) && aligned16(out);
  const size_t per_block = (size_t)kActThreads * (vec ? 4 : 1);
  const unsigned blocks = (unsigned)((n + per_block - 1) / per_block);
  auto* k = accumulate ? (vec ? gate_mul_kernel<4, true> : gate_mul_kernel<1, true>)
                       : (vec ? gate_mul_kernel<4, false> : gate_mul_kernel<1, false>);
  LAUNCH_KERNEL(k, dim3(blocks), dim3(kActThreads), 0, stream, r, v, out, n);
  return launch_status();
}

}  // namespace rwkv_kernels
