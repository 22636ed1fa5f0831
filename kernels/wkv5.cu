// kernels/wkv5.cu: fused RWKV-5/6 time-mix core; see wkv5.cuh.
//
// Mirrors pip att_one_v5_1 / att_one_v6_0 and rwkv5.cu / rwkv6.cu (docs/rwkv-math.md
// 4.4, 4.6, 5.2, 5.5), per head, with the state S[key i][value j]:
//   y_j  = sum_i r_i * (u_i * k_i * v_j + S_ij)        (reads the OLD state)
//   S_ij = w_i * S_ij + k_i * v_j                       (decay on the key index)
//   out  = GN_head(y; ln_x, 64e-5) [* silu(g)]
// v6 decays change per token: w = exp(-exp(time_decay + w_lora)).
//
// Launch: grid (H, n_seq), block N threads. Thread j owns value column j of the
// head's state (N fp32 registers); the state is read and written once per call,
// coalesced (consecutive threads, consecutive j). Per token a thread reads one
// element each of r, k, v, g (and w_lora), publishes r, k, w to shared memory and
// does 3N FMAs.
// Bytes per call: rows*C*4*(4 or 5) read + rows*C*sizeof(out) written
//                 + n_seq*H*N*N*4*2 state.
// FLOPs per call: about rows*H*(5*N*N + 30*N).
#include "kernels/wkv5.cuh"

#include "kernels/common/dtype_io.cuh"
#include "kernels/common/head_reduce.cuh"
#include "kernels/common/kernel_errors.cuh"

namespace rwkv_kernels {

template <int N, class TO>
static __global__ void __launch_bounds__(64, 1) wkv5_kernel(wkv5_params p) {
  __shared__ float sh_r[N], sh_k[N], sh_w[N], sh_u[N];
  __shared__ float scratch[2];

  const int h = blockIdx.x, s = blockIdx.y, j = threadIdx.x;
  const int C = p.H * N;
  const int c = h * N + j;
  float* S = p.batch.state[s] + p.kv_offset + (size_t)h * N * N;

  float st[N];
#pragma unroll
  for (int i = 0; i < N; ++i) st[i] = S[i * N + j];
  sh_u[j] = p.u[c];
  const float decay = p.decay[c];
  if (!p.w_lora) sh_w[j] = decay;
  const float ln_w = p.ln_w[c], ln_b = p.ln_b[c];
  TO* out = static_cast<TO*>(p.out);

  const int row_end = p.batch.seq_start[s + 1];
  for (int row = p.batch.seq_start[s]; row < row_end; ++row) {
    const size_t at = (size_t)row * C + c;
    sh_r[j] = p.r[at];
    sh_k[j] = p.k[at];
    if (p.w_lora) sh_w[j] = expf(-expf(decay + p.w_lora[at]));
    const float v = p.v[at];
    __syncthreads();

    float y = 0.0f;
#pragma unroll
    for (int i = 0; i < N; ++i) {
      const float kv = sh_k[i] * v;
      y += sh_r[i] * (sh_u[i] * kv + st[i]);
      st[i] = sh_w[i] * st[i] + kv;
    }
    const float mean = head_sum<N>(y, scratch) * (1.0f / N);
    const float d = y - mean;
    const float var = head_sum<N>(d * d, scratch) * (1.0f / N);
    float o = d * rsqrtf(var + p.gn_eps) * ln_w + ln_b;
    if (p.g) {
      const float g = p.g[at];
      o *= g * sigmoidf_(g);
    }
    out[at] = from_float<TO>(o);
    __syncthreads();  // sh_* are rewritten by the next token
  }

#pragma unroll
  for (int i = 0; i < N; ++i) S[i * N + j] = st[i];
}

template <int N>
static cudaError_t launch_wkv5(const wkv5_params& p, cudaStream_t stream) {
  const dim3 grid((unsigned)p.H, (unsigned)p.batch.n_seq), block((unsigned)N);
  return dispatch_dtype(p.out_dtype, [&](auto tag) {
    using TO = typename decltype(tag)::type;
    auto* k = wkv5_kernel<N, TO>;
    LAUNCH_KERNEL(k, grid, block, 0, stream, p);
    return launch_status();
  });
}

cudaError_t wkv5_forward(const wkv5_params& p, cudaStream_t stream) {
  if (p.batch.n_seq == 0) return cudaSuccess;
  if (p.H < 1 || !p.batch.seq_start || !p.batch.state || !p.r || !p.k || !p.v || !p.u ||
      !p.ln_w || !p.ln_b || !p.out || !p.decay)
    return cudaErrorInvalidValue;
  switch (p.N) {
    case 8: return launch_wkv5<8>(p, stream);
    case 16: return launch_wkv5<16>(p, stream);
    case 32: return launch_wkv5<32>(p, stream);
    case 64: return launch_wkv5<64>(p, stream);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace rwkv_kernels
