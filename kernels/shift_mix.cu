// kernels/shift_mix.cu: ragged token-shift mixes and the shift-state store; see shift_mix.cuh.
#include "kernels/shift_mix.cuh"

#include "kernels/common/dtype_io.cuh"
#include "kernels/common/kernel_errors.cuh"

namespace rwkv_kernels {

constexpr int kShiftThreads = 128;

template <class TO>
struct ShiftOutputs {
  TO* out[kShiftMixMaxOutputs];
};

// shift_mix_kernel: launch grid (ceil(C / 128), rows), block 128. Thread (c, row)
// owns channel c of one token: reads cur, prev and the K mix vectors (fp32,
// coalesced across the block), writes K outputs.
// Bytes per call: rows*C*(8 + K*(sizeof(out) [+ 4 with delta])) + K*C*4 (cached).
// FLOPs per call: 3*K*rows*C.
template <class TO>
static __global__ void __launch_bounds__(kShiftThreads)
    shift_mix_kernel(shift_mix_params p, ShiftOutputs<TO> o) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  const int row = blockIdx.y;
  if (c >= p.C) return;
  const int seq = p.batch.row_seq[row];
  const float x = p.cur[(size_t)row * p.C + c];
  const float prev = row == p.batch.seq_start[seq] ? p.batch.state[seq][p.state_offset + c]
                                                   : p.cur[(size_t)(row - 1) * p.C + c];
  const size_t plane = (size_t)p.batch.n_rows * p.C;
#pragma unroll
  for (int z = 0; z < kShiftMixMaxOutputs; ++z) {
    if (z >= p.n_out) break;
    float mu = p.mu[z][c];
    if (p.delta) mu += p.delta[z * plane + (size_t)row * p.C + c];
    const float y = p.prev_weighted ? x + (prev - x) * mu : x * mu + prev * (1.0f - mu);
    o.out[z][(size_t)row * p.C + c] = from_float<TO>(y);
  }
}

cudaError_t shift_mix(const shift_mix_params& p, cudaStream_t stream) {
  if (p.batch.n_rows == 0) return cudaSuccess;
  if (p.C < 1 || p.n_out < 1 || p.n_out > kShiftMixMaxOutputs || !p.cur || !p.batch.row_seq ||
      !p.batch.seq_start || !p.batch.state || p.batch.n_rows > 2147483647)
    return cudaErrorInvalidValue;
  for (int z = 0; z < p.n_out; ++z)
    if (!p.mu[z] || !p.out[z]) return cudaErrorInvalidValue;
  const dim3 grid((unsigned)((p.C + kShiftThreads - 1) / kShiftThreads), (unsigned)p.batch.n_rows);
  return dispatch_dtype(p.out_dtype, [&](auto tag) {
    using TO = typename decltype(tag)::type;
    ShiftOutputs<TO> o{};
    for (int z = 0; z < p.n_out; ++z) o.out[z] = static_cast<TO*>(p.out[z]);
    auto* k = shift_mix_kernel<TO>;
    LAUNCH_KERNEL(k, grid, dim3(kShiftThreads), 0, stream, p, o);
    return launch_status();
  });
}

// shift_store_kernel: launch grid (ceil(C / 128), n_seq, 2), block 128. Thread
// (c, s, which) copies channel c of sequence s's last row into its state.
// Bytes per call: n_seq*C*4*2*2.
static __global__ void __launch_bounds__(kShiftThreads) shift_store_kernel(shift_store_params p) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  const int s = blockIdx.y;
  if (c >= p.C) return;
  const int last = p.batch.seq_start[s + 1] - 1;
  const bool att = blockIdx.z == 0;
  const float* cur = att ? p.att_cur : p.ffn_cur;
  p.batch.state[s][(att ? p.att_offset : p.ffn_offset) + c] = cur[(size_t)last * p.C + c];
}

cudaError_t shift_store(const shift_store_params& p, cudaStream_t stream) {
  if (p.batch.n_seq == 0) return cudaSuccess;
  if (p.C < 1 || !p.att_cur || !p.ffn_cur || !p.batch.seq_start || !p.batch.state)
    return cudaErrorInvalidValue;
  const dim3 grid((unsigned)((p.C + kShiftThreads - 1) / kShiftThreads), (unsigned)p.batch.n_seq, 2);
  LAUNCH_KERNEL(shift_store_kernel, grid, dim3(kShiftThreads), 0, stream, p);
  return launch_status();
}

}  // namespace rwkv_kernels
