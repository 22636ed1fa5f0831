// kernels/layer_prologue.cu: residual add + LayerNorm + token-shift mixes + shift-state store in
// one launch (a block per sequence, decode), or LayerNorm + token-shift mixes (a block per row,
// prefill rounds); see layer_prologue.cuh.
#include "kernels/layer_prologue.cuh"

#include <algorithm>
#include <cstdint>

#include "kernels/common/block_reduce.cuh"
#include "kernels/common/dtype_io.cuh"
#include "kernels/common/kernel_errors.cuh"
#include "kernels/common/row_stats.cuh"

namespace rwkv_kernels {
namespace {

constexpr int kPrologueThreads = 256;
constexpr unsigned kMaxGrid = 65535;

template <class TO>
struct PrologueOutputs {
  TO* out[kShiftMixMaxOutputs];
};

// State rows are reached through device pointers the host never sees: 16-byte accesses only
// when this one is aligned (as shift_mix.cu does).
template <int VEC>
__device__ __forceinline__ void load_state_row(const float* p, float (&v)[VEC]) {
  if (VEC % 4 == 0 && (reinterpret_cast<uintptr_t>(p) & 15u) == 0) {
    load_vec<VEC>(p, v);
  } else {
#pragma unroll
    for (int e = 0; e < VEC; ++e) v[e] = p[e];
  }
}

template <int VEC>
__device__ __forceinline__ void store_state_row(float* p, const float (&v)[VEC]) {
  if (VEC % 4 == 0 && (reinterpret_cast<uintptr_t>(p) & 15u) == 0) {
    store_vec<VEC>(p, v);
  } else {
#pragma unroll
    for (int e = 0; e < VEC; ++e) p[e] = v[e];
  }
}

// The token-shift mixes of the VEC channels from `ch` of the row starting at element `base`: out_z
// from the LN output x and the previous token prev (both kernels: both forms give the same bits).
template <class TO, int VEC>
__device__ __forceinline__ void write_mixes(const layer_prologue_params& p, const PrologueOutputs<TO>& o,
                                            const float (&x)[VEC], const float (&prev)[VEC], size_t base, int ch) {
#pragma unroll
  for (int z = 0; z < kShiftMixMaxOutputs; ++z) {
    if (z >= p.n_out) break;
    float mu[VEC], y[VEC];
    load_vec<VEC>(p.mu[z] + ch, mu);
#pragma unroll
    for (int e = 0; e < VEC; ++e)
      y[e] = p.prev_weighted ? x[e] + (prev[e] - x[e]) * mu[e] : x[e] * mu[e] + prev[e] * (1.0f - mu[e]);
    store_vec<VEC>(o.out[z] + base + ch, y);
  }
}

// Mean and reciprocal standard deviation of row `row` of x after the residual add (two-pass, as
// layernorm.cu); the chunks this thread touches are the ones it re-reads later.
template <int VEC>
__device__ __forceinline__ void row_stats(const layer_prologue_params& p, size_t row, float* scratch,
                                          float& mean, float& rstd) {
  const float* dr = p.delta != nullptr ? p.delta + row * (size_t)p.C : nullptr;
  residual_row_stats<VEC>(p.x + row * (size_t)p.C, dr, p.C, p.eps, scratch, mean, rstd);
}

}  // namespace

// layer_prologue_kernel: launch grid (min(n_seq, 65535)), block min(256, ceil(C / VEC) rounded up
// to 32) threads, 132 bytes of static shared memory. Block b owns sequences b, b + gridDim.x, ...
// and walks each one's rows in order; thread t owns the VEC-channel chunks t, t + blockDim.x, ... of
// every row (VEC = 8, 16-byte accesses, when C % 8 == 0 and every row pointer is 16-byte aligned;
// else 1), so the cur row it writes is the one it reads back as the next row's previous token.
// Bytes per call: rows*C*(4 read [+ 8 with delta] + 4 cur + K*sizeof(TO) [+ 4 prev_out]) + n_seq*C*8
// (state read and written) + (2 + K)*C*4 parameters (cached). FLOPs: rows*C*(8 + 3K or 4K).
// ptxas (sm_80 / sm_90, no spills): 32 registers element-wise, 40-48 with 16-byte accesses.
template <class TO, int VEC>
static __global__ void __launch_bounds__(kPrologueThreads)
    layer_prologue_kernel(layer_prologue_params p, PrologueOutputs<TO> o) {
  __shared__ float scratch[33];
  const int nchunks = p.C / VEC;
  for (int s = blockIdx.x; s < p.batch.n_seq; s += gridDim.x) {
    float* state = p.batch.state[s] + p.state_offset;
    const int first = p.batch.seq_start[s], end = p.batch.seq_start[s + 1];
    for (int row = first; row < end; ++row) {
      float mean, rstd;
      row_stats<VEC>(p, (size_t)row, scratch, mean, rstd);
      const size_t base = (size_t)row * p.C;
      for (int c = threadIdx.x; c < nchunks; c += blockDim.x) {
        const int ch = c * VEC;
        float x[VEC], wv[VEC], bv[VEC], prev[VEC];
        load_vec<VEC>(p.x + base + ch, x);
        load_vec<VEC>(p.ln_w + ch, wv);
        load_vec<VEC>(p.ln_b + ch, bv);
#pragma unroll
        for (int e = 0; e < VEC; ++e) x[e] = (x[e] - mean) * rstd * wv[e] + bv[e];
        store_vec<VEC>(p.cur + base + ch, x);
        if (row == first)
          load_state_row<VEC>(state + ch, prev);
        else
          load_vec<VEC>(p.cur + base - p.C + ch, prev);
        if (p.prev_out) store_vec<VEC>(p.prev_out + base + ch, prev);
        write_mixes<TO, VEC>(p, o, x, prev, base, ch);
        if (p.store_state && row == end - 1) store_state_row<VEC>(state + ch, x);
      }
    }
  }
}

// layer_prologue_rows_kernel (row_parallel: prefill rounds, the residual stream complete): launch
// grid (min(rows, 65535)), block as layer_prologue_kernel. Block b owns rows b, b + gridDim.x, ...;
// for its row it takes the LayerNorm statistics of the row and (unless the row starts its
// sequence) of the row before, so the previous token's LN output is recomputed here with the same
// reductions and operations the block owning that row uses: the same bits, with no write for
// another block to wait on. x is only read, so rows never race.
// Bytes per call: rows*C*(4 read + 4 re-read as the next row's previous token (mostly L2) + 4 cur
// [every row, or each sequence's last only] + K*sizeof(TO) [+ 4 prev_out]) + n_seq*C*4 (state
// read) + (2 + K)*C*4 parameters (cached). FLOPs: rows*C*(16 + 3K or 4K).
// ptxas (sm_80 / sm_90, no spills): 32 registers element-wise, 60-62 with 16-byte accesses (4 blocks
// of 256 threads an SM).
template <class TO, int VEC>
static __global__ void __launch_bounds__(kPrologueThreads)
    layer_prologue_rows_kernel(layer_prologue_params p, PrologueOutputs<TO> o) {
  __shared__ float scratch[33];
  const int nchunks = p.C / VEC;
  for (int row = blockIdx.x; row < p.batch.n_rows; row += gridDim.x) {
    const int seq = p.batch.row_seq[row];
    const bool first = row == p.batch.seq_start[seq];
    const bool keep_cur = p.cur_all_rows || row == p.batch.seq_start[seq + 1] - 1;
    const size_t base = (size_t)row * p.C;
    float mean, rstd, prev_mean = 0.0f, prev_rstd = 0.0f;
    layer_norm_stats<VEC>(p.x + base, p.C, p.eps, scratch, mean, rstd);
    if (!first) layer_norm_stats<VEC>(p.x + base - p.C, p.C, p.eps, scratch, prev_mean, prev_rstd);
    const float* state = p.batch.state[seq] + p.state_offset;
    for (int c = threadIdx.x; c < nchunks; c += blockDim.x) {
      const int ch = c * VEC;
      float x[VEC], wv[VEC], bv[VEC], prev[VEC];
      load_vec<VEC>(p.ln_w + ch, wv);
      load_vec<VEC>(p.ln_b + ch, bv);
      load_vec<VEC>(p.x + base + ch, x);
      if (first) {
        load_state_row<VEC>(state + ch, prev);
      } else {
        load_vec<VEC>(p.x + base - p.C + ch, prev);
#pragma unroll
        for (int e = 0; e < VEC; ++e) prev[e] = (prev[e] - prev_mean) * prev_rstd * wv[e] + bv[e];
      }
#pragma unroll
      for (int e = 0; e < VEC; ++e) x[e] = (x[e] - mean) * rstd * wv[e] + bv[e];
      if (keep_cur) store_vec<VEC>(p.cur + base + ch, x);
      if (p.prev_out) store_vec<VEC>(p.prev_out + base + ch, prev);
      write_mixes<TO, VEC>(p, o, x, prev, base, ch);
    }
  }
}

namespace {

// The host-visible checks of layer_prologue(); true when the call may launch.
bool prologue_args_ok(const layer_prologue_params& p, bool& vec) {
  const ragged_batch& b = p.batch;
  if (b.n_seq < 1 || b.n_seq > b.n_rows || !b.seq_start || !b.state || !p.x || !p.ln_w || !p.ln_b || !p.cur)
    return false;
  // A block per row reads the state of its sequence's first row while another would store the
  // last one's, and reads the row before while another would add its delta: neither is allowed.
  if (p.row_parallel && (p.delta || p.store_state || !b.row_seq)) return false;
  const size_t n = (size_t)b.n_rows * (size_t)p.C;
  const size_t out_bytes = n * rwkv::dtype_size(p.out_dtype);
  const void* outs[kShiftMixMaxOutputs + 2] = {p.cur, p.prev_out};
  size_t sizes[kShiftMixMaxOutputs + 2] = {n * 4, n * 4};
  for (int z = 0; z < p.n_out; ++z) {
    if (!p.mu[z] || !p.out[z]) return false;
    outs[2 + z] = p.out[z];
    sizes[2 + z] = out_bytes;
  }
  vec = p.C % kVecElems == 0 && aligned16(p.x) && aligned16(p.delta) && aligned16(p.ln_w) &&
        aligned16(p.ln_b) && aligned16(p.cur) && aligned16(p.prev_out);
  for (int i = 0; i < 2 + p.n_out; ++i) {
    if (overlaps(outs[i], sizes[i], p.x, n * 4) || overlaps(outs[i], sizes[i], p.delta, n * 4)) return false;
    for (int j = 0; j < i; ++j)
      if (overlaps(outs[i], sizes[i], outs[j], sizes[j])) return false;
    vec = vec && aligned16(outs[i]);
  }
  for (int z = 0; z < p.n_out; ++z) vec = vec && aligned16(p.mu[z]);
  return true;
}

}  // namespace

cudaError_t layer_prologue(const layer_prologue_params& p, cudaStream_t stream) {
  const ragged_batch& b = p.batch;
  if (b.n_rows < 0 || b.n_seq < 0 || p.C < 1 || p.n_out < 0 || p.n_out > kShiftMixMaxOutputs ||
      !valid_dtype(p.out_dtype))
    return cudaErrorInvalidValue;
  if (b.n_rows == 0) return cudaSuccess;
  bool vec = false;
  if (!prologue_args_ok(p, vec)) return cudaErrorInvalidValue;
  const int chunks = vec ? p.C / kVecElems : p.C;
  const unsigned threads = (unsigned)std::min(kPrologueThreads, (chunks + 31) / 32 * 32);
  const dim3 grid(std::min((unsigned)(p.row_parallel ? b.n_rows : b.n_seq), kMaxGrid));
  return dispatch_dtype(p.out_dtype, [&](auto tag) {
    using TO = typename decltype(tag)::type;
    PrologueOutputs<TO> o{};
    for (int z = 0; z < p.n_out; ++z) o.out[z] = static_cast<TO*>(p.out[z]);
    if (p.row_parallel && vec) {
      auto* k = layer_prologue_rows_kernel<TO, kVecElems>;
      LAUNCH_KERNEL(k, grid, dim3(threads), 0, stream, p, o);
    } else if (p.row_parallel) {
      auto* k = layer_prologue_rows_kernel<TO, 1>;
      LAUNCH_KERNEL(k, grid, dim3(threads), 0, stream, p, o);
    } else if (vec) {
      auto* k = layer_prologue_kernel<TO, kVecElems>;
      LAUNCH_KERNEL(k, grid, dim3(threads), 0, stream, p, o);
    } else {
      auto* k = layer_prologue_kernel<TO, 1>;
      LAUNCH_KERNEL(k, grid, dim3(threads), 0, stream, p, o);
    }
    return launch_status();
  });
}

}  // namespace rwkv_kernels
