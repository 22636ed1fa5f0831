// kernels/wkv4.cu: RWKV-4 WKV + receptance gate; see wkv4.cuh.
//
// Mirrors pip att_one / cuda_att_seq + operators.cu kernel_wkv_forward
// (docs/rwkv-math.md section 3.3), per channel, all fp32:
//   q = max(pp, u + k);  wkv = (e^(pp-q) aa + e^(u+k-q) v) / (e^(pp-q) bb + e^(u+k-q))
//   q' = max(pp + w, k); aa = e^(pp+w-q') aa + e^(k-q') v; bb = e^(pp+w-q') bb + e^(k-q'); pp = q'
//   out = sigmoid(r) * wkv
//
// Launch: grid (ceil(A / 128), n_seq), block 128. Thread (c, s) owns channel c
// of sequence s: its aa, bb, pp in registers for the whole sequence.
// Bytes per call: rows*A*(3*4 + sizeof(out)) + n_seq*A*3*4*2 state.
// FLOPs per call: about 30*rows*A (four exponentials per token and channel).
#include "kernels/wkv4.cuh"

#include "kernels/common/dtype_io.cuh"
#include "kernels/common/head_reduce.cuh"
#include "kernels/common/kernel_errors.cuh"

namespace rwkv_kernels {

constexpr int kWkv4Threads = 128;

template <class TO>
static __global__ void __launch_bounds__(kWkv4Threads) wkv4_kernel(wkv4_params p) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  const int s = blockIdx.y;
  if (c >= p.A) return;
  float* state = p.batch.state[s];
  float aa = state[p.aa_offset + c], bb = state[p.bb_offset + c], pp = state[p.pp_offset + c];
  const float w = p.w[c], u = p.u[c];
  TO* out = static_cast<TO*>(p.out);
  const int row_end = p.batch.seq_start[s + 1];
  for (int row = p.batch.seq_start[s]; row < row_end; ++row) {
    const size_t at = (size_t)row * p.A + c;
    const float k = p.k[at], v = p.v[at];
    float ww = u + k;
    float q = fmaxf(pp, ww);
    float e1 = expf(pp - q), e2 = expf(ww - q);
    const float wkv = (e1 * aa + e2 * v) / (e1 * bb + e2);
    ww = pp + w;
    q = fmaxf(ww, k);
    e1 = expf(ww - q);
    e2 = expf(k - q);
    aa = e1 * aa + e2 * v;
    bb = e1 * bb + e2;
    pp = q;
    out[at] = from_float<TO>(sigmoidf_(p.r[at]) * wkv);
  }
  state[p.aa_offset + c] = aa;
  state[p.bb_offset + c] = bb;
  state[p.pp_offset + c] = pp;
}

cudaError_t wkv4_forward(const wkv4_params& p, cudaStream_t stream) {
  if (p.batch.n_seq == 0) return cudaSuccess;
  if (p.A < 1 || !p.batch.seq_start || !p.batch.state || !p.r || !p.k || !p.v || !p.w || !p.u || !p.out)
    return cudaErrorInvalidValue;
  const dim3 grid((unsigned)((p.A + kWkv4Threads - 1) / kWkv4Threads), (unsigned)p.batch.n_seq);
  return dispatch_dtype(p.out_dtype, [&](auto tag) {
    using TO = typename decltype(tag)::type;
    auto* k = wkv4_kernel<TO>;
    LAUNCH_KERNEL(k, grid, dim3(kWkv4Threads), 0, stream, p);
    return launch_status();
  });
}

}  // namespace rwkv_kernels
