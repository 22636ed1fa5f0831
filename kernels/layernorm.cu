// kernels/layernorm.cu: residual add + LayerNorm, one block per row.
//
// Mirrors LN(x; gamma, beta) of docs/rwkv-math.md section 1 (pip `F.layer_norm(x, (C,), w, b)`,
// eps 1e-5, biased variance) and the residual adds `x = x + TimeMix(...)`, `x = x + ChannelMix(...)`
// of section 1.1, fused so that the residual stream is read once for both.
#include "kernels/layernorm.cuh"

#include "kernels/common/block_reduce.cuh"
#include "kernels/common/dtype_io.cuh"
#include "kernels/common/kernel_errors.cuh"
#include "kernels/common/row_stats.cuh"

namespace rwkv_kernels {
namespace {

constexpr int kMaxThreads = 256;

}  // namespace

// layernorm_residual_kernel: for row r = blockIdx.x,
//   pass 1: x[r,:] += delta[r,:] (written back), sum -> mean      (fp32)
//   pass 2: sum (x - mean)^2 -> var; rstd = rsqrt(var + eps)      (two-pass, fp32)
//   pass 3: y[r,:] = (x - mean) * rstd * w + b, one rounding to TY
// Launch: grid (rows), block (min(256, ceil(C/VEC) rounded up to 32)) threads, no dynamic smem.
// Thread t owns the VEC-element chunks t, t + blockDim.x, ... of its row (VEC = 8 with 16-byte
// accesses when C % 8 == 0 and every pointer is 16-byte aligned, else 1). Passes 2 and 3 re-read
// the chunks this thread itself wrote in pass 1 (L1/L2 hits), so no barrier is needed for them.
// Bytes per call: rows*C*(4 + sizeof(TD)) read + rows*C*4 written (with delta), rows*C*4 read
// (without), + rows*C*sizeof(TY) written + rows*2*C*sizeof(TW) weight reads (cached).
// FLOPs per call: about 8*rows*C.
template <class TD, class TW, class TY, int VEC>
static __global__ void __launch_bounds__(kMaxThreads)
    layernorm_residual_kernel(float* x, const TD* delta, const TW* w, const TW* b, TY* y, int C, float eps) {
  __shared__ float scratch[33];
  const size_t row = blockIdx.x;
  float* xr = x + row * (size_t)C;
  const int nchunks = C / VEC;
  float mean, rstd;
  residual_row_stats<VEC>(xr, delta != nullptr ? delta + row * (size_t)C : delta, C, eps, scratch, mean, rstd);

  for (int c = threadIdx.x; c < nchunks; c += blockDim.x) {
    float v[VEC], wv[VEC], bv[VEC], out[VEC];
    load_vec<VEC>(xr + c * VEC, v);
    load_vec<VEC>(w + c * VEC, wv);
    load_vec<VEC>(b + c * VEC, bv);
#pragma unroll
    for (int e = 0; e < VEC; ++e) out[e] = (v[e] - mean) * rstd * wv[e] + bv[e];
    store_vec<VEC>(y + row * (size_t)C + c * VEC, out);
  }
}


cudaError_t layernorm_residual(const layernorm_params& p, cudaStream_t stream) {
  if (p.rows < 0 || p.C < 1 || !valid_dtype(p.delta_dtype) || !valid_dtype(p.w_dtype) ||
      !valid_dtype(p.y_dtype))
    return cudaErrorInvalidValue;
  if (p.rows == 0) return cudaSuccess;
  if (p.x == nullptr || p.weight == nullptr || p.bias == nullptr || p.y == nullptr) return cudaErrorInvalidValue;
  const size_t n = (size_t)p.rows * (size_t)p.C;
  const size_t ybytes = n * rwkv::dtype_size(p.y_dtype);
  if (overlaps(p.y, ybytes, p.x, n * 4) ||
      overlaps(p.y, ybytes, p.delta, n * rwkv::dtype_size(p.delta_dtype)))
    return cudaErrorInvalidValue;

  const bool vec = p.C % kVecElems == 0 && aligned16(p.x) && aligned16(p.delta) && aligned16(p.weight) &&
                   aligned16(p.bias) && aligned16(p.y);
  const int chunks = vec ? p.C / kVecElems : p.C;
  const int threads = std::min(kMaxThreads, (chunks + 31) / 32 * 32);
  const dim3 grid((unsigned)p.rows), block((unsigned)threads);

  dispatch_dtype(p.delta_dtype, [&](auto td) {
    dispatch_dtype(p.w_dtype, [&](auto tw) {
      dispatch_dtype(p.y_dtype, [&](auto ty) {
        using TD = typename decltype(td)::type;
        using TW = typename decltype(tw)::type;
        using TY = typename decltype(ty)::type;
        const TD* delta = static_cast<const TD*>(p.delta);
        const TW* w = static_cast<const TW*>(p.weight);
        const TW* b = static_cast<const TW*>(p.bias);
        TY* y = static_cast<TY*>(p.y);
        if (vec) {
          auto* k = layernorm_residual_kernel<TD, TW, TY, kVecElems>;
          LAUNCH_KERNEL(k, grid, block, 0, stream, p.x, delta, w, b, y, p.C, p.eps);
        } else {
          auto* k = layernorm_residual_kernel<TD, TW, TY, 1>;
          LAUNCH_KERNEL(k, grid, block, 0, stream, p.x, delta, w, b, y, p.C, p.eps);
        }
      });
    });
  });
  return launch_status();
}

}  // namespace rwkv_kernels
