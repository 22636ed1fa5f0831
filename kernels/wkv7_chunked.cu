// kernels/wkv7_chunked.cu: the RWKV-7 time-mix core in chunked form for prefill; see
// wkv7_chunked.cuh and docs/performance.md "Chunked prefill: RWKV-7".
//
// Per token (docs/rwkv-math.md section 6.3; state S [value i][key j], as kernels/wkv7.cu):
//   S_t = S_{t-1} diag(w_t) + (S_{t-1} alpha_t) beta_t^T + v_t k'_t^T,   y_t = S_t r_t
// with alpha_t = -kq_t * inv_t, beta_t = kq_t * a_t * inv_t (inv_t = 1 / max(|kq_t|, 1e-12)): the
// unnormalised delta term of wkv7.cu. Over a chunk of n <= L tokens from the state S0, with G_t[j]
// the cumulative log decay of key j after token t of the chunk (G_0 = 0) and a reference
// g = G_{n/2} (so every exponent below is at most 0.6065 * L/2 in magnitude: factors within
// e^{+-4.9} at L = 16; no overflow or underflow for any decay), let
//   alpha~_t = alpha_t e^{G_{t-1} - g},  r~_t = r_t e^{G_t - g},
//   beta~_s  = beta_s  e^{g - G_s},      k~_s = k'_s e^{g - G_s},      S~ = S0 diag(e^g).
// Then sa_t = S_{t-1} alpha_t (one scalar per value row) solves the unit lower-triangular system
//   sa_t = S~ alpha~_t + sum_{s<t} (alpha~_t . beta~_s) sa_s + (alpha~_t . k~_s) v_s
// (forward substitution over the chunk: the WY/UT form of the generalised delta rule), and
//   y_t = S~ r~_t + sum_{s<=t} (r~_t . beta~_s) sa_s + (r~_t . k~_s) v_s,
//   S_n = (S~ + sum_s sa_s beta~_s^T + v_s k~_s^T) diag(e^{G_n - g}).
// Every row i of S evolves on its own (alpha mixes keys, not values), so a thread owns one row.
// After the chunk, GroupNorm per (token, head), the bonus (sum_j r_j k'_j r_k_j) v and the gate as
// in wkv7.cu.
//
// Chunk size L = 16: the exponents stay within e^{+-4.9}; the chunk's per-token vectors and 4
// L x L matrices fit the static 48 KiB of shared memory at N = 64 (39 KiB); and 16 is the m and k
// of the m16n8k16 tensor-core tile the products are shaped for.
//
// Launch: grid (H, n_seq), block N threads (one head of one sequence; N = 8, 16, 32, 64).
// Thread i owns value row i of the head's state (N fp32 registers, loaded and stored as in
// wkv7.cu) and channel i of every token's inputs. Per chunk: 7 barriers (wkv7.cu: 2 per token at
// N = 64). Phases: (1) each thread loads its channel of the chunk's tokens and publishes w's
// cumulative log, kq, kq*a, k', r, v; (2) one thread per token sums |kq|^2 and the bonus over the
// head; (3) each thread scales its key channel by the decays above; (4) the 4 L x L matrices,
// (t, s) pairs spread over the threads; (5) each thread solves its row's sa, y and end state;
// (6) one thread per token: the GroupNorm statistics; (7) each thread writes its channel's outputs.
// Bytes per call: as wkv7.cu (rows*C*4*(6 or 8) read, rows*C*sizeof(out) written, the state read
//                 and written once per sequence and head).
// FLOPs per chunk and head: 4 L N^2 (S~ alpha~ and S~ r~) + 4 L N^2 (end state) + 4 L^2 N (the L x L
//                 matrices) + 2 L^2 N (substitution and y) + ~40 L N: at L = 16, N = 64 about
//                 8.4 L N^2 against wkv7.cu's 9 L N^2 (the same arithmetic, far fewer barriers).
#include "kernels/wkv7_chunked.cuh"

#include "kernels/common/dtype_io.cuh"
#include "kernels/common/head_reduce.cuh"
#include "kernels/common/kernel_errors.cuh"
#include "kernels/common/state_io.cuh"
#include "kernels/common/wkv7_token.cuh"

namespace rwkv_kernels {

namespace {

constexpr int L = kWkv7ChunkTokens;
constexpr float kLogDecayScale = -0.606531f;  // log w = kLogDecayScale * sigmoid(w0 + w_lora)

// One chunk of one head. [t][j] planes are padded to N + 1 floats a row so that a thread per
// token (phases 2, 4, 6) reads a different bank than its neighbours.
template <int N>
struct Wkv7ChunkShared {
  static constexpr int P = N + 1;
  float alpha[L][P];  // kq, then alpha~
  float beta[L][P];   // kq * a, then beta~
  float k[L][P];      // k', then k~
  float r[L][P];      // r, then r~
  float v[L][P];      // v after the value residual
  float y[L][P];      // r k' r_k (the bonus terms), then y before GroupNorm
  float G[L][P];      // cumulative log decay after each token
  float sa[L][P];     // S_{t-1} alpha_t, per value row
  float A[L][L], B[L][L], Q[L][L], K[L][L];  // alpha~.beta~, alpha~.k~ (s < t); r~.beta~, r~.k~ (s <= t)
  float inv[L], bonus[L], mean[L], rstd[L];  // per token
  float e_ref[N], e_end[N];                  // e^g, e^{G_n - g} per key
};

// Phase 1: thread i's channel of the chunk's n tokens from row0.
template <int N>
__device__ __forceinline__ void load_chunk(const wkv7_params& p, Wkv7ChunkShared<N>& sh, const Wkv7Channel& ch,
                                           int row0, int n, int c, int i) {
  const size_t C = (size_t)p.H * N;
  float G = 0.0f;
  for (int t = 0; t < n; ++t) {
    const size_t at = (size_t)(row0 + t) * C + c;
    const Wkv7Token tok = load_token(p, at);
    const float kq = tok.k * ch.k_k;
    const float a = sigmoidf_(ch.a0 + tok.a_lora);
    const float k_new = tok.k * (1.0f + (a - 1.0f) * ch.k_a);
    float v = tok.v;  // as wkv7.cu
    if (p.first_layer)
      p.v_first[at] = v;
    else
      v = v + (tok.v_first - v) * sigmoidf_(ch.v0 + tok.v_lora);
    G += kLogDecayScale * sigmoidf_(ch.w0 + tok.w_lora);
    sh.alpha[t][i] = kq;
    sh.beta[t][i] = kq * a;
    sh.k[t][i] = k_new;
    sh.r[t][i] = tok.r;
    sh.v[t][i] = v;
    sh.y[t][i] = tok.r * k_new * ch.r_k;
    sh.G[t][i] = G;
  }
}

// Phase 2: per token, the key norm's inverse and the bonus sum over the head.
template <int N>
__device__ __forceinline__ void token_sums(Wkv7ChunkShared<N>& sh, int n, int i) {
  for (int t = i; t < n; t += N) {
    float kq_sq = 0.0f, bonus = 0.0f;
    for (int j = 0; j < N; ++j) {
      kq_sq += sh.alpha[t][j] * sh.alpha[t][j];
      bonus += sh.y[t][j];
    }
    sh.inv[t] = 1.0f / fmaxf(sqrtf(kq_sq), 1e-12f);
    sh.bonus[t] = bonus;
  }
}

// Phase 3: thread i's key channel scaled relative to the reference g = G_{n/2}.
template <int N>
__device__ __forceinline__ void scale_chunk(Wkv7ChunkShared<N>& sh, int n, int i) {
  const int m = n / 2;
  const float g = m > 0 ? sh.G[m - 1][i] : 0.0f;
  float G_before = 0.0f;
  for (int t = 0; t < n; ++t) {
    const float G_after = sh.G[t][i];
    const float to_ref = expf(g - G_after);
    sh.alpha[t][i] = -sh.alpha[t][i] * sh.inv[t] * expf(G_before - g);
    sh.beta[t][i] *= sh.inv[t] * to_ref;
    sh.k[t][i] *= to_ref;
    sh.r[t][i] *= expf(G_after - g);
    G_before = G_after;
  }
  sh.e_ref[i] = expf(g);
  sh.e_end[i] = expf(G_before - g);
}

// Phase 4: the chunk's L x L matrices, (t, s) pairs over the N threads.
template <int N>
__device__ __forceinline__ void chunk_matrices(Wkv7ChunkShared<N>& sh, int n, int i) {
  for (int pair = i; pair < n * n; pair += N) {
    const int t = pair / n, s = pair % n;
    if (s > t) continue;
    float ab = 0.0f, ak = 0.0f, rb = 0.0f, rk = 0.0f;
    for (int j = 0; j < N; ++j) {
      ab += sh.alpha[t][j] * sh.beta[s][j];
      ak += sh.alpha[t][j] * sh.k[s][j];
      rb += sh.r[t][j] * sh.beta[s][j];
      rk += sh.r[t][j] * sh.k[s][j];
    }
    sh.A[t][s] = ab;  // read for s < t only
    sh.B[t][s] = ak;
    sh.Q[t][s] = rb;
    sh.K[t][s] = rk;
  }
}

// Phase 5: row i's sa_t, y_t (into shared) and end state (in st).
template <int N>
__device__ __forceinline__ void advance_row(float (&st)[N], Wkv7ChunkShared<N>& sh, int n, int i) {
#pragma unroll
  for (int j = 0; j < N; ++j) st[j] *= sh.e_ref[j];  // S~
  for (int t = 0; t < n; ++t) {
    float sa = 0.0f, y = 0.0f;
#pragma unroll
    for (int j = 0; j < N; ++j) {
      sa += st[j] * sh.alpha[t][j];
      y += st[j] * sh.r[t][j];
    }
    for (int s = 0; s < t; ++s) sa += sh.A[t][s] * sh.sa[s][i] + sh.B[t][s] * sh.v[s][i];
    sh.sa[t][i] = sa;
    for (int s = 0; s <= t; ++s) y += sh.Q[t][s] * sh.sa[s][i] + sh.K[t][s] * sh.v[s][i];
    sh.y[t][i] = y;
  }
  for (int s = 0; s < n; ++s) {
    const float sa = sh.sa[s][i], v = sh.v[s][i];
#pragma unroll
    for (int j = 0; j < N; ++j) st[j] += sa * sh.beta[s][j] + v * sh.k[s][j];
  }
#pragma unroll
  for (int j = 0; j < N; ++j) st[j] *= sh.e_end[j];
}

// Phase 6: per token, the GroupNorm statistics (two passes over the head).
template <int N>
__device__ __forceinline__ void group_norm_stats(Wkv7ChunkShared<N>& sh, int n, int i, float eps) {
  for (int t = i; t < n; t += N) {
    float sum = 0.0f;
    for (int j = 0; j < N; ++j) sum += sh.y[t][j];
    const float mean = sum * (1.0f / N);
    float m2 = 0.0f;
    for (int j = 0; j < N; ++j) m2 += (sh.y[t][j] - mean) * (sh.y[t][j] - mean);
    sh.mean[t] = mean;
    sh.rstd[t] = rsqrtf(m2 * (1.0f / N) + eps);
  }
}

// Phase 7: channel c of the chunk's outputs, ((GN(y) + bonus v) g).
template <int N, class TO>
__device__ __forceinline__ void write_outputs(const wkv7_params& p, const Wkv7ChunkShared<N>& sh,
                                              const Wkv7Channel& ch, int row0, int n, int c, int i) {
  const size_t C = (size_t)p.H * N;
  TO* __restrict__ out = static_cast<TO*>(p.out);
  for (int t = 0; t < n; ++t) {
    const size_t at = (size_t)(row0 + t) * C + c;
    const float o = (sh.y[t][i] - sh.mean[t]) * sh.rstd[t] * ch.ln_w + ch.ln_b;
    out[at] = from_float<TO>((o + sh.bonus[t] * sh.v[t][i]) * p.g[at]);
  }
}

// TS: the state's element type (float, or __nv_bfloat16 for state_dtype bf16).
template <int N, class TO, class TS>
__global__ void __launch_bounds__(64) wkv7_chunked_kernel(wkv7_params p) {
  __shared__ Wkv7ChunkShared<N> sh;
  const int i = threadIdx.x, h = blockIdx.x, s = blockIdx.y, c = h * N + i;
  const size_t row_at = ((size_t)h * N + i) * N;  // this thread's row in the state, in TS elements
  float st[N];
  {
    const TS* __restrict__ S = state_piece<TS>(p.batch.state[s], p.kv_offset) + row_at;
    assume_global(S);
    load_state<N>(S, st, is_aligned16(S - (size_t)i * N));  // the same alignment for every row
  }
  const Wkv7Channel ch = load_channel(p, c);
  const int end = p.batch.seq_start[s + 1];
  for (int row0 = p.batch.seq_start[s]; row0 < end; row0 += L) {
    const int n = min(L, end - row0);
    load_chunk<N>(p, sh, ch, row0, n, c, i);
    __syncthreads();
    token_sums<N>(sh, n, i);
    __syncthreads();
    scale_chunk<N>(sh, n, i);
    __syncthreads();
    chunk_matrices<N>(sh, n, i);
    __syncthreads();
    advance_row<N>(st, sh, n, i);
    __syncthreads();
    group_norm_stats<N>(sh, n, i, p.gn_eps);
    __syncthreads();
    write_outputs<N, TO>(p, sh, ch, row0, n, c, i);
    __syncthreads();  // the next chunk overwrites what this one read
  }
  TS* __restrict__ S = state_piece<TS>(p.batch.state[s], p.kv_offset) + row_at;
  assume_global(S);
  store_state<N>(S, st, is_aligned16(S - (size_t)i * N));
}

template <int N>
cudaError_t launch_wkv7_chunked(const wkv7_params& p, cudaStream_t stream) {
  const dim3 grid((unsigned)p.H, (unsigned)p.batch.n_seq), block((unsigned)N);
  return dispatch_dtype(p.out_dtype, [&](auto tag) {
    using TO = typename decltype(tag)::type;
    auto* k = p.state_dtype == rwkv::DType::bf16 ? wkv7_chunked_kernel<N, TO, __nv_bfloat16>
                                                 : wkv7_chunked_kernel<N, TO, float>;
    LAUNCH_KERNEL(k, grid, block, 0, stream, p);
    return launch_status();
  });
}

}  // namespace

cudaError_t wkv7_chunked_forward(const wkv7_params& p, cudaStream_t stream) {
  if (p.batch.n_seq == 0) return cudaSuccess;
  if (!wkv7_params_valid(p)) return cudaErrorInvalidValue;
  switch (p.N) {
    case 8: return launch_wkv7_chunked<8>(p, stream);
    case 16: return launch_wkv7_chunked<16>(p, stream);
    case 32: return launch_wkv7_chunked<32>(p, stream);
    case 64: return launch_wkv7_chunked<64>(p, stream);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace rwkv_kernels
