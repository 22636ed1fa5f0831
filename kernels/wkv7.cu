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
// With kq = k * k_k and inv = 1 / max(|kq|, 1e-12) the delta term is computed unnormalised:
//   (S (-kk)) (kk*a)^T = c (kq*a)^T  with  c = -inv^2 * (S kq)   (one scalar per value row).
//
// Launch: grid (ceil(H / (64/N)), n_seq), block 64 threads = 64/N heads of N threads
// (__launch_bounds__(64, 8): at most 128 registers, 8+ blocks per SM). Thread i of a head owns
// value row i of the head's state: N fp32 registers, read once per call with N/4 independent
// 16-byte loads straight from the state buffer (4-byte loads when the state sits at an offset
// that is not 16-byte aligned) and written back the same way (a bf16 state, state_dtype: N/8
// 16-byte loads of 8 values, fp32 in registers, rounded on the store). Per token the thread reads
// its channel of r, k, v, w_lora, a_lora, v_lora, g (and v_first), prefetched one token ahead,
// publishes w, k', kq, kq*a, r to shared memory (double-buffered by token parity) and does 9N
// FLOPs of state work (S_i . kq, the update, y_i) reading them back as 16-byte shared loads. Its
// 8 per-channel parameters (and at N = 64 its sequence's end row) wait in shared memory (registers
// go to the state). Head sums (|kq|^2, the bonus, the GroupNorm statistics) are shuffles within
// the warp; a head of N = 64 spans two warps and exchanges each warp's partials through shared
// memory. Barriers per token: one __syncwarp for N <= 32, two __syncthreads for N = 64.
// Bytes per call: rows*C*4*(6 in layer 0, else 8) read + rows*C*sizeof(out) written (+ rows*C*4
//                 v_first written in layer 0) + n_seq*H*N*N*sizeof(state)*2 state read and written
//                 + C*4*8 parameters.
// FLOPs per call: about rows*H*(9*N*N + 40*N).
#include "kernels/wkv7.cuh"

#include "kernels/common/dtype_io.cuh"
#include "kernels/common/head_reduce.cuh"
#include "kernels/common/kernel_errors.cuh"
#include "kernels/common/state_io.cuh"
#include "kernels/common/wkv7_token.cuh"

namespace rwkv_kernels {

namespace {

constexpr int kWkv7Threads = 64;   // one block: 64 / N heads of N threads
constexpr int kWkv7MinBlocks = 8;  // blocks per SM the register budget must allow

// Per-token values published by each thread for its channel, [token parity][thread].
struct Wkv7Shared {
  float r[2][kWkv7Threads], w[2][kWkv7Threads], k[2][kWkv7Threads];
  float kq[2][kWkv7Threads], kqa[2][kWkv7Threads];
  Wkv7Channel channel[kWkv7Threads];  // each thread's own parameters, parked out of registers
  int row_end[kWkv7Threads];          // N = 64: each thread's end of its sequence's rows, parked likewise
  float part[2][2];  // N = 64: each warp's (|kq|^2, bonus) of the current token
  MeanM2 stats[2];   // N = 64: each warp's GroupNorm statistics of the current token
};

// The state row's update for one token; returns y_i = (new S row) . r.
// kq, kqa, w, k, r point at the head's N published values of this token.
template <int N>
__device__ __forceinline__ float update_row(float (&st)[N], const float* kq, const float* kqa, const float* w,
                                            const float* k, const float* r, float v, float inv) {
  float skq = 0.0f;  // S_i . kq (old state)
#pragma unroll
  for (int j = 0; j < N; j += 4) {
    const float4 q = shared_float4(kq + j);
    skq += st[j] * q.x + st[j + 1] * q.y + st[j + 2] * q.z + st[j + 3] * q.w;
  }
  const float c = -skq * inv * inv;
  float y = 0.0f;
#pragma unroll
  for (int j = 0; j < N; j += 4) {
    const float4 w4 = shared_float4(w + j), b4 = shared_float4(kqa + j), k4 = shared_float4(k + j),
                 r4 = shared_float4(r + j);
    st[j] = fmaf(st[j], w4.x, fmaf(c, b4.x, v * k4.x));
    st[j + 1] = fmaf(st[j + 1], w4.y, fmaf(c, b4.y, v * k4.y));
    st[j + 2] = fmaf(st[j + 2], w4.z, fmaf(c, b4.z, v * k4.z));
    st[j + 3] = fmaf(st[j + 3], w4.w, fmaf(c, b4.w, v * k4.w));
    y += st[j] * r4.x + st[j + 1] * r4.y + st[j + 2] * r4.z + st[j + 3] * r4.w;
  }
  return y;
}

// TS: the state's element type (float, or __nv_bfloat16 for state_dtype bf16).
template <int N, class TO, class TS>
__global__ void __launch_bounds__(kWkv7Threads, kWkv7MinBlocks) wkv7_kernel(wkv7_params p) {
  __shared__ Wkv7Shared sh;
  constexpr int kHeads = kWkv7Threads / N;
  const int t = threadIdx.x, i = t % N, base = t - i;  // base: the head's first slot in sh
  const int h_block = blockIdx.x * kHeads + t / N;
  // A last block's spare heads compute on head H-1's inputs and a zero state and store nothing.
  const bool active = h_block < p.H;
  const int h = active ? h_block : p.H - 1, s = blockIdx.y;
  const int C = p.H * N, c = h * N + i;

  const size_t row_at = ((size_t)h * N + i) * N;  // this thread's row in the state, in TS elements
  float st[N];
  if (kHeads == 1 || active) {  // (N = 64: one head per block, never spare)
    const TS* __restrict__ S = state_piece<TS>(p.batch.state[s], p.kv_offset) + row_at;
    assume_global(S);
    load_state<N>(S, st, is_aligned16(S - (size_t)i * N));  // the same alignment for every row
  } else {  // a spare head runs on zeros: it must not read a state another thread writes
#pragma unroll
    for (int j = 0; j < N; ++j) st[j] = 0.0f;
  }
  sh.channel[t] = load_channel(p, c);  // read back by this thread only: no barrier
  TO* __restrict__ out = static_cast<TO*>(p.out);
  float* __restrict__ v_first_out = p.v_first;

  // At N = 64 the token loop has no register to spare for the sequence's end row: it waits in
  // shared memory, read back by this thread only (no barrier).
  const int last_row = p.batch.seq_start[s + 1];
  if constexpr (N == 64) sh.row_end[t] = last_row;
  auto row_end = [&]() -> int {
    if constexpr (N == 64) return sh.row_end[t];
    return last_row;
  };
  int row = p.batch.seq_start[s];
  Wkv7Token cur = load_token(p, (size_t)row * C + c);
  for (int buf = 0; row < row_end(); ++row, buf ^= 1) {
    const size_t at = (size_t)row * C + c;
    const Wkv7Channel& ch = sh.channel[t];
    const Wkv7Token next = row + 1 < row_end() ? load_token(p, at + C) : cur;  // in flight meanwhile
    const float w = expf(-0.606531f * sigmoidf_(ch.w0 + cur.w_lora));
    const float kq = cur.k * ch.k_k;
    const float a = sigmoidf_(ch.a0 + cur.a_lora);
    const float k_new = cur.k * (1.0f + (a - 1.0f) * ch.k_a);
    float v = cur.v;
    if (p.first_layer) {
      if (active) v_first_out[at] = v;
    } else {
      v = v + (cur.v_first - v) * sigmoidf_(ch.v0 + cur.v_lora);
    }
    sh.r[buf][t] = cur.r;
    sh.w[buf][t] = w;
    sh.k[buf][t] = k_new;
    sh.kq[buf][t] = kq;
    sh.kqa[buf][t] = kq * a;
    float kq_sq = lane_group_sum<(N < 32 ? N : 32)>(kq * kq);
    float bonus = lane_group_sum<(N < 32 ? N : 32)>(cur.r * k_new * ch.r_k);
    if constexpr (N <= 32) {
      __syncwarp();  // barrier 1 (of 1): the head's published values are visible to its warp
    } else {
      if ((t & 31) == 0) {
        sh.part[t >> 5][0] = kq_sq;
        sh.part[t >> 5][1] = bonus;
      }
      __syncthreads();  // barrier 1 (of 2): published values and both warps' partials
      kq_sq = sh.part[0][0] + sh.part[1][0];
      bonus = sh.part[0][1] + sh.part[1][1];
    }
    const float inv = 1.0f / fmaxf(sqrtf(kq_sq), 1e-12f);
    const float y = update_row<N>(st, sh.kq[buf] + base, sh.kqa[buf] + base, sh.w[buf] + base, sh.k[buf] + base,
                                  sh.r[buf] + base, v, inv);
    const MeanM2 gn = head_stats<N>(y, sh);  // N = 64: barrier 2 (of 2)
    const float o = (y - gn.mean) * rsqrtf(gn.m2 * (1.0f / N) + p.gn_eps) * ch.ln_w + ch.ln_b;
    if (active) out[at] = from_float<TO>((o + bonus * v) * cur.g);
    cur = next;
  }
  if (active) {  // the state pointer again: no registers held over the token loop
    TS* __restrict__ S = state_piece<TS>(p.batch.state[s], p.kv_offset) + row_at;
    assume_global(S);
    store_state<N>(S, st, is_aligned16(S - (size_t)i * N));
  }
}

template <int N>
cudaError_t launch_wkv7(const wkv7_params& p, cudaStream_t stream) {
  constexpr int kHeads = kWkv7Threads / N;
  const dim3 grid((unsigned)((p.H + kHeads - 1) / kHeads), (unsigned)p.batch.n_seq), block((unsigned)kWkv7Threads);
  return dispatch_dtype(p.out_dtype, [&](auto tag) {
    using TO = typename decltype(tag)::type;
    auto* k = p.state_dtype == rwkv::DType::bf16 ? wkv7_kernel<N, TO, __nv_bfloat16> : wkv7_kernel<N, TO, float>;
    LAUNCH_KERNEL(k, grid, block, 0, stream, p);
    return launch_status();
  });
}

}  // namespace

bool wkv7_params_valid(const wkv7_params& p) {
  return p.H >= 1 && p.batch.seq_start && p.batch.state && p.r && p.k && p.v && p.w_lora && p.a_lora && p.g &&
         p.v_first && p.w0 && p.a0 && p.k_k && p.k_a && p.r_k && p.ln_w && p.ln_b && p.out &&
         (p.first_layer || (p.v_lora && p.v0)) &&
         (p.state_dtype == rwkv::DType::f32 || p.state_dtype == rwkv::DType::bf16);
}

cudaError_t wkv7_forward(const wkv7_params& p, cudaStream_t stream) {
  if (p.batch.n_seq == 0) return cudaSuccess;
  if (!wkv7_params_valid(p)) return cudaErrorInvalidValue;
  switch (p.N) {
    case 8: return launch_wkv7<8>(p, stream);
    case 16: return launch_wkv7<16>(p, stream);
    case 32: return launch_wkv7<32>(p, stream);
    case 64: return launch_wkv7<64>(p, stream);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace rwkv_kernels
