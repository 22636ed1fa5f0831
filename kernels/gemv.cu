// kernels/gemv.cu: grouped skinny GEMM with fused epilogues; see gemv.cuh.
#include "kernels/gemv.cuh"

#include <algorithm>
#include <cmath>

#include "kernels/common/dtype_io.cuh"
#include "kernels/common/head_reduce.cuh"
#include "kernels/common/kernel_errors.cuh"

namespace rwkv_kernels {
namespace {

constexpr int kGemvThreads = 256;

// What the host works out per launch: the first block of each task and the threads that share
// one output row (a power of two, 1..256).
struct gemv_launch {
  gemv_params p;
  int block_start[kGemvMaxTasks + 1];
  int group_threads[kGemvMaxTasks];
};

// Output rows per thread group: more at small M (more weight loads in flight), fewer at large M
// (the R x MB accumulators stay in registers; 4 x 4 and 2 x 16 spilled on sm_80 / sm_90).
constexpr int rows_per_group(int mb) { return mb <= 1 ? 4 : mb <= 4 ? 2 : 1; }

__device__ __forceinline__ void store_y(void* Y, rwkv::DType t, size_t at, float v) {
  switch (t) {
    case rwkv::DType::f16: static_cast<__half*>(Y)[at] = from_float<__half>(v); break;
    case rwkv::DType::bf16: static_cast<__nv_bfloat16*>(Y)[at] = from_float<__nv_bfloat16>(v); break;
    default: static_cast<float*>(Y)[at] = v; break;
  }
}

// The epilogue of output (m, n) of task tk, given its fp32 dot product.
__device__ __forceinline__ void finish(const gemv_task& tk, int m, int n, float acc) {
  const size_t at = (size_t)m * tk.ldy + n;
  switch (tk.epilogue) {
    case gemv_epilogue::tanh: store_y(tk.Y, tk.y_dtype, at, tanhf(acc)); break;
    case gemv_epilogue::sigmoid: store_y(tk.Y, tk.y_dtype, at, sigmoidf_(acc)); break;
    case gemv_epilogue::silu: store_y(tk.Y, tk.y_dtype, at, acc * sigmoidf_(acc)); break;
    case gemv_epilogue::relu_sq: {
      const float r = fmaxf(acc, 0.0f);
      store_y(tk.Y, tk.y_dtype, at, r * r);
      break;
    }
    case gemv_epilogue::add: static_cast<float*>(tk.Y)[at] += acc; break;
    case gemv_epilogue::mul_add: static_cast<float*>(tk.Y)[at] += tk.aux[at] * acc; break;
    case gemv_epilogue::lerp: {
      const float a = tk.aux[at], b = tk.aux2[at];
      store_y(tk.Y, tk.y_dtype, at, a + (b - a) * (tk.mu[n] + acc));
      break;
    }
    default: store_y(tk.Y, tk.y_dtype, at, acc); break;
  }
}

}  // namespace

// gemv_kernel: launch grid (sum over tasks of ceil(N / rows per block)), block 256 threads,
// R * MB KB of static shared memory (4, 8 or 16 KB). MB is the row bucket (1, 4 or 16 >= M).
// A block serves one task; its threads form 256 / G groups of G threads (G = the task's
// group_threads: K / VEC / 2 rounded down to a power of two, 1..256), and each group owns R
// consecutive output rows (R = 4 for M = 1, 2 for M <= 4, else 1; rows per block = 256 / G * R).
// Thread j of a group loads the 16-byte weight chunks j, j + G, ... of its R rows (R independent
// 16-byte loads per step, two steps unrolled, through __restrict__ pointers) and, per chunk, the
// same chunk of all M input rows (cache hits: X is small), accumulating R x M fp32 sums; so every
// weight byte is read once per launch whatever M is. The group reduces through shared memory (one
// barrier, no warp shuffles), then its lanes share the R x M epilogues.
// Bytes per task: N*K*sizeof(TW) (weights, streamed once) + M*K*sizeof(TX) (L2) + M*N*sizeof(Y)
// (x2 for add / mul_add / lerp reads). FLOPs per task: 2*M*N*K (+ a few per output).
// ptxas (sm_80 / sm_90, no spills): M = 1 with 16-bit weights 40-48 / 32-46 registers (5-6 blocks
// of 256 threads per SM), MB = 4 40-56 / 42-64, MB = 16 62-74 / 42-74.
template <class TW, class TX, int VEC, int MB>
static __global__ void __launch_bounds__(kGemvThreads) gemv_kernel(gemv_launch L) {
  constexpr int R = rows_per_group(MB);
  __shared__ float4 partial_storage[R * MB * kGemvThreads / 4];  // 16-byte aligned
  float* partial = reinterpret_cast<float*>(partial_storage);
  int t = 0;
#pragma unroll
  for (int i = 1; i < kGemvMaxTasks; ++i)
    if (i < L.p.n_tasks && (int)blockIdx.x >= L.block_start[i]) t = i;
  // Selected with constant indices, so the parameter table is never indexed at run time.
  gemv_task tk = L.p.task[0];
  int G = L.group_threads[0];
#pragma unroll
  for (int i = 1; i < kGemvMaxTasks; ++i)
    if (i == t) {
      tk = L.p.task[i];
      G = L.group_threads[i];
    }
  const int M = L.p.M;
  const int lane_in_group = threadIdx.x & (G - 1);
  const int group = threadIdx.x / G;
  const int row0 = ((int)blockIdx.x - L.block_start[t]) * (kGemvThreads / G) * R + group * R;

  const TW* __restrict__ W = static_cast<const TW*>(tk.W);
  const TX* __restrict__ X = static_cast<const TX*>(tk.X);
  const TW* __restrict__ wrow[R];
#pragma unroll
  for (int r = 0; r < R; ++r) wrow[r] = W + (size_t)min(row0 + r, tk.N - 1) * tk.K;  // past N: discarded
  float acc[R][MB];
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int m = 0; m < MB; ++m) acc[r][m] = 0.0f;

  const int nchunks = tk.K / VEC;
#pragma unroll 2  // two steps' loads in flight (and no spill in the element-wise sm_90 variants)
  for (int c = lane_in_group; c < nchunks; c += G) {
    float w[R][VEC];
#pragma unroll
    for (int r = 0; r < R; ++r) load_vec<VEC>(wrow[r] + (size_t)c * VEC, w[r]);
#pragma unroll
    for (int m = 0; m < MB; ++m) {
      if (m < M) {
        float x[VEC];
        load_vec<VEC>(X + (size_t)m * tk.ldx + (size_t)c * VEC, x);
#pragma unroll
        for (int r = 0; r < R; ++r)
#pragma unroll
          for (int e = 0; e < VEC; ++e) acc[r][m] = fmaf(w[r][e], x[e], acc[r][m]);
      }
    }
  }

  // Sum over the group through shared memory: every thread stores its R x MB partial sums
  // (partial[output][thread], conflict-free), one barrier, then lane j of the group adds the G
  // partials of outputs j, j + G, ... (contiguous: 16-byte reads) and runs their epilogue.
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int m = 0; m < MB; ++m) partial[(r * MB + m) * kGemvThreads + threadIdx.x] = acc[r][m];
  __syncthreads();
  for (int idx = lane_in_group; idx < R * MB; idx += G) {
    const int r = idx / MB, m = idx % MB;
    if (m >= M || row0 + r >= tk.N) continue;
    const float* src = partial + idx * kGemvThreads + group * G;
    float sum = 0.0f;
    if (G >= 4) {
      float4 s4 = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
      for (int q = 0; q < G; q += 4) {
        const float4 v = *reinterpret_cast<const float4*>(src + q);
        s4.x += v.x;
        s4.y += v.y;
        s4.z += v.z;
        s4.w += v.w;
      }
      sum = (s4.x + s4.y) + (s4.z + s4.w);
    } else {
      for (int q = 0; q < G; ++q) sum += src[q];
    }
    finish(tk, m, row0 + r, sum);
  }
}

namespace {

int floor_pow2(int v) {
  int p = 1;
  while (p * 2 <= v) p *= 2;
  return p;
}

bool valid_task(const gemv_task& tk, int M, rwkv::DType w_dtype, rwkv::DType x_dtype) {
  if (!tk.W || !tk.X || !tk.Y || tk.N < 1 || tk.K < 1 || tk.ldx < tk.K || tk.ldy < tk.N) return false;
  if (!valid_dtype(tk.y_dtype)) return false;
  const bool accumulates = tk.epilogue == gemv_epilogue::add || tk.epilogue == gemv_epilogue::mul_add;
  if (accumulates && tk.y_dtype != rwkv::DType::f32) return false;
  if (tk.epilogue == gemv_epilogue::relu_sq && tk.y_dtype == rwkv::DType::f16) return false;
  if (tk.epilogue == gemv_epilogue::mul_add && !tk.aux) return false;
  if (tk.epilogue == gemv_epilogue::lerp && (!tk.aux || !tk.aux2 || !tk.mu)) return false;
  const size_t y_bytes = ((size_t)(M - 1) * tk.ldy + tk.N) * rwkv::dtype_size(tk.y_dtype);
  const size_t aux_bytes = ((size_t)(M - 1) * tk.ldy + tk.N) * 4;
  return !overlaps(tk.Y, y_bytes, tk.W, (size_t)tk.N * tk.K * rwkv::dtype_size(w_dtype)) &&
         !overlaps(tk.Y, y_bytes, tk.X, ((size_t)(M - 1) * tk.ldx + tk.K) * rwkv::dtype_size(x_dtype)) &&
         !overlaps(tk.Y, y_bytes, tk.aux, aux_bytes) && !overlaps(tk.Y, y_bytes, tk.aux2, aux_bytes);
}

template <class TW, class TX, int VEC>
void launch_bucket(const gemv_launch& L, cudaStream_t stream) {
  const dim3 grid((unsigned)L.block_start[L.p.n_tasks]), block(kGemvThreads);
  if (L.p.M <= 1) {
    auto* k = gemv_kernel<TW, TX, VEC, 1>;
    LAUNCH_KERNEL(k, grid, block, 0, stream, L);
  } else if (L.p.M <= 4) {
    auto* k = gemv_kernel<TW, TX, VEC, 4>;
    LAUNCH_KERNEL(k, grid, block, 0, stream, L);
  } else {
    auto* k = gemv_kernel<TW, TX, VEC, kGemvMaxRows>;
    LAUNCH_KERNEL(k, grid, block, 0, stream, L);
  }
}

// Fills the block table for vector width `vec` and launches; 16-byte loads when every task allows.
template <class TW, class TX>
void plan_and_launch(const gemv_params& p, cudaStream_t stream) {
  constexpr int kVec = 16 / (int)sizeof(TW);
  bool vec = true;
  for (int i = 0; i < p.n_tasks; ++i) {
    const gemv_task& tk = p.task[i];
    vec = vec && tk.K % kVec == 0 && tk.ldx % kVec == 0 && aligned16(tk.W) && aligned16(tk.X);
  }
  gemv_launch L;
  L.p = p;
  const int R = rows_per_group(p.M <= 1 ? 1 : p.M <= 4 ? 4 : kGemvMaxRows);  // launch_bucket's bucket
  L.block_start[0] = 0;
  for (int i = 0; i < kGemvMaxTasks; ++i) {
    if (i >= p.n_tasks) {
      L.block_start[i + 1] = L.block_start[i];
      L.group_threads[i] = 1;
      continue;
    }
    const int chunks = p.task[i].K / (vec ? kVec : 1);
    const int G = std::min(kGemvThreads, floor_pow2(std::max(1, chunks / 2)));
    const int rows_per_block = kGemvThreads / G * R;
    L.group_threads[i] = G;
    L.block_start[i + 1] = L.block_start[i] + (p.task[i].N + rows_per_block - 1) / rows_per_block;
  }
  if (vec)
    launch_bucket<TW, TX, kVec>(L, stream);
  else
    launch_bucket<TW, TX, 1>(L, stream);
}

}  // namespace

cudaError_t gemv(const gemv_params& p, cudaStream_t stream) {
  if (p.M < 0 || p.M > kGemvMaxRows || p.n_tasks < 1 || p.n_tasks > kGemvMaxTasks ||
      !valid_dtype(p.w_dtype) || (p.x_dtype != p.w_dtype && p.x_dtype != rwkv::DType::f32))
    return cudaErrorInvalidValue;
  if (p.M == 0) return cudaSuccess;
  for (int i = 0; i < p.n_tasks; ++i)
    if (!valid_task(p.task[i], p.M, p.w_dtype, p.x_dtype)) return cudaErrorInvalidValue;
  dispatch_dtype(p.w_dtype, [&](auto tw) {
    using TW = typename decltype(tw)::type;
    if (p.x_dtype == p.w_dtype)
      plan_and_launch<TW, TW>(p, stream);
    else
      plan_and_launch<TW, float>(p, stream);
  });
  return launch_status();
}

}  // namespace rwkv_kernels
