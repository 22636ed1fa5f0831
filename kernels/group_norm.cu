// kernels/group_norm.cu: per-head GroupNorm (+ optional gate), one team of lanes per (row, head).
//
// Mirrors GN_H(y; ln_x.weight, ln_x.bias, eps = 64e-5) of rwkv-spec.md section 1 (pip
// `F.group_norm(x.view(T, C), num_groups=H, weight=lx_w, bias=lx_b, eps=64e-5)` in `att_seq_v5*`,
// `att_seq_v6_0` and `RWKV_x070_TMix_seq`), followed by the `o * g` of sections 4.4 and 5.2.
// Statistics are fp32 and two-pass (mean, then biased variance); the gate is applied to the fp32
// normalised value, so the output is rounded once.
#include "kernels/group_norm.cuh"

#include <algorithm>

#include "kernels/common/dtype_io.cuh"
#include "kernels/common/kernel_errors.cuh"

namespace rwkv_kernels {
namespace {

constexpr int kThreads = 128;

// Sum over an aligned team of G lanes (G a power of two <= 32); all 32 lanes must call it.
__device__ __forceinline__ float team_sum(float v, int G) {
  for (int offset = G >> 1; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

}  // namespace

// group_norm_kernel: out[r, h*N + j] = ((y - mean) * rstd * w[h*N + j] + b[h*N + j]) (* gate)
// with mean/var over the N channels of head h of row r, rstd = rsqrt(var + eps).
// Launch: grid (ceil(rows*H / (128/G))), block (128), where a team of G lanes (G = the smallest
// power of two >= N/VEC, at most 32) handles one (row, head) group; teams are aligned inside
// warps, so the reduction is G-wide xor shuffles with no shared memory and no block barrier.
// Lane j of a team owns the VEC-element chunks j, j + G, ... of its group (VEC = 8 with 16-byte
// accesses when N % 8 == 0 and all pointers are 16-byte aligned, else 1). Lanes of teams past the
// last group still join the shuffles but touch no memory.
// Bytes per call: rows*H*N*(4 + sizeof(TO)) (+ rows*H*N*sizeof(TO) with a gate)
//   + 2*H*N*sizeof(TW) weights (cached). FLOPs per call: about 9*rows*H*N.
template <class TW, class TO, int VEC>
static __global__ void __launch_bounds__(kThreads)
    group_norm_kernel(const float* y, const TW* w, const TW* b, const TO* gate, TO* out, int n_groups, int H,
                      int N, int G, float eps) {
  const int gid = (int)((blockIdx.x * (size_t)blockDim.x + threadIdx.x) / G);
  const int j = threadIdx.x & (G - 1);
  const bool active = gid < n_groups;
  const int nchunks = N / VEC;
  const size_t base = (size_t)gid * N;  // row r, head h: (r*H + h)*N
  const int wbase = (gid % H) * N;

  float sum = 0.0f;
  if (active) {
    for (int c = j; c < nchunks; c += G) {
      float v[VEC];
      load_vec<VEC>(y + base + c * VEC, v);
#pragma unroll
      for (int e = 0; e < VEC; ++e) sum += v[e];
    }
  }
  const float mean = team_sum(sum, G) / (float)N;

  float sq = 0.0f;
  if (active) {
    for (int c = j; c < nchunks; c += G) {
      float v[VEC];
      load_vec<VEC>(y + base + c * VEC, v);
#pragma unroll
      for (int e = 0; e < VEC; ++e) {
        const float d = v[e] - mean;
        sq += d * d;
      }
    }
  }
  const float var = team_sum(sq, G) / (float)N;
  const float rstd = rsqrtf(var + eps);
  if (!active) return;

  for (int c = j; c < nchunks; c += G) {
    float v[VEC], wv[VEC], bv[VEC], o[VEC];
    load_vec<VEC>(y + base + c * VEC, v);
    load_vec<VEC>(w + wbase + c * VEC, wv);
    load_vec<VEC>(b + wbase + c * VEC, bv);
#pragma unroll
    for (int e = 0; e < VEC; ++e) o[e] = (v[e] - mean) * rstd * wv[e] + bv[e];
    if (gate != nullptr) {
      float g[VEC];
      load_vec<VEC>(gate + base + c * VEC, g);
#pragma unroll
      for (int e = 0; e < VEC; ++e) o[e] *= g[e];
    }
    store_vec<VEC>(out + base + c * VEC, o);
  }
}


cudaError_t group_norm(const group_norm_params& p, cudaStream_t stream) {
  if (p.rows < 0 || p.H < 1 || p.N < 1 || !valid_dtype(p.w_dtype) || !valid_dtype(p.out_dtype))
    return cudaErrorInvalidValue;
  if (p.rows == 0) return cudaSuccess;
  if (p.y == nullptr || p.weight == nullptr || p.bias == nullptr || p.out == nullptr) return cudaErrorInvalidValue;
  const size_t n = (size_t)p.rows * p.H * p.N;
  if (n / p.N / p.H != (size_t)p.rows || (size_t)p.rows * p.H > (size_t)INT32_MAX) return cudaErrorInvalidValue;
  const size_t out_bytes = n * rwkv::dtype_size(p.out_dtype);
  // The gate may be the output buffer itself (each element is read before it is written by the
  // same thread), but not a shifted view of it.
  if (overlaps(p.out, out_bytes, p.y, n * 4) || (p.gate != p.out && overlaps(p.out, out_bytes, p.gate, out_bytes)))
    return cudaErrorInvalidValue;

  const bool vec = p.N % kVecElems == 0 && aligned16(p.y) && aligned16(p.weight) && aligned16(p.bias) &&
                   aligned16(p.gate) && aligned16(p.out);
  const int chunks = vec ? p.N / kVecElems : p.N;
  int G = 1;
  while (G < chunks && G < 32) G <<= 1;
  const int n_groups = p.rows * p.H;
  const int groups_per_block = kThreads / G;
  const dim3 grid((unsigned)((n_groups + groups_per_block - 1) / groups_per_block)), block(kThreads);

  dispatch_dtype(p.w_dtype, [&](auto tw) {
    dispatch_dtype(p.out_dtype, [&](auto to) {
      using TW = typename decltype(tw)::type;
      using TO = typename decltype(to)::type;
      const TW* w = static_cast<const TW*>(p.weight);
      const TW* b = static_cast<const TW*>(p.bias);
      const TO* gate = static_cast<const TO*>(p.gate);
      TO* out = static_cast<TO*>(p.out);
      if (vec) {
        auto* k = group_norm_kernel<TW, TO, kVecElems>;
        LAUNCH_KERNEL(k, grid, block, 0, stream, p.y, w, b, gate, out, n_groups, p.H, p.N, G, p.eps);
      } else {
        auto* k = group_norm_kernel<TW, TO, 1>;
        LAUNCH_KERNEL(k, grid, block, 0, stream, p.y, w, b, gate, out, n_groups, p.H, p.N, G, p.eps);
      }
    });
  });
  return launch_status();
}

}  // namespace rwkv_kernels
