// kernels/tile_mma.cu: whole-tile tensor-core product; see tile_mma.cuh.
#include "kernels/tile_mma.cuh"

#include "kernels/common/dtype_io.cuh"
#include "kernels/common/kernel_errors.cuh"
#include "kernels/common/mma.cuh"
#include "kernels/common/mma_split.cuh"

namespace rwkv_kernels {
namespace {

// Index in D of this lane's first output (row m0 + g, column n0 + 2t of the block's tile); its
// four outputs, in the C fragment's order, are at d0, d0 + 1, d0 + 8 N, d0 + 8 N + 1.
__device__ __forceinline__ size_t lane_output(const tile_mma_params& p) {
  const int lane = (int)threadIdx.x, g = lane >> 2, t = lane & 3;
  return (size_t)((int)blockIdx.y * 16 + g) * p.N + (size_t)blockIdx.x * 8 + 2 * t;
}
__device__ __forceinline__ mma_frag_c load_outputs(const float* D, size_t d0, size_t N) {
  return {{D[d0], D[d0 + 1], D[d0 + 8 * N], D[d0 + 8 * N + 1]}};
}
__device__ __forceinline__ void store_outputs(float* D, size_t d0, size_t N, const mma_frag_c& acc) {
  D[d0] = acc.r[0];
  D[d0 + 1] = acc.r[1];
  D[d0 + 8 * N] = acc.r[2];
  D[d0 + 8 * N + 1] = acc.r[3];
}

// One 16-wide step of K, a = &A[m0][k0], w = &W[n0][k0] (row stride K), 16-bit elements: the
// lane's fragment registers loaded straight from A and W (32-bit loads of two neighbouring
// elements), one mma_m16n8k16.
template <class T>
__device__ __forceinline__ void product_step(mma_frag_c& acc, const T* a, const T* w, size_t K) {
  const int lane = (int)threadIdx.x, g = lane >> 2, t = lane & 3;
  const T* a_lo = a + (size_t)g * K + 2 * t;  // row g
  const T* a_hi = a_lo + 8 * K;               // row g + 8
  const T* w_g = w + (size_t)g * K + 2 * t;   // column g of B = row n0 + g of W
  mma_frag_a fa;
  fa.r[0] = mma_pack(a_lo[0], a_lo[1]);
  fa.r[1] = mma_pack(a_hi[0], a_hi[1]);
  fa.r[2] = mma_pack(a_lo[8], a_lo[9]);
  fa.r[3] = mma_pack(a_hi[8], a_hi[9]);
  mma_frag_b fb;
  fb.r[0] = mma_pack(w_g[0], w_g[1]);
  fb.r[1] = mma_pack(w_g[8], w_g[9]);
  mma_m16n8k16<T>(acc, fa, fb, acc);
}

// The same step with fp32 elements: each of the lane's elements (single fp32 loads) split in
// kParts bf16 parts (kernels/common/mma_split.cuh: split_a_of, split_b_of) and multiplied with
// mma_split: six products (three parts) or three (two), the small ones first.
template <int kParts>
__device__ __forceinline__ void product_step(mma_frag_c& acc, const float* a, const float* w, size_t K) {
  mma_split(acc, split_a_of<kParts>([&](int m, int k) { return a[(size_t)m * K + k]; }),
            split_b_of<kParts>([&](int k, int n) { return w[(size_t)n * K + k]; }));
}

// tile_mma_kernel: launch grid (N / 8, M / 16), block 32 (one warp per 16 x 8 tile of D). Lane
// (g = lane / 4, t = lane % 4) adds its four outputs of A W^T into D, a product_step per 16-wide
// step of K. Bytes per call: (M*K*N/8 + N*K*M/16)*sizeof(T) (tiles of A and W read once per tile
// of D; L2-served) + M*N*8 (D read and written). FLOPs per call: 2*M*N*K (fp32: issued six times
// on the tensor cores, or three times with two parts). kParts: fp32 elements' split (0 for 16-bit T).
template <class T, int kParts>
__global__ void __launch_bounds__(32) tile_mma_kernel(tile_mma_params p) {
  const int m0 = (int)blockIdx.y * 16, n0 = (int)blockIdx.x * 8;
  const T* __restrict__ A = static_cast<const T*>(p.A);
  const T* __restrict__ W = static_cast<const T*>(p.W);
  const size_t K = (size_t)p.K, d0 = lane_output(p);
  mma_frag_c acc = load_outputs(p.D, d0, p.N);
  for (size_t k0 = 0; k0 < K; k0 += 16) {
    const T* a = A + (size_t)m0 * K + k0;
    const T* w = W + (size_t)n0 * K + k0;
    if constexpr (kParts > 0)
      product_step<kParts>(acc, a, w, K);
    else
      product_step(acc, a, w, K);
  }
  store_outputs(p.D, d0, p.N, acc);
}

}  // namespace

cudaError_t tile_mma(const tile_mma_params& p, cudaStream_t stream) {
  if (p.M < 0 || p.N < 0 || p.K < 0) return cudaErrorInvalidValue;
  if (p.M == 0 || p.N == 0) return cudaSuccess;
  if (p.M % 16 || p.N % 8 || p.K % 16 || p.K < 16 || !p.A || !p.W || !p.D) return cudaErrorInvalidValue;
  if (p.dtype != rwkv::DType::bf16 && p.dtype != rwkv::DType::f16 && p.dtype != rwkv::DType::f32)
    return cudaErrorInvalidValue;
  if (p.dtype == rwkv::DType::f32 && !split_parts_valid(p.split_parts)) return cudaErrorInvalidValue;
  const size_t d_bytes = (size_t)p.M * p.N * sizeof(float), element = rwkv::dtype_size(p.dtype);
  if (overlaps(p.D, d_bytes, p.A, (size_t)p.M * p.K * element) ||
      overlaps(p.D, d_bytes, p.W, (size_t)p.N * p.K * element))
    return cudaErrorInvalidValue;
  const dim3 grid((unsigned)(p.N / 8), (unsigned)(p.M / 16));
  if (p.dtype == rwkv::DType::f32) {
    auto* k = p.split_parts == kSplitFp32 ? tile_mma_kernel<float, kSplitFp32> : tile_mma_kernel<float, kSplitBf16Run>;
    LAUNCH_KERNEL(k, grid, dim3(32), 0, stream, p);
  } else if (p.dtype == rwkv::DType::bf16) {
    auto* k = tile_mma_kernel<__nv_bfloat16, 0>;
    LAUNCH_KERNEL(k, grid, dim3(32), 0, stream, p);
  } else {
    auto* k = tile_mma_kernel<__half, 0>;
    LAUNCH_KERNEL(k, grid, dim3(32), 0, stream, p);
  }
  return launch_status();
}

}  // namespace rwkv_kernels
