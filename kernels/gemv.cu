// kernels/gemv.cu: grouped skinny GEMM with fused epilogues; see gemv.cuh.
#include "kernels/gemv.cuh"

#include <algorithm>
#include <cmath>

#include "kernels/common/dtype_io.cuh"
#include "kernels/common/gemv_dot.cuh"
#include "kernels/common/head_reduce.cuh"
#include "kernels/common/kernel_errors.cuh"
#include "kernels/common/row_stats.cuh"

namespace rwkv_kernels {
namespace {

constexpr int kGemvThreads = 256;
static_assert(kGemvThreads == kGemvGroupMaxThreads, "gemv_dot.cuh describes this kernel's groups");

// The kernel's variants: the plain products, with the input transform (gemv_ln_mix), or with
// lerp's shift-state store; separate instances, so that the plain one keeps its registers.
enum class gemv_variant : int { plain, ln_mix, store_state };

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

// store_state: a, row m's value of channel n, into its sequence's state when m is the sequence's
// last row.
__device__ __forceinline__ void store_shift_state(const ragged_batch& b, size_t offset, int m, int n, float a) {
  const int s = b.row_seq[m];
  if (b.seq_start[s + 1] == m + 1) b.state[s][offset + n] = a;
}

// The epilogue of output (m, n) of task tk, given its fp32 dot product; STORE: the variant with
// lerp's store_state.
template <bool STORE>
__device__ __forceinline__ void finish(const gemv_task& tk, int m, int n, float acc, const ragged_batch& batch,
                                       bool store, size_t state_offset) {
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
      if (STORE && store) store_shift_state(batch, state_offset, m, n, a);
      break;
    }
    default: store_y(tk.Y, tk.y_dtype, at, acc); break;
  }
}

// What every block of a transform launch works out first: each row's LN statistics and, for a
// sequence's first row, where its previous token sits in the state (null for the other rows).
struct LnMixRows {
  float mean[kGemvMaxRows], rstd[kGemvMaxRows];
  const float* first_state[kGemvMaxRows];
  float scratch[33];
};

// The statistics of the M rows of K channels with SVEC-channel chunks: with this block of 256
// threads the same sums as layer_prologue.cu's smaller block (whose missing threads are this
// one's threads without a chunk, adding zeros), so the same bits.
template <int SVEC>
__device__ __forceinline__ void ln_mix_rows(const gemv_params& p, int K, LnMixRows& rows) {
  for (int m = 0; m < p.M; ++m) {
    float mean, rstd;
    layer_norm_stats<SVEC>(p.ln_mix.x + (size_t)m * K, K, p.ln_mix.eps, rows.scratch, mean, rstd);
    if (threadIdx.x == 0) {
      rows.mean[m] = mean;
      rows.rstd[m] = rstd;
    }
  }
  if ((int)threadIdx.x < p.M) {
    const int m = threadIdx.x, s = p.batch.row_seq[m];
    rows.first_state[m] = p.batch.seq_start[s] == m ? p.batch.state[s] + p.ln_mix.state_offset : nullptr;
  }
  __syncthreads();
}

// VEC floats of a state row: 16-byte loads only when this pointer (from device memory) allows.
template <int VEC>
__device__ __forceinline__ void load_state_chunk(const float* p, float (&v)[VEC]) {
  if (VEC % 4 == 0 && is_aligned16(p)) {
    load_vec<VEC>(p, v);
  } else {
#pragma unroll
    for (int e = 0; e < VEC; ++e) v[e] = p[e];
  }
}

// Row m's transformed input over the VEC channels from ch: cur = LN(x[m]), prev = the state's
// (first row) or `carry` (the cur of row m - 1 this thread computed for the same channels), and
// in = cur + (prev - cur) * mu rounded to TX, layer_prologue.cu's arithmetic. carry becomes cur;
// the row's writer stores cur and prev.
template <int VEC, class TX>
__device__ __forceinline__ void ln_mix_chunk(const gemv_ln_mix& t, const LnMixRows& rows, int m, int K, int ch,
                                             const float (&lw)[VEC], const float (&lb)[VEC],
                                             const float (&mu)[VEC], bool writer, float (&carry)[VEC],
                                             float (&in)[VEC]) {
  const size_t at = (size_t)m * K + ch;
  float cur[VEC], prev[VEC];
  load_vec<VEC>(t.x + at, cur);
  const float mean = rows.mean[m], rstd = rows.rstd[m];
#pragma unroll
  for (int e = 0; e < VEC; ++e) cur[e] = (cur[e] - mean) * rstd * lw[e] + lb[e];
  if (rows.first_state[m] != nullptr) {
    load_state_chunk<VEC>(rows.first_state[m] + ch, prev);
  } else {
#pragma unroll
    for (int e = 0; e < VEC; ++e) prev[e] = carry[e];
  }
#pragma unroll
  for (int e = 0; e < VEC; ++e) {
    in[e] = to_float(from_float<TX>(cur[e] + (prev[e] - cur[e]) * mu[e]));
    carry[e] = cur[e];
  }
  if (writer) {
    store_vec<VEC>(t.cur_out + at, cur);
    store_vec<VEC>(t.prev_out + at, prev);
  }
}

// After the barrier: lane j of the group at `group` adds the G partials of outputs j, j + G, ...
// (contiguous: 16-byte reads) and runs their epilogue (STORE: the store_state variant's).
template <int R, int MB, bool STORE>
__device__ __forceinline__ void reduce_and_finish(const gemv_launch& L, const gemv_task& tk, const float* partial,
                                                  int G, int lane_in_group, int group, int row0) {
  for (int idx = lane_in_group; idx < R * MB; idx += G) {
    const int r = idx / MB, m = idx % MB;
    if (m >= L.p.M || row0 + r >= tk.N) continue;
    const float* src = partial + idx * kGemvThreads + group * G;
    float sum = 0.0f;
    if (G >= 4) {  // (the order kernels/common/gemv_dot.cuh repeats)
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
    finish<STORE>(tk, m, row0 + r, sum, L.p.batch, (int)blockIdx.x < L.block_start[1], L.p.store_state_offset);
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
// Variant ln_mix (the input transform): first every block computes the M rows' LN statistics
// (2 block reductions per row) and which rows start a sequence; per chunk it loads ln_w, ln_b, mu
// once and, per row, x and (first rows) the state instead of X, keeping the row's LN values for
// the next row; one step per iteration (no unroll). Extra bytes per block: M*K*4 twice (the
// statistics, L2) + M*K*4 per thread group (each transforms every row); the writers add M*K*8. ptxas: 16-bit weights 73-78
// (M = 1) and 96-98 (MB = 4, 16); fp32 weights 55-76; element-wise 32-64 (2-5 blocks per SM).
// Variant store_state: the plain kernel with the state store in task 0's lerp epilogue, one step
// per iteration; 32-64 registers.
template <class TW, class TX, int VEC, int MB, gemv_variant V>
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
  __shared__ LnMixRows rows;
  constexpr bool LN_MIX = V == gemv_variant::ln_mix;
  if constexpr (LN_MIX) ln_mix_rows<VEC == 1 ? 1 : kVecElems>(L.p, tk.K, rows);
  // The transform's row m is written by group m % n_groups of the grid (every task has one G).
  const int my_group = (int)blockIdx.x * (kGemvThreads / G) + group, n_groups = (int)gridDim.x * (kGemvThreads / G);

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
  // Two steps' loads in flight (and no spill in the element-wise sm_90 variants); one in the
  // small v6 products of the other variants (two spilled some of their f32 instances).
#pragma unroll(V == gemv_variant::plain ? 2 : 1)
  for (int c = lane_in_group; c < nchunks; c += G) {
    float w[R][VEC];
#pragma unroll
    for (int r = 0; r < R; ++r) load_vec<VEC>(wrow[r] + (size_t)c * VEC, w[r]);
    float lw[VEC], lb[VEC], mu[VEC], carry[VEC] = {};  // the transform's (unused without it)
    if constexpr (LN_MIX) {
      load_vec<VEC>(L.p.ln_mix.ln_w + (size_t)c * VEC, lw);
      load_vec<VEC>(L.p.ln_mix.ln_b + (size_t)c * VEC, lb);
      load_vec<VEC>(L.p.ln_mix.mu + (size_t)c * VEC, mu);
    }
#pragma unroll
    for (int m = 0; m < MB; ++m) {
      if (m < M) {
        float x[VEC];
        if constexpr (LN_MIX)
          ln_mix_chunk<VEC, TX>(L.p.ln_mix, rows, m, tk.K, c * VEC, lw, lb, mu, m % n_groups == my_group, carry, x);
        else
          load_vec<VEC>(X + (size_t)m * tk.ldx + (size_t)c * VEC, x);
#pragma unroll
        for (int r = 0; r < R; ++r)
#pragma unroll
          for (int e = 0; e < VEC; ++e) acc[r][m] = fmaf(w[r][e], x[e], acc[r][m]);
      }
    }
  }

  // Sum over the group through shared memory: every thread stores its R x MB partial sums
  // (partial[output][thread], conflict-free), one barrier, then the group's lanes finish.
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int m = 0; m < MB; ++m) partial[(r * MB + m) * kGemvThreads + threadIdx.x] = acc[r][m];
  __syncthreads();
  reduce_and_finish<R, MB, V == gemv_variant::store_state>(L, tk, partial, G, lane_in_group, group, row0);
}

// ---- quantized weights (gemv_weights int8 / q4) ----

namespace {

// Values per 16-byte load of packed weights: 16 int8 or 32 q4.
template <gemv_weights Q>
constexpr int quant_vec() { return Q == gemv_weights::int8 ? 16 : 32; }

// Output rows per thread group: 4 at M = 1 (the packed loads of 4 rows in flight, the input chunk
// held once), else 1 (each row's values converted once and applied to every input row).
constexpr int quant_rows_per_group(int mb) { return mb <= 1 ? 4 : 1; }

// Element e of a 16-byte pack as its integer value in fp32, exactly: the byte (int8, offset by
// 128 to unsigned) or nibble (q4) becomes the low mantissa bits of 2^23, which is then subtracted
// (a logic op and an add per element instead of an int-to-float conversion).
template <gemv_weights Q>
__device__ __forceinline__ float quant_value(const Pack16<uint32_t>& pk, int e) {
  if constexpr (Q == gemv_weights::int8) {
    const uint32_t byte = ((pk.e[e / 4] >> (8 * (e % 4))) & 0xFFu) ^ 0x80u;
    return __uint_as_float(0x4B000000u | byte) - 8388736.0f;  // 2^23 + 128
  } else {
    const uint32_t nibble = (pk.e[e / 8] >> (4 * (e % 8))) & 0xFu;
    return __uint_as_float(0x4B000000u | nibble) - 8388608.0f;  // 2^23
  }
}

// Values per sub-chunk: a chunk (one 16-byte load: 16 int8 or 32 q4 values) is applied in pieces
// of 16, so that the converted values and the input piece (16 floats each) stay in registers.
constexpr int kQuantSub = 16;

// Row m's input over the kQuantSub channels from ch0: X's, or the transform's (in 8-channel pieces,
// layer_prologue.cu's chunks; `carry` holds the previous row's cur of these channels).
template <class TX, bool LN_MIX>
__device__ __forceinline__ void quant_input(const gemv_params& p, const LnMixRows& rows, const TX* __restrict__ X,
                                            int ldx, int K, int m, int ch0, bool writer, float (&carry)[kQuantSub],
                                            float (&x)[kQuantSub]) {
  if constexpr (LN_MIX) {
#pragma unroll
    for (int s = 0; s < kQuantSub / kVecElems; ++s) {
      const int ch = ch0 + s * kVecElems;
      float lw[kVecElems], lb[kVecElems], mu[kVecElems], cs[kVecElems], xs[kVecElems];
      load_vec<kVecElems>(p.ln_mix.ln_w + ch, lw);
      load_vec<kVecElems>(p.ln_mix.ln_b + ch, lb);
      load_vec<kVecElems>(p.ln_mix.mu + ch, mu);
#pragma unroll
      for (int e = 0; e < kVecElems; ++e) cs[e] = carry[s * kVecElems + e];
      ln_mix_chunk<kVecElems, TX>(p.ln_mix, rows, m, K, ch, lw, lb, mu, writer, cs, xs);
#pragma unroll
      for (int e = 0; e < kVecElems; ++e) {
        carry[s * kVecElems + e] = cs[e];
        x[s * kVecElems + e] = xs[e];
      }
    }
  } else {
    load_vec<kQuantSub>(X + (size_t)m * ldx + ch0, x);
  }
}

// One sub-chunk's contribution to acc: d = sum_e q[e] x[e] and sx = sum_e x[e] in element order,
// then acc += scale d + min sx, all fp32; the same operations whatever M is, so a row's
// result does not depend on the rows beside it.
template <gemv_weights Q>
__device__ __forceinline__ float quant_sub_dot(const float (&q)[kQuantSub], const float (&x)[kQuantSub], float scale,
                                               float mn, float acc) {
  float d = 0.0f, sx = 0.0f;
#pragma unroll
  for (int e = 0; e < kQuantSub; ++e) {
    d = fmaf(q[e], x[e], d);
    sx += x[e];
  }
  acc = fmaf(scale, d, acc);
  acc = fmaf(mn, sx, acc);
  return acc;
}

// Sub-chunk h of a pack as fp32 integers.
template <gemv_weights Q>
__device__ __forceinline__ void quant_sub_values(const Pack16<uint32_t>& pk, int h, float (&q)[kQuantSub]) {
#pragma unroll
  for (int e = 0; e < kQuantSub; ++e) q[e] = quant_value<Q>(pk, h * kQuantSub + e);
}

}  // namespace

// gemv_quant_kernel: the quantized form of gemv_kernel (same grid, block, groups, shared-memory
// reduction and epilogues; gemv.cuh describes the format).
// Launch: grid = sum over tasks of ceil(N / rows per block), block 256 threads, R * MB KB of
// static shared memory. VEC = 16 (int8) or 32 (q4) values per 16-byte load; G = the task's
// group_threads for K / VEC chunks; R = 4 rows per group at M = 1, else 1 (MB = 1, 4 or 16 >= M).
// Each thread owns the chunks j, j + G, ... of its R rows: per chunk R independent 16-byte loads
// of packed values (two chunks unrolled in the plain variant at M = 1, so 8 loads in flight) plus
// R fp16 scales (and offsets) of the chunk's group (a chunk never straddles a group: 32 | group).
// A chunk is applied in sub-chunks of 16 values: the integers become fp32 exactly (quant_value),
// d = sum q x is accumulated in fp32 and the group's scale (and offset * sum x) applied in fp32 per
// sub-chunk. At M = 1 each input piece is loaded once and used for the R rows; at M > 1 the row's
// values are converted once and applied to each of the M input rows (the same operations per
// output either way, so a row's bits do not depend on M). Then gemv_kernel's group reduction and
// epilogues.
// Bytes per task: N*K (int8) or N*K/2 (q4) packed + N*K/group*4 (fp16 scales and offsets)
// + M*K*sizeof(X) (L2) + M*N*sizeof(Y) (x2 for add / mul_add / lerp). FLOPs per task: 2*M*N*K
// (+ 2 per element for the conversion, once per chunk and row, + M*K per row for sum x, + 2*M*K/16
// per row for the scale and offset terms).
// Byte floor (the weights): int8 1 + 4/1024 = 1.004 bytes per weight (groups of 1024 at K = 4096), q4
// 0.5 + 4/128 = 0.53 (groups of 128), against 2 for bf16: a v7 7.2B decode step at B = 1 reads
// about 7.25 GB (int8, bf16 head) or 3.70 GB (q4) of matrices instead of 13.87 GB (bf16): about
// 1.69 ms / 0.86 ms / 3.23 ms at 4.3 TB/s (estimated; `rwkv-run info --synthetic v7-7.2B`).
// __launch_bounds__(256, 1): ptxas otherwise aims at 64 or 128 registers and spills some instances.
// ptxas (sm_80 / sm_90, no spills anywhere): plain int8 68-96 / 70-102, q4 83-156 / 86-159 (M = 1: 94-96
// / 96-102 int8, 153-156 / 153-159 q4: one or two blocks of 256 threads per SM, 8 16-byte loads in
// flight per thread); store_state int8 68-85 / 70-87, q4 83-141 / 86-143; ln_mix int8 120-146 /
// 128-156, q4 124-174 / 146-194.
template <gemv_weights Q, class TX, int MB, gemv_variant V>
static __global__ void __launch_bounds__(kGemvThreads, 1) gemv_quant_kernel(gemv_launch L) {
  constexpr int R = quant_rows_per_group(MB);
  constexpr int VEC = quant_vec<Q>();
  constexpr int kRowBytesDiv = Q == gemv_weights::int8 ? 1 : 2;  // K / this = packed bytes per row
  __shared__ float4 partial_storage[R * MB * kGemvThreads / 4];
  float* partial = reinterpret_cast<float*>(partial_storage);
  int t = 0;
#pragma unroll
  for (int i = 1; i < kGemvMaxTasks; ++i)
    if (i < L.p.n_tasks && (int)blockIdx.x >= L.block_start[i]) t = i;
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
  __shared__ LnMixRows rows;
  constexpr bool LN_MIX = V == gemv_variant::ln_mix;
  if constexpr (LN_MIX) ln_mix_rows<kVecElems>(L.p, tk.K, rows);
  const int my_group = (int)blockIdx.x * (kGemvThreads / G) + group, n_groups = (int)gridDim.x * (kGemvThreads / G);

  const TX* __restrict__ X = static_cast<const TX*>(tk.X);
  const uint8_t* __restrict__ wrow[R];
  const __half* __restrict__ srow[R];
  const __half* __restrict__ mrow[R];
  const int groups_per_row = tk.K / tk.group;
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const size_t n = (size_t)min(row0 + r, tk.N - 1);  // past N: discarded
    wrow[r] = static_cast<const uint8_t*>(tk.W) + n * (size_t)(tk.K / kRowBytesDiv);
    srow[r] = reinterpret_cast<const __half*>(tk.scale) + n * groups_per_row;
    mrow[r] = reinterpret_cast<const __half*>(tk.min) + n * groups_per_row;
  }
  float acc[R][MB];
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int m = 0; m < MB; ++m) acc[r][m] = 0.0f;

  const int nchunks = tk.K / VEC;
  // Two chunks' loads in flight at M = 1 (R = 4 rows: 8 loads); one at M > 1, where the R x MB
  // accumulators take the registers.
#pragma unroll(V == gemv_variant::plain && MB == 1 ? 2 : 1)
  for (int c = lane_in_group; c < nchunks; c += G) {
    Pack16<uint32_t> pk[R];
    float scale[R], mn[R];
    const int g = c * VEC / tk.group;
#pragma unroll
    for (int r = 0; r < R; ++r) pk[r] = reinterpret_cast<const Pack16<uint32_t>*>(wrow[r])[c];
#pragma unroll
    for (int r = 0; r < R; ++r) {
      scale[r] = __half2float(srow[r][g]);
      mn[r] = __half2float(mrow[r][g]);
    }
    constexpr int SUBS = VEC / kQuantSub;
    float carry[SUBS][kQuantSub] = {};  // the transform's (unused without it)
#pragma unroll
    for (int h = 0; h < SUBS; ++h) {
      const int ch0 = c * VEC + h * kQuantSub;
      if constexpr (MB == 1) {  // the input piece once, the R rows' values converted as used
        float x[kQuantSub];
        quant_input<TX, LN_MIX>(L.p, rows, X, tk.ldx, tk.K, 0, ch0, my_group == 0, carry[h], x);
#pragma unroll
        for (int r = 0; r < R; ++r) {
          float q[kQuantSub];
          quant_sub_values<Q>(pk[r], h, q);
          acc[r][0] = quant_sub_dot<Q>(q, x, scale[r], mn[r], acc[r][0]);
        }
      } else {  // the row's values once, each input row's piece as used
        static_assert(R == 1, "rows of M > 1 are one per group");
        float q[kQuantSub];
        quant_sub_values<Q>(pk[0], h, q);
#pragma unroll
        for (int m = 0; m < MB; ++m) {
          if (m < M) {
            float x[kQuantSub];
            quant_input<TX, LN_MIX>(L.p, rows, X, tk.ldx, tk.K, m, ch0, m % n_groups == my_group, carry[h], x);
            acc[0][m] = quant_sub_dot<Q>(q, x, scale[0], mn[0], acc[0][m]);
          }
        }
      }
    }
  }

#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int m = 0; m < MB; ++m) partial[(r * MB + m) * kGemvThreads + threadIdx.x] = acc[r][m];
  __syncthreads();
  reduce_and_finish<R, MB, V == gemv_variant::store_state>(L, tk, partial, G, lane_in_group, group, row0);
}

namespace {

// Bytes of a task's W (the packed values when quantized).
size_t weight_bytes(const gemv_task& tk, rwkv::DType w_dtype) {
  switch (tk.weights) {
    case gemv_weights::int8: return (size_t)tk.N * tk.K;
    case gemv_weights::q4: return (size_t)tk.N * tk.K / 2;
    default: return (size_t)tk.N * tk.K * rwkv::dtype_size(w_dtype);
  }
}

// A quantized task's own conditions (gemv.cuh): groups of a multiple of 32 dividing K, scales
// (and q4 offsets) given and clear of Y, 16-byte aligned W and X rows.
bool valid_quant_task(const gemv_task& tk, int M, rwkv::DType x_dtype, bool transform) {
  if (tk.weights == gemv_weights::dense) return true;
  if (tk.group < 32 || tk.group % 32 != 0 || tk.K % tk.group != 0 || !tk.scale || !aligned16(tk.W)) return false;
  if (!tk.min) return false;
  const size_t scale_bytes = (size_t)tk.N * (tk.K / tk.group) * 2;
  const size_t y_bytes = ((size_t)(M - 1) * tk.ldy + tk.N) * rwkv::dtype_size(tk.y_dtype);
  if (overlaps(tk.Y, y_bytes, tk.scale, scale_bytes) || overlaps(tk.Y, y_bytes, tk.min, scale_bytes)) return false;
  if (transform) return true;
  const int per_pack = 16 / (int)rwkv::dtype_size(x_dtype);
  return aligned16(tk.X) && tk.ldx % per_pack == 0;
}

// `t`: the launch's transform, or null (then the task reads X).
bool valid_task(const gemv_task& tk, int M, rwkv::DType w_dtype, rwkv::DType x_dtype, const gemv_ln_mix* t) {
  if (!tk.W || !tk.Y || tk.N < 1 || tk.K < 1 || tk.ldy < tk.N) return false;
  if (!t && (!tk.X || tk.ldx < tk.K)) return false;
  if (!valid_dtype(tk.y_dtype)) return false;
  const bool accumulates = tk.epilogue == gemv_epilogue::add || tk.epilogue == gemv_epilogue::mul_add;
  if (accumulates && tk.y_dtype != rwkv::DType::f32) return false;
  if (tk.epilogue == gemv_epilogue::relu_sq && tk.y_dtype == rwkv::DType::f16) return false;
  if (tk.epilogue == gemv_epilogue::mul_add && !tk.aux) return false;
  if (tk.epilogue == gemv_epilogue::lerp && (!tk.aux || !tk.aux2 || !tk.mu)) return false;
  const size_t y_bytes = ((size_t)(M - 1) * tk.ldy + tk.N) * rwkv::dtype_size(tk.y_dtype);
  const size_t aux_bytes = ((size_t)(M - 1) * tk.ldy + tk.N) * 4;
  if (overlaps(tk.Y, y_bytes, tk.W, weight_bytes(tk, w_dtype)) ||
      overlaps(tk.Y, y_bytes, tk.aux, aux_bytes) || overlaps(tk.Y, y_bytes, tk.aux2, aux_bytes))
    return false;
  if (!t) return !overlaps(tk.Y, y_bytes, tk.X, ((size_t)(M - 1) * tk.ldx + tk.K) * rwkv::dtype_size(x_dtype));
  const size_t rows_bytes = (size_t)M * tk.K * 4;
  return !overlaps(tk.Y, y_bytes, t->x, rows_bytes) && !overlaps(tk.Y, y_bytes, t->cur_out, rows_bytes) &&
         !overlaps(tk.Y, y_bytes, t->prev_out, rows_bytes);
}

// A batch of M rows, as the transform and store_state need it.
bool valid_batch(const ragged_batch& b, int M) {
  return b.seq_start && b.row_seq && b.state && b.n_seq >= 1 && b.n_seq <= M && b.n_rows == M;
}

bool valid_ln_mix(const gemv_params& p) {
  const gemv_ln_mix& t = p.ln_mix;
  if (!t.ln_w || !t.ln_b || !t.mu || !t.cur_out || !t.prev_out || !valid_batch(p.batch, p.M) ||
      p.x_dtype != p.w_dtype)
    return false;
  for (int i = 1; i < p.n_tasks; ++i)
    if (p.task[i].K != p.task[0].K) return false;
  const size_t rows_bytes = (size_t)p.M * p.task[0].K * 4;
  return !overlaps(t.cur_out, rows_bytes, t.prev_out, rows_bytes) && !overlaps(t.cur_out, rows_bytes, t.x, rows_bytes) &&
         !overlaps(t.prev_out, rows_bytes, t.x, rows_bytes);
}

template <class TW, class TX, int VEC, gemv_variant V>
void launch_bucket(const gemv_launch& L, cudaStream_t stream) {
  const dim3 grid((unsigned)L.block_start[L.p.n_tasks]), block(kGemvThreads);
  if (L.p.M <= 1) {
    auto* k = gemv_kernel<TW, TX, VEC, 1, V>;
    LAUNCH_KERNEL(k, grid, block, 0, stream, L);
  } else if (L.p.M <= 4) {
    auto* k = gemv_kernel<TW, TX, VEC, 4, V>;
    LAUNCH_KERNEL(k, grid, block, 0, stream, L);
  } else {
    auto* k = gemv_kernel<TW, TX, VEC, kGemvMaxRows, V>;
    LAUNCH_KERNEL(k, grid, block, 0, stream, L);
  }
}

// Whether every task (and the transform) allows 16-byte loads of VEC elements.
template <int VEC, gemv_variant V>
bool vector_path(const gemv_params& p) {
  constexpr bool LN_MIX = V == gemv_variant::ln_mix;
  bool vec = true;
  for (int i = 0; i < p.n_tasks; ++i) {
    const gemv_task& tk = p.task[i];
    vec = vec && tk.K % VEC == 0 && aligned16(tk.W);
    if (!LN_MIX) vec = vec && tk.ldx % VEC == 0 && aligned16(tk.X);
  }
  if (LN_MIX) {  // 8-channel chunks for the statistics, as layer_prologue.cu
    const gemv_ln_mix& t = p.ln_mix;
    vec = vec && p.task[0].K % kVecElems == 0 && aligned16(t.x) && aligned16(t.ln_w) && aligned16(t.ln_b) &&
          aligned16(t.mu) && aligned16(t.cur_out) && aligned16(t.prev_out);
  }
  return vec;
}

// Fills the block table for vector width `vec` and launches; 16-byte loads when every task allows.
template <class TW, class TX, gemv_variant V>
void plan_and_launch(const gemv_params& p, cudaStream_t stream) {
  constexpr int kVec = 16 / (int)sizeof(TW);
  const bool vec = vector_path<kVec, V>(p);
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
    const int G = gemv_group_threads(chunks);
    const int rows_per_block = kGemvThreads / G * R;
    L.group_threads[i] = G;
    L.block_start[i + 1] = L.block_start[i] + (p.task[i].N + rows_per_block - 1) / rows_per_block;
  }
  if (vec)
    launch_bucket<TW, TX, kVec, V>(L, stream);
  else
    launch_bucket<TW, TX, 1, V>(L, stream);
}

// The quantized launch: gemv_quant_kernel in the row bucket of M, every task 16-byte chunks.
template <gemv_weights Q, class TX, gemv_variant V>
void plan_and_launch_quant(const gemv_params& p, cudaStream_t stream) {
  constexpr int kVec = quant_vec<Q>();
  gemv_launch L;
  L.p = p;
  const int MB = p.M <= 1 ? 1 : p.M <= 4 ? 4 : kGemvMaxRows;
  const int R = quant_rows_per_group(MB);
  L.block_start[0] = 0;
  for (int i = 0; i < kGemvMaxTasks; ++i) {
    if (i >= p.n_tasks) {
      L.block_start[i + 1] = L.block_start[i];
      L.group_threads[i] = 1;
      continue;
    }
    const int G = gemv_group_threads(p.task[i].K / kVec);
    const int rows_per_block = kGemvThreads / G * R;
    L.group_threads[i] = G;
    L.block_start[i + 1] = L.block_start[i] + (p.task[i].N + rows_per_block - 1) / rows_per_block;
  }
  const dim3 grid((unsigned)L.block_start[p.n_tasks]), block(kGemvThreads);
  if (MB == 1) {
    auto* k = gemv_quant_kernel<Q, TX, 1, V>;
    LAUNCH_KERNEL(k, grid, block, 0, stream, L);
  } else if (MB == 4) {
    auto* k = gemv_quant_kernel<Q, TX, 4, V>;
    LAUNCH_KERNEL(k, grid, block, 0, stream, L);
  } else {
    auto* k = gemv_quant_kernel<Q, TX, kGemvMaxRows, V>;
    LAUNCH_KERNEL(k, grid, block, 0, stream, L);
  }
}

template <gemv_weights Q>
void launch_quant(const gemv_params& p, bool transform, cudaStream_t stream) {
  dispatch_dtype(p.x_dtype, [&](auto tx) {
    using TX = typename decltype(tx)::type;
    if (transform)
      plan_and_launch_quant<Q, TX, gemv_variant::ln_mix>(p, stream);
    else if (p.store_state)
      plan_and_launch_quant<Q, TX, gemv_variant::store_state>(p, stream);
    else
      plan_and_launch_quant<Q, TX, gemv_variant::plain>(p, stream);
  });
}

}  // namespace

cudaError_t gemv(const gemv_params& p, cudaStream_t stream) {
  if (p.M < 0 || p.M > kGemvMaxRows || p.n_tasks < 1 || p.n_tasks > kGemvMaxTasks ||
      !valid_dtype(p.w_dtype) || (p.x_dtype != p.w_dtype && p.x_dtype != rwkv::DType::f32))
    return cudaErrorInvalidValue;
  if (p.M == 0) return cudaSuccess;
  const gemv_ln_mix* transform = p.ln_mix.x ? &p.ln_mix : nullptr;
  const gemv_weights kind = p.task[0].weights;
  for (int i = 0; i < p.n_tasks; ++i)
    if (!valid_task(p.task[i], p.M, p.w_dtype, p.x_dtype, transform) || p.task[i].weights != kind ||
        !valid_quant_task(p.task[i], p.M, p.x_dtype, transform != nullptr))
      return cudaErrorInvalidValue;
  const bool stores_state = p.store_state;
  if (stores_state && p.task[0].epilogue != gemv_epilogue::lerp) return cudaErrorInvalidValue;
  // A launch that reads the shift state through the transform must not store it as well.
  if ((transform && (stores_state || !valid_ln_mix(p))) || (stores_state && !valid_batch(p.batch, p.M)) ||
      (stores_state && p.x_dtype != p.w_dtype))
    return cudaErrorInvalidValue;
  if (kind != gemv_weights::dense && transform) {  // the quantized transform runs in 8-channel pieces only
    const gemv_ln_mix& t = p.ln_mix;
    if (!aligned16(t.x) || !aligned16(t.ln_w) || !aligned16(t.ln_b) || !aligned16(t.mu) || !aligned16(t.cur_out) ||
        !aligned16(t.prev_out))
      return cudaErrorInvalidValue;
  }
  if (kind == gemv_weights::int8) {
    launch_quant<gemv_weights::int8>(p, transform != nullptr, stream);
    return launch_status();
  }
  if (kind == gemv_weights::q4) {
    launch_quant<gemv_weights::q4>(p, transform != nullptr, stream);
    return launch_status();
  }
  dispatch_dtype(p.w_dtype, [&](auto tw) {
    using TW = typename decltype(tw)::type;
    if (transform)
      plan_and_launch<TW, TW, gemv_variant::ln_mix>(p, stream);
    else if (stores_state)
      plan_and_launch<TW, TW, gemv_variant::store_state>(p, stream);
    else if (p.x_dtype == p.w_dtype)
      plan_and_launch<TW, TW, gemv_variant::plain>(p, stream);
    else
      plan_and_launch<TW, float, gemv_variant::plain>(p, stream);
  });
  return launch_status();
}

}  // namespace rwkv_kernels
