// kernels/wkv7.cu: fused RWKV-7 time-mix core; see wkv7.cuh.
//
// Mirrors pip RWKV_x070_TMix_one / TMix_seq + rwkv7.cu (docs/rwkv-math.md section 6.3, 6.5):
//   w   = exp(-0.606531 * sigmoid(w0 + w_lora))                    decay per key channel
//   kk  = normalize_head(k * k_k)   (L2 over the head, eps 1e-12)  uses the ORIGINAL k
//   a   = sigmoid(a0 + a_lora);  k' = k * (1 + (a - 1) * k_a)
//   v   = layer 0 ? (v_first = v) : v + (v_first - v) * sigmoid(v0 + v_lora)
//   S   = S diag(w) + (S (-kk)) (kk*a)^T + v k'^T                  state [value][key]
//   y   = S r                                                       (new state)
//   out = (GN_head(y; ln_x, 64e-5) + (sum_j r_j k'_j r_k_j) * v) * g
//
// Launch: grid (H, n_seq), block N threads (N = head size). Thread i owns value
// row i of the head's state: N fp32 registers, read and written once per call
// through a padded shared tile (coalesced global accesses). Per token each
// thread reads one element of r, k, v, w_lora, a_lora, v_lora, g (and v_first),
// publishes w, k', -kk, kk*a, r to shared memory, and does 4N FMAs of state work.
// Bytes per call: rows*C*4*(7 or 8) read + rows*C*sizeof(out) written
//                 + n_seq*H*N*N*4*2 state read and written.
// FLOPs per call: about rows*H*(6*N*N + 40*N).
#include "kernels/wkv7.cuh"

#include "kernels/common/dtype_io.cuh"
#include "kernels/common/head_reduce.cuh"
#include "kernels/common/kernel_errors.cuh"

namespace rwkv_kernels {

template <int N, class TO>
static __global__ void __launch_bounds__(64, 1) wkv7_kernel(wkv7_params p) {
  __shared__ float tile[N][N + 1];
  __shared__ float sh_r[N], sh_w[N], sh_k[N], sh_a[N], sh_b[N], sh_rk[N];
  __shared__ float scratch[2];

  const int h = blockIdx.x, s = blockIdx.y, i = threadIdx.x;
  const int C = p.H * N;
  const int c = h * N + i;
  float* S = p.batch.state[s] + p.kv_offset + (size_t)h * N * N;

  // State rows in: coalesced through the tile.
  for (int e = i; e < N * N; e += N) tile[e / N][e % N] = S[e];
  sh_rk[i] = p.r_k[c];
  __syncthreads();
  float st[N];
#pragma unroll
  for (int j = 0; j < N; ++j) st[j] = tile[i][j];

  const float w0 = p.w0[c], a0 = p.a0[c], k_k = p.k_k[c], k_a = p.k_a[c];
  const float v0 = p.first_layer ? 0.0f : p.v0[c];
  const float ln_w = p.ln_w[c], ln_b = p.ln_b[c];
  TO* out = static_cast<TO*>(p.out);

  const int row_end = p.batch.seq_start[s + 1];
  for (int row = p.batch.seq_start[s]; row < row_end; ++row) {
    const size_t at = (size_t)row * C + c;
    const float r = p.r[at], k = p.k[at];
    float v = p.v[at];
    const float w = expf(-0.606531f * sigmoidf_(w0 + p.w_lora[at]));
    const float kk = k * k_k;
    const float norm = sqrtf(head_sum<N>(kk * kk, scratch));
    const float kn = kk / fmaxf(norm, 1e-12f);
    const float a = sigmoidf_(a0 + p.a_lora[at]);
    const float k_new = k * (1.0f + (a - 1.0f) * k_a);
    if (p.first_layer) {
      p.v_first[at] = v;
    } else {
      v = v + (p.v_first[at] - v) * sigmoidf_(v0 + p.v_lora[at]);
    }
    sh_r[i] = r;
    sh_w[i] = w;
    sh_k[i] = k_new;
    sh_a[i] = -kn;
    sh_b[i] = kn * a;
    __syncthreads();

    float sa = 0.0f;
#pragma unroll
    for (int j = 0; j < N; ++j) sa += sh_a[j] * st[j];
    float y = 0.0f, bonus = 0.0f;
#pragma unroll
    for (int j = 0; j < N; ++j) {
      st[j] = st[j] * sh_w[j] + sa * sh_b[j] + v * sh_k[j];
      y += st[j] * sh_r[j];
      bonus += sh_r[j] * sh_k[j] * sh_rk[j];
    }
    const float mean = head_sum<N>(y, scratch) * (1.0f / N);
    const float d = y - mean;
    const float var = head_sum<N>(d * d, scratch) * (1.0f / N);
    const float o = d * rsqrtf(var + p.gn_eps) * ln_w + ln_b;
    out[at] = from_float<TO>((o + bonus * v) * p.g[at]);
    __syncthreads();  // sh_* are rewritten by the next token
  }

  // State rows out.
#pragma unroll
  for (int j = 0; j < N; ++j) tile[i][j] = st[j];
  __syncthreads();
  for (int e = i; e < N * N; e += N) S[e] = tile[e / N][e % N];
}

template <int N>
static cudaError_t launch_wkv7(const wkv7_params& p, cudaStream_t stream) {
  const dim3 grid((unsigned)p.H, (unsigned)p.batch.n_seq), block((unsigned)N);
  return dispatch_dtype(p.out_dtype, [&](auto tag) {
    using TO = typename decltype(tag)::type;
    auto* k = wkv7_kernel<N, TO>;
    LAUNCH_KERNEL(k, grid, block, 0, stream, p);
    return launch_status();
  });
}

cudaError_t wkv7_forward(const wkv7_params& p, cudaStream_t stream) {
  if (p.batch.n_seq == 0) return cudaSuccess;
  if (p.H < 1 || !p.batch.seq_start || !p.batch.state || !p.r || !p.k || !p.v || !p.w_lora ||
      !p.a_lora || !p.g || !p.v_first || !p.w0 || !p.a0 || !p.k_k || !p.k_a || !p.r_k ||
      !p.ln_w || !p.ln_b || !p.out || (!p.first_layer && (!p.v_lora || !p.v0)))
    return cudaErrorInvalidValue;
  switch (p.N) {
    case 8: return launch_wkv7<8>(p, stream);
    case 16: return launch_wkv7<16>(p, stream);
    case 32: return launch_wkv7<32>(p, stream);
    case 64: return launch_wkv7<64>(p, stream);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace rwkv_kernels
