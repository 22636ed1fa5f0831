// kernels/shift_mix.cu: ragged token-shift mixes and the shift-state store; see shift_mix.cuh.
#include "kernels/shift_mix.cuh"

#include <algorithm>
#include <cstdint>

#include "kernels/common/dtype_io.cuh"
#include "kernels/common/kernel_errors.cuh"

namespace rwkv_kernels {
namespace {

constexpr int kShiftThreads = 128;
constexpr unsigned kMaxGridY = 65535;  // CUDA's limit on gridDim.y; larger counts loop

template <class TO>
struct ShiftOutputs {
  TO* out[kShiftMixMaxOutputs];
};

// The state rows are reached through device pointers the host never sees, so
// the 16-byte path checks their alignment here (uniform per sequence: the
// chunk offsets are multiples of 32 bytes) and falls back to scalar accesses.
template <int VEC>
__device__ __forceinline__ void load_state(const float* p, float (&out)[VEC]) {
  if (VEC % 4 == 0 && (reinterpret_cast<uintptr_t>(p) & 15u) == 0) {
    load_vec<VEC>(p, out);
  } else {
#pragma unroll
    for (int e = 0; e < VEC; ++e) out[e] = p[e];
  }
}

template <int VEC>
__device__ __forceinline__ void store_state(float* p, const float (&in)[VEC]) {
  if (VEC % 4 == 0 && (reinterpret_cast<uintptr_t>(p) & 15u) == 0) {
    store_vec<VEC>(p, in);
  } else {
#pragma unroll
    for (int e = 0; e < VEC; ++e) p[e] = in[e];
  }
}

unsigned threads_for(int chunks) {
  return (unsigned)std::min(kShiftThreads, (chunks + 31) / 32 * 32);
}


}  // namespace

// shift_mix_kernel: launch grid (ceil(C / VEC / threads), min(rows, 65535)), block
// threads = min(128, ceil(C / VEC) rounded up to 32). Thread (chunk, y) owns channels
// chunk*VEC .. +VEC-1 of rows y, y + gridDim.y, ...; VEC = 8 (16-byte accesses) when
// C % 8 == 0 and cur, delta, every mu and every output are 16-byte aligned, else 1.
// Per row it reads cur and prev, then for each of the K outputs mu (and delta), and
// writes the output, all coalesced across the block.
// Bytes per call (DRAM): rows*C*(4 + K*sizeof(TO) [+ K*4 with delta]) + n_seq*C*4
// (states) + K*C*4 (mu); the cur row re-read as the next row's prev and the mu
// re-read per row are L2 hits.
// FLOPs per call: K*rows*C*(3 prev_weighted, 4 cur_weighted) [+ K*rows*C with delta].
template <class TO, int VEC>
static __global__ void __launch_bounds__(kShiftThreads)
    shift_mix_kernel(shift_mix_params p, ShiftOutputs<TO> o) {
  const int c = (blockIdx.x * blockDim.x + threadIdx.x) * VEC;
  if (c >= p.C) return;
  const size_t plane = (size_t)p.batch.n_rows * p.C;
  for (int row = blockIdx.y; row < p.batch.n_rows; row += gridDim.y) {
    const size_t i = (size_t)row * p.C + c;
    const int seq = p.batch.row_seq[row];
    float x[VEC], prev[VEC];
    load_vec<VEC>(p.cur + i, x);
    if (row == p.batch.seq_start[seq])
      load_state<VEC>(p.batch.state[seq] + p.state_offset + c, prev);
    else
      load_vec<VEC>(p.cur + i - p.C, prev);
#pragma unroll
    for (int z = 0; z < kShiftMixMaxOutputs; ++z) {
      if (z >= p.n_out) break;
      float mu[VEC], y[VEC];
      load_vec<VEC>(p.mu[z] + c, mu);
      if (p.delta) {
        float d[VEC];
        load_vec<VEC>(p.delta + z * plane + i, d);
#pragma unroll
        for (int e = 0; e < VEC; ++e) mu[e] += d[e];
      }
#pragma unroll
      for (int e = 0; e < VEC; ++e)
        y[e] = p.prev_weighted ? x[e] + (prev[e] - x[e]) * mu[e] : x[e] * mu[e] + prev[e] * (1.0f - mu[e]);
      store_vec<VEC>(o.out[z] + i, y);
    }
  }
}

cudaError_t shift_mix(const shift_mix_params& p, cudaStream_t stream) {
  const ragged_batch& b = p.batch;
  if (b.n_rows < 0 || b.n_seq < 0 || p.C < 1 || p.n_out < 1 || p.n_out > kShiftMixMaxOutputs ||
      !valid_dtype(p.out_dtype))
    return cudaErrorInvalidValue;
  if (b.n_rows == 0) return cudaSuccess;
  if (b.n_seq < 1 || b.n_seq > b.n_rows || !p.cur || !b.row_seq || !b.seq_start || !b.state)
    return cudaErrorInvalidValue;
  const size_t n = (size_t)b.n_rows * (size_t)p.C;
  const size_t out_bytes = n * rwkv::dtype_size(p.out_dtype);
  bool vec = p.C % kVecElems == 0 && aligned16(p.cur) && aligned16(p.delta);
  for (int z = 0; z < p.n_out; ++z) {
    if (!p.mu[z] || !p.out[z]) return cudaErrorInvalidValue;
    if (overlaps(p.out[z], out_bytes, p.cur, n * 4) ||
        overlaps(p.out[z], out_bytes, p.delta, (size_t)p.n_out * n * 4))
      return cudaErrorInvalidValue;
    for (int w = 0; w < p.n_out; ++w)
      if (overlaps(p.out[z], out_bytes, p.mu[w], (size_t)p.C * 4) ||
          (w < z && overlaps(p.out[z], out_bytes, p.out[w], out_bytes)))
        return cudaErrorInvalidValue;
    vec = vec && aligned16(p.mu[z]) && aligned16(p.out[z]);
  }
  const int chunks = vec ? p.C / kVecElems : p.C;
  const unsigned threads = threads_for(chunks);
  const dim3 grid((chunks + threads - 1) / threads, std::min((unsigned)b.n_rows, kMaxGridY));
  return dispatch_dtype(p.out_dtype, [&](auto tag) {
    using TO = typename decltype(tag)::type;
    ShiftOutputs<TO> o{};
    for (int z = 0; z < p.n_out; ++z) o.out[z] = static_cast<TO*>(p.out[z]);
    if (vec) {
      auto* k = shift_mix_kernel<TO, kVecElems>;
      LAUNCH_KERNEL(k, grid, dim3(threads), 0, stream, p, o);
    } else {
      auto* k = shift_mix_kernel<TO, 1>;
      LAUNCH_KERNEL(k, grid, dim3(threads), 0, stream, p, o);
    }
    return launch_status();
  });
}

// shift_store_kernel: launch grid (ceil(C / VEC / threads), min(n_seq, 65535), 2), block
// threads as for shift_mix_kernel. Thread (chunk, y, which) copies channels chunk*VEC ..
// +VEC-1 of the last rows of sequences y, y + gridDim.y, ... from att_cur (which 0) or
// ffn_cur (which 1) into the states; VEC = 8 when C % 8 == 0 and both sources are 16-byte
// aligned (state rows are checked per sequence), else 1.
// Bytes per call: n_seq*C*4 read + n_seq*C*4 written, twice (att and ffn). No FLOPs.
template <int VEC>
static __global__ void __launch_bounds__(kShiftThreads) shift_store_kernel(shift_store_params p) {
  const int c = (blockIdx.x * blockDim.x + threadIdx.x) * VEC;
  if (c >= p.C) return;
  const bool att = blockIdx.z == 0;
  const float* cur = att ? p.att_cur : p.ffn_cur;
  const size_t offset = att ? p.att_offset : p.ffn_offset;
  for (int s = blockIdx.y; s < p.batch.n_seq; s += gridDim.y) {
    const int last = p.batch.seq_start[s + 1] - 1;
    float v[VEC];
    load_vec<VEC>(cur + (size_t)last * p.C + c, v);
    store_state<VEC>(p.batch.state[s] + offset + c, v);
  }
}

cudaError_t shift_store(const shift_store_params& p, cudaStream_t stream) {
  const ragged_batch& b = p.batch;
  if (b.n_rows < 0 || b.n_seq < 0 || p.C < 1) return cudaErrorInvalidValue;
  if (b.n_seq == 0) return cudaSuccess;
  if (b.n_rows < b.n_seq || !p.att_cur || !p.ffn_cur || !b.seq_start || !b.state) return cudaErrorInvalidValue;
  const bool vec = p.C % kVecElems == 0 && aligned16(p.att_cur) && aligned16(p.ffn_cur);
  const int chunks = vec ? p.C / kVecElems : p.C;
  const unsigned threads = threads_for(chunks);
  const dim3 grid((chunks + threads - 1) / threads, std::min((unsigned)b.n_seq, kMaxGridY), 2);
  if (vec) {
    auto* k = shift_store_kernel<kVecElems>;
    LAUNCH_KERNEL(k, grid, dim3(threads), 0, stream, p);
  } else {
    auto* k = shift_store_kernel<1>;
    LAUNCH_KERNEL(k, grid, dim3(threads), 0, stream, p);
  }
  return launch_status();
}

}  // namespace rwkv_kernels
