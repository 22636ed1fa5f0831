// kernels/embedding.cu: embedding row gather with a bounds check on every id.
//
// Mirrors `x = E'[t]` of docs/rwkv-math.md section 1.1 (pip `w['emb.weight'][tokens]`, the table
// with ln0 folded in at load time), converting the stored dtype to the fp32 residual stream.
#include "kernels/embedding.cuh"

#include <algorithm>

#include "kernels/common/dtype_io.cuh"
#include "kernels/common/kernel_errors.cuh"

namespace rwkv_kernels {
namespace {

constexpr int kMaxThreads = 128;

}  // namespace

// embedding_kernel: out[i, :] = float(emb[ids[i], :]), or NaN with *error_flag = 1 when ids[i]
// is outside [0, V).
// Launch: grid (n, ceil(C/VEC / threads)), block (min(128, C/VEC rounded up to 32)).
// Thread (chunk c, row i) owns channels [c*VEC, c*VEC+VEC) of output row i (VEC = 8 with 16-byte
// accesses when C % 8 == 0 and emb/out are 16-byte aligned, else 1). Thread 0 of block y = 0 of a
// bad row sets the flag (atomicExch, so concurrent setters do not race).
// Bytes per call: n*4 ids + n*C*sizeof(TE) read + n*C*4 written. FLOPs: none (conversions only).
template <class TE, int VEC>
static __global__ void __launch_bounds__(kMaxThreads)
    embedding_kernel(const int32_t* ids, const TE* emb, float* out, int* error_flag, int V, int C) {
  const int chunk = blockIdx.y * blockDim.x + threadIdx.x;
  const size_t row = blockIdx.x;
  const int id = ids[row];
  const bool bad = id < 0 || id >= V;
  if (bad && blockIdx.y == 0 && threadIdx.x == 0) atomicExch(error_flag, 1);
  if (chunk * VEC >= C) return;
  float v[VEC];
  if (bad) {
#pragma unroll
    for (int e = 0; e < VEC; ++e) v[e] = __int_as_float(0x7fc00000);  // quiet NaN
  } else {
    load_vec<VEC>(emb + (size_t)id * C + chunk * VEC, v);
  }
  store_vec<VEC>(out + row * C + chunk * VEC, v);
}


cudaError_t embedding_gather(const embedding_params& p, cudaStream_t stream) {
  if (p.n < 0 || p.V < 1 || p.C < 1 || !valid_dtype(p.emb_dtype)) return cudaErrorInvalidValue;
  if (p.n == 0) return cudaSuccess;
  if (p.ids == nullptr || p.emb == nullptr || p.out == nullptr || p.error_flag == nullptr)
    return cudaErrorInvalidValue;
  const size_t out_bytes = (size_t)p.n * p.C * 4;
  if (overlaps(p.out, out_bytes, p.emb, (size_t)p.V * p.C * rwkv::dtype_size(p.emb_dtype)) ||
      overlaps(p.out, out_bytes, p.ids, (size_t)p.n * 4))
    return cudaErrorInvalidValue;

  const bool vec = p.C % kVecElems == 0 && aligned16(p.emb) && aligned16(p.out);
  const int chunks = vec ? p.C / kVecElems : p.C;
  const int threads = std::min(kMaxThreads, (chunks + 31) / 32 * 32);
  const dim3 grid((unsigned)p.n, (unsigned)((chunks + threads - 1) / threads)), block((unsigned)threads);

  dispatch_dtype(p.emb_dtype, [&](auto te) {
    using TE = typename decltype(te)::type;
    const TE* emb = static_cast<const TE*>(p.emb);
    if (vec) {
      auto* k = embedding_kernel<TE, kVecElems>;
      LAUNCH_KERNEL(k, grid, block, 0, stream, p.ids, emb, p.out, p.error_flag, p.V, p.C);
    } else {
      auto* k = embedding_kernel<TE, 1>;
      LAUNCH_KERNEL(k, grid, block, 0, stream, p.ids, emb, p.out, p.error_flag, p.V, p.C);
    }
  });
  return launch_status();
}

}  // namespace rwkv_kernels
