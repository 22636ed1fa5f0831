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

// activation_kernel: launch grid (ceil(width / 256), rows), block 256. Thread
// (c, row) owns one element. Bytes per call: rows*width*(4 + sizeof(out)).
// FLOPs per call: about 10*rows*width (tanh/exp counted as ~8).
template <class TO>
static __global__ void __launch_bounds__(kActThreads) activation_kernel(activation_params p) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= p.width) return;
  act_kind act = p.seg_act[0];
  int start = 0;
#pragma unroll
  for (int s = 0; s < kActivationMaxSegments; ++s) {
    if (s < p.n_seg && c >= start) act = p.seg_act[s];
    start += p.seg_width[s];
  }
  const size_t at = (size_t)blockIdx.y * p.width + c;
  static_cast<TO*>(p.out)[at] = from_float<TO>(apply_act(act, p.in[at]));
}

cudaError_t activation(const activation_params& p, cudaStream_t stream) {
  if (p.rows == 0) return cudaSuccess;
  if (p.rows < 0 || p.width < 1 || p.n_seg < 1 || p.n_seg > kActivationMaxSegments || !p.in || !p.out)
    return cudaErrorInvalidValue;
  int total = 0;
  for (int s = 0; s < p.n_seg; ++s) total += p.seg_width[s];
  if (total != p.width) return cudaErrorInvalidValue;
  const dim3 grid((unsigned)((p.width + kActThreads - 1) / kActThreads), (unsigned)p.rows);
  return dispatch_dtype(p.out_dtype, [&](auto tag) {
    using TO = typename decltype(tag)::type;
    auto* k = activation_kernel<TO>;
    LAUNCH_KERNEL(k, grid, dim3(kActThreads), 0, stream, p);
    return launch_status();
  });
}

// gate_mul_kernel: launch grid (ceil(n / 256)), block 256; thread i owns element i.
// Bytes per call: 12*n. FLOPs: about 12*n.
static __global__ void __launch_bounds__(kActThreads)
    gate_mul_kernel(const float* r, const float* v, float* out, size_t n) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = sigmoidf_(r[i]) * v[i];
}

cudaError_t gate_mul(const float* r, const float* v, float* out, size_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  if (!r || !v || !out) return cudaErrorInvalidValue;
  const unsigned blocks = (unsigned)((n + kActThreads - 1) / kActThreads);
  LAUNCH_KERNEL(gate_mul_kernel, dim3(blocks), dim3(kActThreads), 0, stream, r, v, out, n);
  return launch_status();
}

}  // namespace rwkv_kernels
