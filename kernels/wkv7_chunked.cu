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
// Every row i of S evolves on its own (alpha mixes keys, not values), so rows split freely over
// threads and warps. After the chunk, GroupNorm per (token, head), the bonus
// (sum_j r_j k'_j r_k_j) v and the gate as in wkv7.cu (N = 8, 16: in the same block; N = 32, 64:
// pass 3 below).
//
// Chunk size L = 16: the exponents stay within e^{+-4.9} (L = 32 would give e^{+-9.7}, still finite
// but 2^14 between the scaled factors); 16 is the m and k of the m16n8k16 tensor-core tile, so the
// state products take whole tiles and the update's inner dimension is one k step. Chunks start at a
// sequence's first row and then every L rows (N = 8, 16), or at every multiple of L of the round's
// rows (N = 32, 64: pass 1's blocks tile the rows), so a chunk may be shorter than L.
//
// N = 32, 64: three passes (first light on an H200 showed why: one block per head walking its
// chunks in series took ~30 us a chunk, and at B = 1 only H blocks ran; docs/performance.md).
// By linearity the chunk's unknowns split into a state part and a state-free part:
//   sa_t = S~ W_t + U_t,   W_t = alpha~_t + sum_{s<t} A_ts W_s,   U_t = sum_{s<t} A_ts U_s + B_ts v_s,
//   y_t  = S~ R_t + Yc_t,  R_t = r~_t + sum_{s<=t} Q_ts W_s,     Yc_t = sum_{s<=t} Q_ts U_s + K_ts v_s,
// (A_ts = alpha~_t . beta~_s, B_ts = alpha~_t . k~_s, Q_ts = r~_t . beta~_s, K_ts = r~_t . k~_s), so
//   pass 1 (every chunk of every head at once): W' = W e^g, R' = R e^g, B' = beta~ e^{G_n - g},
//          K' = k~ e^{G_n - g}, U, Yc, v and the end decay d = e^{G_n} into the scratch planes;
//   pass 2 (per head and sequence, or per 32 or 16 value rows of them: CarryShape; chunks in series,
//          only products of the state):
//          sa = S W'^T + U,  y = S R'^T + Yc,  S = S diag(d) + sa B'^T + v K'^T;
//   pass 3 (every token and head at once): GroupNorm of y, the bonus (sum_j r_j k'_j r_k_j) v, the gate.
// Each pass's launch shape, bytes and FLOPs are in its kernel's comment below. Every product on
// tensor cores has its fp32 operands split in kParts bf16 parts (kernels/common/mma_split.cuh):
// three (fp32-accurate) by default, two for runs with 16-bit activations (wkv7_params::split_parts).
// N = 8, 16 (the test models): one kernel, one block per head and sequence, N threads, thread i
// holding state row i and running phases (1)-(7) below with fp32 FMAs.
// Phases per chunk: (1) each channel loads its tokens (every load of a batch of tokens in flight at
// once) and publishes log w, kq, kq*a, k', r, v; (2) per token, |kq|^2 and the bonus summed over the
// head; (3) each channel sums its cumulative log decays and scales its key by the decays above;
// (4) the L x L matrices; (5) each row's forward substitution and end state; (6) one thread per
// token: the GroupNorm statistics; (7) each channel writes its outputs. Pass 1 at N = 32, 64
// reuses phases (1)-(3), with phase 4 on tensor cores and its own phase 5 (prepare_write).
#include "kernels/wkv7_chunked.cuh"

#include "kernels/common/dtype_io.cuh"
#include "kernels/common/head_reduce.cuh"
#include "kernels/common/kernel_errors.cuh"
#include "kernels/common/mma.cuh"
#include "kernels/common/mma_split.cuh"
#include "kernels/common/state_io.cuh"
#include "kernels/common/wkv7_token.cuh"

namespace rwkv_kernels {

namespace {

constexpr int L = kWkv7ChunkTokens;
static_assert(L == 16, "the tensor-core tiles and pass 2's loads assume chunks of 16 tokens");
constexpr float kLogDecayScale = -0.606531f;  // log w = kLogDecayScale * sigmoid(w0 + w_lora)

// One chunk of one head. [t][j] planes are padded to N + 1 floats a row so that a thread per
// token (phases 2, 4, 6) reads a different bank than its neighbours.
template <int N>
struct Wkv7ChunkShared {
  static constexpr int P = N + 1;
  float alpha[L][P];  // kq, then alpha~ (pass 1: then W)
  float beta[L][P];   // kq * a, then beta~
  float k[L][P];      // k', then k~
  float r[L][P];      // r, then r~
  float v[L][P];      // v after the value residual
  float y[L][P];      // r k' r_k (the bonus terms), then y before GroupNorm (pass 1: T = (I - A)^-1)
  float G[L][P];      // log decay of each token
  float sa[L][P];     // S_{t-1} alpha_t, per value row (pass 1: X = B v, then U)
  float A[L][L], B[L][L], Q[L][L], K[L][L];  // alpha~.beta~, alpha~.k~ (s < t); r~.beta~, r~.k~ (s <= t)
  float inv[L], bonus[L], mean[L], rstd[L];  // per token
  float e_ref[N], e_end[N], e_all[N];        // e^g, e^{G_n - g}, e^{G_n} per key
};

// Phase 1: channel i % N of the chunk's n tokens from row0; the kGroups = threads / N thread groups
// take every kGroups-th token (1 group at N = 8, 16; 2 at N = 32, 64, so every thread of pass 1
// loads). A batch of up to 8 tokens has all its loads issued before any is used: one memory
// latency a batch, where a loop token by token waited once a token. G takes each token's log
// decay; scale_chunk sums them in token order.
template <int N, int kGroups>
__device__ __forceinline__ void load_chunk(const wkv7_params& p, Wkv7ChunkShared<N>& sh, const Wkv7Channel& ch,
                                           int row0, int n, int c, int i) {
  constexpr int kPer = L / kGroups, kBatch = kPer < 8 ? kPer : 8;
  static_assert(L % kGroups == 0 && kPer % kBatch == 0, "the groups and batches tile the chunk");
  const size_t C = (size_t)p.H * N;
  const int first = i / N, col = i % N;
  for (int b = 0; b < kPer; b += kBatch) {
    Wkv7Token tok[kBatch] = {};
#pragma unroll
    for (int u = 0; u < kBatch; ++u) {
      const int t = first + kGroups * (b + u);
      if (t < n) tok[u] = load_token(p, (size_t)(row0 + t) * C + c);
    }
#pragma unroll
    for (int u = 0; u < kBatch; ++u) {
      const int t = first + kGroups * (b + u);
      if (t >= n) break;
      const float kq = tok[u].k * ch.k_k;
      const float a = sigmoidf_(ch.a0 + tok[u].a_lora);
      const float k_new = tok[u].k * (1.0f + (a - 1.0f) * ch.k_a);
      float v = tok[u].v;  // as wkv7.cu
      if (p.first_layer)
        p.v_first[(size_t)(row0 + t) * C + c] = v;
      else
        v = v + (tok[u].v_first - v) * sigmoidf_(ch.v0 + tok[u].v_lora);
      sh.alpha[t][col] = kq;
      sh.beta[t][col] = kq * a;
      sh.k[t][col] = k_new;
      sh.r[t][col] = tok[u].r;
      sh.v[t][col] = v;
      sh.y[t][col] = tok[u].r * k_new * ch.r_k;
      sh.G[t][col] = kLogDecayScale * sigmoidf_(ch.w0 + tok[u].w_lora);
    }
  }
}

// Phase 2: per token, the key norm's inverse and the bonus sum over the head. N = 8, 16 (N threads):
// a thread per token. N = 32, 64 (2N threads): kParts = 2N / L consecutive lanes per token, each
// summing N / kParts keys, the parts added by shuffles; key j = kTokens part + (x % kTokens) +
// 32 (x / kTokens) makes the 32 lanes of a warp (kTokens tokens x kParts parts) read 32 banks.
template <int N, int kThreads>
__device__ __forceinline__ void token_sums(Wkv7ChunkShared<N>& sh, int n, int i) {
  if constexpr (kThreads < 2 * L) {
    for (int t = i; t < n; t += kThreads) {
      float kq_sq = 0.0f, bonus = 0.0f;
      for (int j = 0; j < N; ++j) {
        kq_sq += sh.alpha[t][j] * sh.alpha[t][j];
        bonus += sh.y[t][j];
      }
      sh.inv[t] = 1.0f / fmaxf(sqrtf(kq_sq), 1e-12f);
      sh.bonus[t] = bonus;
    }
  } else {
    constexpr int kParts = kThreads / L, kTokens = 32 / kParts, kKeys = N / kParts;
    static_assert(kThreads == 2 * N && (N == 32 || N == 64), "4 or 8 parts a token, 8 keys a part");
    const int t = i / kParts, part = i % kParts;
    float kq_sq = 0.0f, bonus = 0.0f;
    if (t < n) {
#pragma unroll
      for (int x = 0; x < kKeys; ++x) {
        const int j = kTokens * part + x % kTokens + 32 * (x / kTokens);
        kq_sq += sh.alpha[t][j] * sh.alpha[t][j];
        bonus += sh.y[t][j];
      }
    }
#pragma unroll
    for (int o = kParts / 2; o > 0; o >>= 1) {
      kq_sq += __shfl_xor_sync(0xffffffffu, kq_sq, o);
      bonus += __shfl_xor_sync(0xffffffffu, bonus, o);
    }
    if (part == 0 && t < n) {
      sh.inv[t] = 1.0f / fmaxf(sqrtf(kq_sq), 1e-12f);
      sh.bonus[t] = bonus;
    }
  }
}

// Phase 3: key channel j = i % N: the cumulative log decays G (phase 1's per-token logs summed in
// token order, in registers), then the key scaled relative to the reference g = G_{n/2}, and the
// decays e^g, e^{G_n - g} and e^{G_n} per key. kThreads = N (N = 8, 16): thread j takes every token;
// kThreads = 2N (pass 1): thread j the first L / 2 tokens and thread N + j the rest, each summing
// all of G itself. Rows past a partial chunk are zeros for the tensor-core products.
template <int N, int kThreads>
__device__ __forceinline__ void scale_chunk(Wkv7ChunkShared<N>& sh, int n, int i) {
  constexpr int kHalves = kThreads / N, kPer = L / kHalves;
  static_assert(kHalves == 1 || kHalves == 2, "N or 2N threads");
  const int m = n / 2, j = i % N, first = kPer * (i / N);
  float G[L], g = 0.0f, run = 0.0f;
#pragma unroll
  for (int t = 0; t < L; ++t) {
    if (t < n) run += sh.G[t][j];
    G[t] = run;
    if (t == m - 1) g = run;
  }
  float Gs[kPer + 1];  // G before this thread's first token and after each of its tokens (no
#pragma unroll         // run-time index into G, which would put it in local memory)
  for (int u = 0; u <= kPer; ++u) {
    const float lower = u > 0 ? G[u - 1] : 0.0f;
    Gs[u] = kHalves == 1 || first == 0 ? lower : G[kPer + u - 1];
  }
#pragma unroll
  for (int u = 0; u < kPer; ++u) {
    const int t = first + u;
    if (t < n) {
      const float to_ref = expf(g - Gs[u + 1]);
      sh.alpha[t][j] = -sh.alpha[t][j] * sh.inv[t] * expf(Gs[u] - g);
      sh.beta[t][j] *= sh.inv[t] * to_ref;
      sh.k[t][j] *= to_ref;
      sh.r[t][j] *= expf(Gs[u + 1] - g);
    } else {
      sh.alpha[t][j] = sh.beta[t][j] = sh.k[t][j] = sh.r[t][j] = sh.v[t][j] = 0.0f;
    }
  }
  if (first == 0) {
    sh.e_ref[j] = expf(g);
    sh.e_end[j] = expf(run - g);
    sh.e_all[j] = expf(run);
  }
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

// ---- the tensor-core path (N = 32, 64: 2N threads, one warp per 16 value rows) -------------------
// Every product has fp32 operands split in kParts bf16 parts (kernels/common/mma_split.cuh).
using bf16 = __nv_bfloat16;

// The 16 x 16 A tile whose element (m, k) is x[m * ms + k * ks] (shared memory), split.
template <int kParts>
__device__ __forceinline__ SplitA<kParts> load_a(const float* x, int ms, int ks) {
  return split_a_of<kParts>([&](int m, int k) { return x[m * ms + k * ks]; });
}

// The 16 x 8 B tile whose element (k, n) is x[k * ks + n * ns] (shared memory), split.
template <int kParts>
__device__ __forceinline__ SplitB<kParts> load_b(const float* x, int ks, int ns) {
  return split_b_of<kParts>([&](int k, int n) { return x[k * ks + n * ns]; });
}

// The A tile of keys 16 kk .. 16 kk + 15 of a 16-row state tile held as C tiles (2 kk, 2 kk + 1):
// a C tile's lane holds the A fragment's elements for the same rows and columns.
template <int kParts>
__device__ __forceinline__ SplitA<kParts> state_as_a(const mma_frag_c& left, const mma_frag_c& right) {
  SplitA<kParts> a;
  split_into<kParts>(a.part, 0, left.r[0], left.r[1]);
  split_into<kParts>(a.part, 1, left.r[2], left.r[3]);
  split_into<kParts>(a.part, 2, right.r[0], right.r[1]);
  split_into<kParts>(a.part, 3, right.r[2], right.r[3]);
  return a;
}

// Pass 2's block shapes, by the key slices kSlices a row's keys are cut into. Rows of S evolve on
// their own (alpha mixes keys, not values), so a head's rows split over blocks freely, and a row's
// keys over warps when the warps add their slices of S W'^T and S R'^T.
//   whole (kSlices = 1): a block carries all N value rows of a head; N / 16 warps, warp w rows
//     16 w .. 16 w + 15 and every key.
//   split (kSlices = 2): a block carries 32 value rows; four warps, warp w row tile w % 2 and
//     key half w / 2.
//   quarter (kSlices = 4, N = 64 only): a block carries 16 value rows; four warps, warp w keys
//     16 w .. 16 w + 15.
// The slices of a row tile exchange their products through shared memory and each adds them in
// slice order. A step of pass 2's chain is one warp's dependent instruction stream; each cut
// shortens the warps' streams and multiplies the blocks (docs/performance.md "Chunked prefill:
// RWKV-7"). It pays while the blocks fit the device at once (wkv7_chunk_carry_slices).
template <int N, int kSlices>
struct CarryShape {
  static constexpr int kRows = kSlices == 1 ? N : 64 / kSlices;  // value rows per block
  static constexpr int kRowTiles = kRows / 16;
  static constexpr int kKeySlices = kSlices;
  static constexpr int kKeys = N / kKeySlices;  // keys per warp
  static constexpr int kWarps = kRowTiles * kKeySlices;
  static constexpr int kThreads = 32 * kWarps;
  static constexpr int kRowGroups = N / kRows;  // blocks per head
  static constexpr int kTiles = kKeys / 8;      // the warp's state C tiles
  static_assert(kSlices == 1 || kSlices == 2 || kSlices == 4, "whole, split or quarter");
  static_assert(N % kRows == 0 && kKeys % 16 == 0, "whole row tiles and key tiles");
};

// A warp's piece of the state: 16 value rows x kTiles 8 keys as C tiles of 16 x 8; lane (g, t)
// holds rows row0 + g (+ 8), keys key0 + 8 ct + 2t (+ 1): 4 kTiles fp32 registers.
template <int kTiles>
struct StateTiles {
  mma_frag_c tile[kTiles];
};

template <class TS>
__device__ __forceinline__ void load_pair(const TS* p, float& a, float& b) {
  if constexpr (sizeof(TS) == 2) {
    float o[2];
    widen_bf16x2(*reinterpret_cast<const unsigned*>(p), o);  // even element: 4-byte aligned
    a = o[0];
    b = o[1];
  } else {
    a = p[0];
    b = p[1];
  }
}
template <class TS>
__device__ __forceinline__ void store_pair(TS* p, float a, float b) {
  if constexpr (sizeof(TS) == 2) {
    *reinterpret_cast<unsigned*>(p) = round_bf16x2(a, b);
  } else {
    p[0] = a;
    p[1] = b;
  }
}

// Loads (store = false) or stores the warp's state piece (rows row0.., keys key0..) from / to the
// head's state S [N][N].
template <int N, int kTiles, bool kStore, class TS>
__device__ __forceinline__ void state_tiles_io(StateTiles<kTiles>& st, TS* S, int row0, int key0) {
  const int lane = (int)(threadIdx.x & 31), g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int ct = 0; ct < kTiles; ++ct)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      TS* p = S + (size_t)(row0 + g + 8 * h) * N + key0 + 8 * ct + 2 * t;
      float& a = st.tile[ct].r[2 * h];
      float& b = st.tile[ct].r[2 * h + 1];
      if constexpr (kStore)
        store_pair(p, a, b);
      else
        load_pair(p, a, b);
    }
}

// Phase 4 on tensor cores: the 4 L x L matrices, each as two C tiles of 16 x 8 (tokens s < 8 and
// s >= 8) by one warp, which splits each A operand (alpha~ or r~, 16 keys a k step) once for both
// tiles; stored with their zeros (phase 5 takes them whole as tensor-core operands).
template <int N, int kParts>
__device__ __forceinline__ void chunk_matrices_mma(Wkv7ChunkShared<N>& sh) {
  constexpr int P = Wkv7ChunkShared<N>::P;
  const int lane = (int)(threadIdx.x & 31), g = lane >> 2, t = lane & 3;
  for (int which = (int)(threadIdx.x >> 5); which < 4; which += N / 16) {  // A, B, Q, K
    const float* x = which < 2 ? &sh.alpha[0][0] : &sh.r[0][0];
    const float* y = (which & 1) ? &sh.k[0][0] : &sh.beta[0][0];
    mma_frag_c d[2] = {{{0.0f, 0.0f, 0.0f, 0.0f}}, {{0.0f, 0.0f, 0.0f, 0.0f}}};
#pragma unroll
    for (int k0 = 0; k0 < N; k0 += 16) {
      const SplitA<kParts> a = load_a<kParts>(x + k0, P, 1);
      mma_split(d[0], a, load_b<kParts>(y + k0, 1, P));
      mma_split(d[1], a, load_b<kParts>(y + 8 * P + k0, 1, P));
    }
    float(*m)[L] = which == 0 ? sh.A : which == 1 ? sh.B : which == 2 ? sh.Q : sh.K;
#pragma unroll
    for (int e = 0; e < 8; ++e) {  // A, B strictly lower (s < t), Q, K lower (s <= t): zeros above
      const int row = g + 8 * ((e >> 1) & 1), col = 8 * (e >> 2) + 2 * t + (e & 1);
      m[row][col] = (which < 2 ? col < row : col <= row) ? d[e >> 2].r[e & 3] : 0.0f;
    }
  }
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

// Phases 1-3 of a chunk: its inputs, per-token sums and scaled vectors in shared memory, by
// kThreads threads (N, or 2N in pass 1). Thread i loads channel c = h N + i % N (phase 1) and
// scales key i % N (phase 3; with 2N threads, half of the tokens each).
template <int N, int kThreads>
__device__ __forceinline__ void prepare_chunk(const wkv7_params& p, Wkv7ChunkShared<N>& sh, const Wkv7Channel& ch,
                                              int row0, int n, int c, int i) {
  load_chunk<N, kThreads / N>(p, sh, ch, row0, n, c, i);
  __syncthreads();
  token_sums<N, kThreads>(sh, n, i);
  __syncthreads();
  scale_chunk<N, kThreads>(sh, n, i);
  __syncthreads();
}

// Phases 6-7 of a chunk (after a barrier behind phase 5): GroupNorm, bonus, gate, outputs.
template <int N, class TO>
__device__ __forceinline__ void finish_chunk(const wkv7_params& p, Wkv7ChunkShared<N>& sh, const Wkv7Channel& ch,
                                             int row0, int n, int c, int i) {
  group_norm_stats<N>(sh, n, i, p.gn_eps);  // (threads i >= N > L: none)
  __syncthreads();
  if (i < N) write_outputs<N, TO>(p, sh, ch, row0, n, c, i);
  __syncthreads();  // the next chunk overwrites what this one read
}

// ---- N = 8, 16: one kernel, one block per head and sequence, chunks in series -----------------
// TS: the state's element type (float, or __nv_bfloat16 for state_dtype bf16); thread i holds
// state row i in N registers.
template <int N, class TO, class TS>
__global__ void __launch_bounds__(N, 1) wkv7_chunked_kernel(wkv7_params p) {
  __shared__ Wkv7ChunkShared<N> sh;
  const int i = threadIdx.x, h = blockIdx.x, s = blockIdx.y;
  const int c = h * N + i;
  TS* __restrict__ S = state_piece<TS>(p.batch.state[s], p.kv_offset) + (size_t)h * N * N;
  assume_global(S);
  const Wkv7Channel ch = load_channel(p, c);
  const int end = p.batch.seq_start[s + 1];
  float st[N];
  const bool vec = is_aligned16(S);  // the same alignment for every row
  load_state<N>(S + (size_t)i * N, st, vec);
  for (int row0 = p.batch.seq_start[s]; row0 < end; row0 += L) {
    const int n = min(L, end - row0);
    prepare_chunk<N, N>(p, sh, ch, row0, n, c, i);
    chunk_matrices<N>(sh, n, i);
    __syncthreads();
    advance_row<N>(st, sh, n, i);
    __syncthreads();
    finish_chunk<N, TO>(p, sh, ch, row0, n, c, i);
  }
  store_state<N>(S + (size_t)i * N, st, vec);
}

// ---- N = 32, 64: three passes (prepare every chunk at once, carry the state, normalise) ---------
// The scratch's planes ([rows, A] fp32 each, A = H N), written by pass 1 at each chunk's rows and
// head's columns; the end decays at the chunk's first row; the bonus [rows, H] after them.
enum Wkv7Plane { kPlaneW, kPlaneR, kPlaneB, kPlaneK, kPlaneU, kPlaneYc, kPlaneV, kPlaneD, kPlaneY, kPlanes };
// The planes pass 2 reads per chunk (W' R' B' K' U Yc V), in that order from plane 0.
constexpr int kCarried = 7;

// Floats from one plane to the next.
__device__ __forceinline__ size_t scratch_plane_floats(const wkv7_params& p) {
  return (size_t)p.batch.n_rows * p.H * p.N;
}
__device__ __forceinline__ float* scratch_plane(const wkv7_params& p, int z) {
  return p.chunk_scratch + (size_t)z * scratch_plane_floats(p);
}
__device__ __forceinline__ float* scratch_bonus(const wkv7_params& p) { return scratch_plane(p, kPlanes); }

// Pass 1, phase 5a: T = (I - A)^{-1}, the chunk's unit lower-triangular inverse (A strictly
// lower), by forward substitution: lane s of the calling threads owns column s,
// T_ts = [t = s] + sum_{u<t} A_tu T_us in u order (T_us = 0 for u < s, so the terms above the
// column's start add exact zeros). Into `T` (L x L, row stride P).
template <int P>
__device__ __forceinline__ void chunk_inverse(const float (&A)[L][L], float* T, int s) {
  float col[L];
#pragma unroll
  for (int t = 0; t < L; ++t) {
    float acc = t == s ? 1.0f : 0.0f;
#pragma unroll
    for (int u = 0; u < t; ++u) acc += A[t][u] * col[u];
    col[t] = acc;
    T[t * P + s] = acc;
  }
}

// A warp's 16 columns (c0 ..) of an L x N plane [t][j] (row stride P) as the two B tiles of a
// product over tokens, split.
template <int kParts, int P>
struct ColumnTiles {
  SplitB<kParts> tile[2];
  __device__ __forceinline__ explicit ColumnTiles(const float* plane, int c0) {
    tile[0] = load_b<kParts>(plane + c0, P, 1);
    tile[1] = load_b<kParts>(plane + c0 + 8, P, 1);
  }
};

// C tiles (two, columns c0 .. c0 + 15) of an L x N product: lane (g, t) holds tokens g, g + 8 and
// columns c0 + 8 nt + 2t, + 1. into_plane stores them to a shared plane [t][j] (stride P);
// to_global writes tokens < n of them, each column times scale[j] (or 1), at out[t A + j].
struct ColumnAcc {
  mma_frag_c tile[2] = {{{0.0f, 0.0f, 0.0f, 0.0f}}, {{0.0f, 0.0f, 0.0f, 0.0f}}};
  // Where element e of this lane's tile nt lies in a plane [t][j] of row stride P.
  template <int P>
  __device__ __forceinline__ static int plane_at(int nt, int e, int c0) {
    const int lane = (int)(threadIdx.x & 31), g = lane >> 2, t = lane & 3;
    return (g + 8 * (e >> 1)) * P + c0 + 8 * nt + 2 * t + (e & 1);
  }
  template <int P>
  __device__ __forceinline__ void into_plane(float* plane, int c0) const {
#pragma unroll
    for (int nt = 0; nt < 2; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) plane[plane_at<P>(nt, e, c0)] = tile[nt].r[e];
  }
  template <int P>
  __device__ __forceinline__ void from_plane(const float* plane, int c0) {
#pragma unroll
    for (int nt = 0; nt < 2; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) tile[nt].r[e] = plane[plane_at<P>(nt, e, c0)];
  }
  __device__ __forceinline__ void to_global(float* __restrict__ out, size_t A, int c0, int n,
                                            const float* scale) const {
    const int lane = (int)(threadIdx.x & 31), g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int nt = 0; nt < 2; ++nt) {
      const int j = c0 + 8 * nt + 2 * t;
      const float s0 = scale ? scale[j] : 1.0f, s1 = scale ? scale[j + 1] : 1.0f;
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int tok = g + 8 * half;
        if (tok < n)
          *reinterpret_cast<float2*>(out + tok * A + j) =
              make_float2(tile[nt].r[2 * half] * s0, tile[nt].r[2 * half + 1] * s1);
      }
    }
  }
};

// Pass 1, the end of phase 5: thread i writes column i % N of tokens i / N, + 2, ... of B' =
// beta~ e^{G_n - g}, K' = k~ e^{G_n - g} and v; the end decays e^{G_n} and the bonus.
template <int N>
__device__ __forceinline__ void write_scaled_planes(const wkv7_params& p, const Wkv7ChunkShared<N>& sh, int row0,
                                                    int n, int h, int i) {
  const size_t A = (size_t)p.H * N, plane = (size_t)p.batch.n_rows * A;  // scratch_plane_floats(p)
  float* const out = p.chunk_scratch + (size_t)row0 * A + (size_t)h * N;  // plane 0, the chunk's first row
  const int j = i % N;
  const float e_end = sh.e_end[j];
#pragma unroll
  for (int u = 0; u < L / 2; ++u) {
    const int t = i / N + 2 * u;
    if (t < n) {
      float* const at = out + t * A + j;
      at[kPlaneB * plane] = sh.beta[t][j] * e_end;
      at[kPlaneK * plane] = sh.k[t][j] * e_end;
      at[kPlaneV * plane] = sh.v[t][j];
    }
  }
  if (i < N) out[kPlaneD * plane + i] = sh.e_all[i];
  if (i < n) scratch_bonus(p)[(size_t)(row0 + i) * p.H + h] = sh.bonus[i];
}

// Pass 1, phase 5 of chunk (row0, n) after phase 4, by all 2N threads: warp w owns columns
// c0 = 16 w .. c0 + 15 of every L x N product (2N threads = N / 16 warps), all on tensor cores:
//   X = B v,  T = (I - A)^{-1} (phase 5a, the last warp's first L lanes; one barrier),
//   W = T alpha~,  U = T X,  R = r~ + Q W,  Yc = Q U + K v
// (W = T alpha~ solves W_t = alpha~_t + sum_{s<t} A_ts W_s, U = T B v solves U_t = sum_{s<t} A_ts
// U_s + B_ts v_s). A warp's products need only its own columns of the planes, so X, W and U go
// through shared memory (C tile layout in, B tile layout out) behind __syncwarp alone. W' = W e^g,
// U, R' = R e^g and Yc leave from the C tiles (float2, 32-byte pieces of a row); then
// write_scaled_planes. Rows t >= n are zeros (phase 3): computed, not stored.
template <int N, int kParts>
__device__ __forceinline__ void prepare_write(const wkv7_params& p, Wkv7ChunkShared<N>& sh, int row0, int n, int h) {
  constexpr int P = Wkv7ChunkShared<N>::P, kWarps = 2 * N / 32;
  static_assert(16 * kWarps == N, "a warp per 16 columns");
  const size_t A = (size_t)p.H * N, plane = (size_t)p.batch.n_rows * A;  // scratch_plane_floats(p), N known here
  float* const out = p.chunk_scratch + (size_t)row0 * A + (size_t)h * N;  // plane 0, the chunk's first row
  // The thread index read anew: held through phases 1-4 instead, its addresses spill at the
  // kernel's 96-register cap (phase 1 has 56 loads in flight a thread).
  const int i = thread_index_fresh(), warp = i >> 5, lane = i & 31, c0 = 16 * warp;
  float* const T = &sh.y[0][0];  // sh.y is free in pass 1 once phase 2 has summed the bonus
  ColumnAcc x;  // X = B v
  {
    const ColumnTiles<kParts, P> v(&sh.v[0][0], c0);
    const SplitA<kParts> b = load_a<kParts>(&sh.B[0][0], L, 1);
    mma_split(x.tile[0], b, v.tile[0]);
    mma_split(x.tile[1], b, v.tile[1]);
  }
  x.into_plane<P>(&sh.sa[0][0], c0);
  if (warp == kWarps - 1 && lane < L) chunk_inverse<P>(sh.A, T, lane);
  __syncthreads();  // T; this warp's X
  ColumnAcc w, u;
  {
    const SplitA<kParts> tinv = load_a<kParts>(T, P, 1);
    const ColumnTiles<kParts, P> alpha(&sh.alpha[0][0], c0), xb(&sh.sa[0][0], c0);
#pragma unroll
    for (int nt = 0; nt < 2; ++nt) {
      mma_split(w.tile[nt], tinv, alpha.tile[nt]);
      mma_split(u.tile[nt], tinv, xb.tile[nt]);
    }
  }
  __syncwarp();  // this warp's alpha~ and X are read: W and U take their places
  w.into_plane<P>(&sh.alpha[0][0], c0);
  u.into_plane<P>(&sh.sa[0][0], c0);
  w.to_global(out + kPlaneW * plane, A, c0, n, sh.e_ref);
  u.to_global(out + kPlaneU * plane, A, c0, n, nullptr);
  __syncwarp();
  ColumnAcc r, yc;
  r.from_plane<P>(&sh.r[0][0], c0);  // r~
  {
    const SplitA<kParts> q = load_a<kParts>(&sh.Q[0][0], L, 1);
    const ColumnTiles<kParts, P> wb(&sh.alpha[0][0], c0), ub(&sh.sa[0][0], c0);
#pragma unroll
    for (int nt = 0; nt < 2; ++nt) {
      mma_split(r.tile[nt], q, wb.tile[nt]);
      mma_split(yc.tile[nt], q, ub.tile[nt]);
    }
  }
  {  // v's tiles loaded again rather than held from X: at the 96-register cap they would spill
    const ColumnTiles<kParts, P> v(&sh.v[0][0], c0);
    const SplitA<kParts> k = load_a<kParts>(&sh.K[0][0], L, 1);
    mma_split(yc.tile[0], k, v.tile[0]);
    mma_split(yc.tile[1], k, v.tile[1]);
  }
  r.to_global(out + kPlaneR * plane, A, c0, n, sh.e_ref);
  yc.to_global(out + kPlaneYc * plane, A, c0, n, nullptr);
  write_scaled_planes<N>(p, sh, row0, n, h, i);
}

// Pass 1's blocks an SM holds by shared memory (228 KiB on sm_90, 164 KiB on sm_80, 1 KiB reserved
// a block): 5 at N = 64 on sm_90, 10 at N = 32. The kernel's registers are capped to match
// (__launch_bounds__), so they never lower that occupancy (96 a thread on sm_90).
template <int N>
constexpr int prepare_blocks_per_sm() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  constexpr int kSharedPerSm = 228 * 1024;
#else
  constexpr int kSharedPerSm = 164 * 1024;
#endif
  return kSharedPerSm / ((int)sizeof(Wkv7ChunkShared<N>) + 1024);
}

// Pass 1: block (b, h) prepares the chunks within rows [bL, bL + L) of head h: every piece of
// a sequence there (chunks start at a sequence's start and at multiples of L). Launch: grid
// (ceil(rows / L), H), 2N threads, static shared Wkv7ChunkShared<N> (38 KiB at N = 64).
// Bytes per chunk and head: L N 4 (6 in layer 0, else 8) read (+ L N 4 v_first in layer 0),
// L N 4 7 + N 4 + L 4 written. FLOPs: 8 L^2 N (the L x L matrices) + 12 L^2 N (phase 5's
// products: X, W, U, R, Yc), both on tensor cores and issued 6x by a three-part split, 3x by a
// two-part one, + ~L^3 (T, fp32) + ~50 L N: 0.38 MFLOP at L = 16, N = 64.
// Latency: every thread has its 8 tokens' loads in flight at once (one memory round trip a chunk;
// the first version waited 16 in series); every phase after the loads is spread over all 2N
// threads (phase 3 by token halves, phases 4 and 5 by warps), so no warp's stream is much longer
// than another's (sm_90, two parts, N = 64, counted: ~3,000-3,250 instructions a warp a chunk,
// where the key-column warps of the version with scalar substitutions issued ~4,400).
template <int N, int kParts>
__global__ void __launch_bounds__(2 * N, prepare_blocks_per_sm<N>()) wkv7_chunk_prepare_kernel(wkv7_params p) {
  __shared__ Wkv7ChunkShared<N> sh;
  const int i = threadIdx.x, h = blockIdx.y;
  const int c = h * N + i % N;  // threads i >= N: the second token group of phase 1
  const int b0 = blockIdx.x * L, b1 = min(b0 + L, p.batch.n_rows);
  for (int s = p.batch.row_seq[b0];; ++s) {
    const int seq_end = p.batch.seq_start[s + 1];
    const int row0 = max(b0, p.batch.seq_start[s]), n = min(b1, seq_end) - row0;
    const Wkv7Channel ch = load_channel(p, c);  // per piece: not held in registers across phases
    prepare_chunk<N, 2 * N>(p, sh, ch, row0, n, c, i);
    chunk_matrices_mma<N, kParts>(sh);
    __syncthreads();
    prepare_write<N, kParts>(p, sh, row0, n, h);
    if (seq_end >= b1) break;
    __syncthreads();  // the next piece overwrites what this one read
  }
}

// Pass 2's per-chunk operands in shared memory. The key-indexed W' R' B' K' (L x N each) are split
// in their kParts bf16 parts once per block as they are stored (every warp of the block reads them;
// splitting them in each warp's fragment loads cost a warp ~11 instructions a pair each time), as
// the packed pairs of the tensor-core B fragments (kernels/common/mma.cuh): W' and R', whose B
// element (k, n) in S W'^T is W'[token n][key k], as [token][key pair]; B' and K', whose element
// (k, n) in the update is B'[token k][key n], as [key][token pair]. Rows are padded by 4 words
// (kWrWords, kBkWords) so that the 32 lanes of a fragment load (8 rows x 4 consecutive pairs) read
// 32 banks, at addresses a constant apart from one fragment to the next. Then the
// row-indexed U Yc v for the block's rows (L x kRows fp32), rows past the chunk zero, rows padded
// by 4 floats (16-byte aligned); the end decays; and (split) the exchange of the key halves'
// products (per warp: S W'^T's 2 tiles, then S R'^T's, in fragment order, so that a lane reads
// its partner lane's values without bank conflicts).
enum CarryWrPlane { kWrW, kWrR };  // of wr: kPlaneW + z
enum CarryBkPlane { kBkB, kBkK };  // of bk: kPlaneB + z
enum CarryRowPlane { kRowU, kRowYc, kRowV, kRowPlanes };
static_assert(4 + kRowPlanes == kCarried, "pass 2 reads the planes pass 1 writes for it");
template <int N>
constexpr int kWrWords = N / 2 + 4;  // a token row of a wr plane: N / 2 key pairs + 4
constexpr int kBkWords = L / 2 + 4;  // a key row of a bk plane: L / 2 token pairs + 4
template <int N, int kSlices, int kParts>
struct Wkv7CarryShared {
  using Shape = CarryShape<N, kSlices>;
  static constexpr int PR = Shape::kRows + 4;
  uint32_t wr[2][kParts][L * kWrWords<N>];  // [W' or R'][part][token][key pair]
  uint32_t bk[2][kParts][N * kBkWords];     // [B' or K'][part][key][token pair]
  float row_plane[kRowPlanes][L][PR];
  float d[N];
  float partial[kSlices > 1 ? Shape::kWarps * 4 * 4 * 32 : 1];  // [warp][tile: u0 u1 y0 y1][register][lane]
};

// The index of (warp, tile, register, lane) in Wkv7CarryShared::partial.
__device__ __forceinline__ int partial_at(int w, int tile, int e, int lane) {
  return ((w * 4 + tile) * 4 + e) * 32 + lane;
}

// What one thread of pass 2 moves per chunk: of W' and R', kKeyFloat4 float4 (one token, 4 keys);
// of B' and K', kKeyFloat4 items of two float2 (keys 2kp, 2kp + 1 of tokens 2tp and 2tp + 1: the
// token pairs the update's fragments take); kRowFloat4 of each row plane (quarter: threads < 64
// one, the others none) and, for threads < N / 4, one float4 of the decays.
template <int N, int kSlices>
struct CarryRegs {
  using Shape = CarryShape<N, kSlices>;
  static constexpr int kKeyFloat4 = L * N / 4 / Shape::kThreads;
  static constexpr int kRowFloat4 = (L * Shape::kRows / 4 + Shape::kThreads - 1) / Shape::kThreads;
  static_assert(kKeyFloat4 * Shape::kThreads == L * N / 4 &&
                    (kRowFloat4 * Shape::kThreads == L * Shape::kRows / 4 || kRowFloat4 == 1),
                "whole float4 of every plane per thread, or at most one");
  float4 wr[2][kKeyFloat4];
  float2 bk[2][kKeyFloat4][2];
  float4 row[kRowPlanes][kRowFloat4];
  float4 d;
};

// A thread's kCount float4 of an L x kWidth piece of a [rows, A] plane (columns col..): float4
// f = i + k kThreads is token f / (kWidth / 4), columns 4 (f % (kWidth / 4)) on; zeros past n
// (and for the threads past the piece, f >= L kWidth / 4, which store_piece then skips).
template <int kWidth, int kThreads, int kCount>
__device__ __forceinline__ void load_piece(float4 (&x)[kCount], const float* __restrict__ src, size_t A, size_t col,
                                           int row0, int n) {
#pragma unroll
  for (int k = 0; k < kCount; ++k) {
    const int f = (int)threadIdx.x + k * kThreads, t = f / (kWidth / 4), c4 = f % (kWidth / 4);
    x[k] = t < n ? *reinterpret_cast<const float4*>(src + (size_t)(row0 + t) * A + col + 4 * c4)
                 : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
  }
}

// The same float4 into the shared piece dst [L][P].
template <int kWidth, int kThreads, int kCount, int P>
__device__ __forceinline__ void store_piece(float (*dst)[P], const float4 (&x)[kCount]) {
#pragma unroll
  for (int k = 0; k < kCount; ++k) {
    const int f = (int)threadIdx.x + k * kThreads, t = f / (kWidth / 4), c4 = f % (kWidth / 4);
    if (kCount * kThreads > L * kWidth / 4 && t >= L) continue;  // (quarter: threads past the piece)
    *reinterpret_cast<float4*>(&dst[t][4 * c4]) = x[k];
  }
}

// A thread's kCount items of an L x N key plane as token pairs: item f = i + k kThreads is token
// pair f / (N / 2), key pair f % (N / 2): x[k][0] = keys 2kp, 2kp + 1 of token 2tp, x[k][1] of token
// 2tp + 1; zeros past n.
template <int N, int kThreads, int kCount>
__device__ __forceinline__ void load_token_pairs(float2 (&x)[kCount][2], const float* __restrict__ src, size_t A,
                                                 size_t col, int row0, int n) {
#pragma unroll
  for (int k = 0; k < kCount; ++k) {
    const int f = (int)threadIdx.x + k * kThreads, tp = f / (N / 2), kp = f % (N / 2);
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      const int t = 2 * tp + e;
      x[k][e] = t < n ? *reinterpret_cast<const float2*>(src + (size_t)(row0 + t) * A + col + 2 * kp)
                      : make_float2(0.0f, 0.0f);
    }
  }
}

// load_piece's float4 (token t, keys 4 c4 ..) split into the kParts [token][key pair] parts.
template <int N, int kThreads, int kCount, int kParts>
__device__ __forceinline__ void store_split_keys(uint32_t (&dst)[kParts][L * kWrWords<N>], const float4 (&x)[kCount]) {
#pragma unroll
  for (int k = 0; k < kCount; ++k) {
    const int f = (int)threadIdx.x + k * kThreads, t = f / (N / 4), c4 = f % (N / 4);
    uint32_t lo_keys[kParts], hi_keys[kParts];
    split_pair<kParts>(x[k].x, x[k].y, lo_keys);
    split_pair<kParts>(x[k].z, x[k].w, hi_keys);
    const int w = t * kWrWords<N> + 2 * c4;  // even: pairs 2 c4 and 2 c4 + 1 side by side
#pragma unroll
    for (int part = 0; part < kParts; ++part)
      *reinterpret_cast<uint2*>(&dst[part][w]) = make_uint2(lo_keys[part], hi_keys[part]);
  }
}

// load_token_pairs' items split into the kParts [key][token pair] parts.
template <int N, int kThreads, int kCount, int kParts>
__device__ __forceinline__ void store_split_tokens(uint32_t (&dst)[kParts][N * kBkWords], const float2 (&x)[kCount][2]) {
#pragma unroll
  for (int k = 0; k < kCount; ++k) {
    const int f = (int)threadIdx.x + k * kThreads, tp = f / (N / 2), kp = f % (N / 2);
    uint32_t even[kParts], odd[kParts];  // keys 2 kp and 2 kp + 1, tokens 2 tp (low half) and 2 tp + 1
    split_pair<kParts>(x[k][0].x, x[k][1].x, even);
    split_pair<kParts>(x[k][0].y, x[k][1].y, odd);
    const int w_even = 2 * kp * kBkWords + tp, w_odd = w_even + kBkWords;
#pragma unroll
    for (int part = 0; part < kParts; ++part) {
      dst[part][w_even] = even[part];
      dst[part][w_odd] = odd[part];
    }
  }
}

// The split B fragment whose element (k, n) is plane[token n0 + n][key k0 + k] of a wr plane.
template <int N, int kParts>
__device__ __forceinline__ SplitB<kParts> wr_fragment(const uint32_t (&plane)[kParts][L * kWrWords<N>], int n0,
                                                      int k0) {
  const int lane = (int)(threadIdx.x & 31), g = lane >> 2, t = lane & 3;
  SplitB<kParts> b;
#pragma unroll
  for (int q = 0; q < 2; ++q) {  // r[q]: keys k0 + 2t + 8q and the next
    const int w = (n0 + g) * kWrWords<N> + k0 / 2 + t + 4 * q;
#pragma unroll
    for (int part = 0; part < kParts; ++part) b.part[part].r[q] = plane[part][w];
  }
  return b;
}

// The split B fragment whose element (k, n) is plane[token k][key n0 + n] of a bk plane.
template <int N, int kParts>
__device__ __forceinline__ SplitB<kParts> bk_fragment(const uint32_t (&plane)[kParts][N * kBkWords], int n0) {
  const int lane = (int)(threadIdx.x & 31), g = lane >> 2, t = lane & 3;
  SplitB<kParts> b;
#pragma unroll
  for (int q = 0; q < 2; ++q) {  // r[q]: tokens 2t + 8q and the next
    const int w = (n0 + g) * kBkWords + t + 4 * q;
#pragma unroll
    for (int part = 0; part < kParts; ++part) b.part[part].r[q] = plane[part][w];
  }
  return b;
}

// Loads chunk (row0, n)'s operands of head h, value rows v0 .. v0 + kRows - 1, into registers
// (zeros past n).
template <int N, int kSlices>
__device__ __forceinline__ void carry_load(const wkv7_params& p, CarryRegs<N, kSlices>& q, int row0, int n, int h,
                                           int v0) {
  using Shape = CarryShape<N, kSlices>;
  const size_t A = (size_t)p.H * N, col = (size_t)h * N;
#pragma unroll
  for (int z = 0; z < 2; ++z) {
    load_piece<N, Shape::kThreads>(q.wr[z], scratch_plane(p, kPlaneW + z), A, col, row0, n);
    load_token_pairs<N, Shape::kThreads>(q.bk[z], scratch_plane(p, kPlaneB + z), A, col, row0, n);
  }
#pragma unroll
  for (int z = 0; z < kRowPlanes; ++z)
    load_piece<Shape::kRows, Shape::kThreads>(q.row[z], scratch_plane(p, kPlaneU + z), A, col + v0, row0, n);
  const int i = threadIdx.x;
  if (i < N / 4) q.d = *reinterpret_cast<const float4*>(scratch_plane(p, kPlaneD) + (size_t)row0 * A + col + 4 * i);
}

template <int N, int kSlices, int kParts>
__device__ __forceinline__ void carry_store(Wkv7CarryShared<N, kSlices, kParts>& sh, const CarryRegs<N, kSlices>& q) {
  using Shape = CarryShape<N, kSlices>;
#pragma unroll
  for (int z = 0; z < 2; ++z) {
    store_split_keys<N, Shape::kThreads>(sh.wr[z], q.wr[z]);
    store_split_tokens<N, Shape::kThreads>(sh.bk[z], q.bk[z]);
  }
#pragma unroll
  for (int z = 0; z < kRowPlanes; ++z) store_piece<Shape::kRows, Shape::kThreads>(sh.row_plane[z], q.row[z]);
  const int i = threadIdx.x;
  if (i < N / 4) *reinterpret_cast<float4*>(&sh.d[4 * i]) = q.d;
}

// This warp's products S W'^T (into u) and S R'^T (into y) over its keys key0 .. key0 + kKeys - 1,
// as (row, token) tiles of tokens 0..7 and 8..15: whole, accumulated onto U and Yc (so u = sa);
// split, from zero, u of both halves and y of half 1 also to sh.partial for the other half (read
// after the caller's barrier).
template <int N, int kSlices, int kParts, int kTiles>
__device__ __forceinline__ void carry_products(StateTiles<kTiles>& st, Wkv7CarryShared<N, kSlices, kParts>& sh,
                                               int key0, mma_frag_c (&u)[2], mma_frag_c (&y)[2]) {
  const int lane = (int)(threadIdx.x & 31), g = lane >> 2, t = lane & 3, w = (int)(threadIdx.x >> 5);
#pragma unroll
  for (int q = 0; q < 2; ++q)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      if constexpr (kSlices > 1) {
        u[q].r[e] = y[q].r[e] = 0.0f;
      } else {
        const int tok = 8 * q + 2 * t + (e & 1), row = 16 * w + g + 8 * (e >> 1);  // row tile w
        u[q].r[e] = sh.row_plane[kRowU][tok][row];
        y[q].r[e] = sh.row_plane[kRowYc][tok][row];
      }
    }
#pragma unroll
  for (int kk = 0; kk < kTiles / 2; ++kk) {  // each split state tile serves both products
    const SplitA<kParts> a = state_as_a<kParts>(st.tile[2 * kk], st.tile[2 * kk + 1]);
#pragma unroll
    for (int q = 0; q < 2; ++q) {
      mma_split(u[q], a, wr_fragment<N, kParts>(sh.wr[kWrW], 8 * q, key0 + 16 * kk));
      mma_split(y[q], a, wr_fragment<N, kParts>(sh.wr[kWrR], 8 * q, key0 + 16 * kk));
    }
  }
  if constexpr (kSlices > 1) {
    const bool writes_outputs = w < CarryShape<N, kSlices>::kRowTiles;  // key slice 0 sums y
#pragma unroll
    for (int q = 0; q < 2; ++q)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        sh.partial[partial_at(w, q, e, lane)] = u[q].r[e];
        if (!writes_outputs) sh.partial[partial_at(w, 2 + q, e, lane)] = y[q].r[e];
      }
  }
}

// sa = S W'^T + U and y = S R'^T + Yc (written to the Y plane by key slice 0) from this warp's
// products and (kSlices > 1) the other slices', summed ((U + slice 0) + slice 1) + ... in every
// warp of the row tile so that they hold the same sa; then S = S diag(d) + sa B'^T + v K'^T on the
// warp's piece.
template <int N, int kSlices, int kParts, int kTiles>
__device__ __forceinline__ void carry_update(const wkv7_params& p, StateTiles<kTiles>& st,
                                             const Wkv7CarryShared<N, kSlices, kParts>& sh, const mma_frag_c (&u)[2],
                                             const mma_frag_c (&y)[2], int row0, int n, int h, int v0, int key0) {
  using Shape = CarryShape<N, kSlices>;
  constexpr int PR = Wkv7CarryShared<N, kSlices, kParts>::PR;
  const int lane = (int)(threadIdx.x & 31), g = lane >> 2, t = lane & 3, w = (int)(threadIdx.x >> 5);
  const int rt = w % Shape::kRowTiles, slice = w / Shape::kRowTiles;
  const size_t A = (size_t)p.H * N;
  float* __restrict__ Y = scratch_plane(p, kPlaneY);
  mma_frag_c sa_c[2];
#pragma unroll
  for (int q = 0; q < 2; ++q)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int tok = 8 * q + 2 * t + (e & 1), row = 16 * rt + g + 8 * (e >> 1);
      float sa = u[q].r[e], out = y[q].r[e];  // whole: already summed onto U and Yc
      if constexpr (kSlices > 1) {
        const float mine = sa;
        sa = sh.row_plane[kRowU][tok][row];
#pragma unroll
        for (int sl = 0; sl < kSlices; ++sl)
          sa += sl == slice ? mine : sh.partial[partial_at(rt + Shape::kRowTiles * sl, q, e, lane)];
        if (slice == 0) {
          out += sh.row_plane[kRowYc][tok][row];  // (Yc + slice 0) + slice 1 + ...
#pragma unroll
          for (int sl = 1; sl < kSlices; ++sl) out += sh.partial[partial_at(rt + Shape::kRowTiles * sl, 2 + q, e, lane)];
        }
      }
      sa_c[q].r[e] = sa;
      if (slice == 0 && tok < n) Y[(size_t)(row0 + tok) * A + (size_t)h * N + v0 + row] = out;
    }
  const SplitA<kParts> sa = state_as_a<kParts>(sa_c[0], sa_c[1]);               // (row, token)
  const SplitA<kParts> va = load_a<kParts>(&sh.row_plane[kRowV][0][16 * rt], 1, PR);  // (row, token)
#pragma unroll
  for (int ct = 0; ct < kTiles; ++ct) {
    mma_frag_c& d = st.tile[ct];
    const int key = key0 + 8 * ct;
    for (int e = 0; e < 4; ++e) d.r[e] *= sh.d[key + 2 * t + (e & 1)];
    mma_split(d, sa, bk_fragment<N, kParts>(sh.bk[kBkB], key));
    mma_split(d, va, bk_fragment<N, kParts>(sh.bk[kBkK], key));
  }
}

// Pass 2: block (h kRowGroups + rg, s) carries value rows v0 = rg kRows .. v0 + kRows - 1 of head
// h's state of sequence s over its chunks in order (pieces as pass 1's), writing each chunk's
// outputs before GroupNorm; shapes in CarryShape. Launch: grid (H kRowGroups, n_seq), kThreads
// threads (whole: 2N; split, quarter: 128), static shared Wkv7CarryShared (N = 64, three-part
// operands: whole 45,572 B, split 47,616 B, quarter 44,544 B; two-part: 34,820, 36,864, 33,792 B);
// the next chunk's operands load into registers while this one computes, and are split into their
// bf16 parts as they are stored to shared memory; two barriers per chunk (split, quarter: three).
// Bytes per chunk and head: 4 L N 4 kRowGroups + 3 L N 4 + N 4 kRowGroups read (whole 28.3 KiB at
// N = 64; split 44.5 KiB, quarter 77 KiB: the other row groups' W' R' B' K' rereads from L2; pass 1
// wrote them), L N 4 written; per call the state once (N^2 sizeof(state) read and written).
// FLOPs per chunk and head: 4 L N^2 (sa, y) + 4 L N^2 (the update): 0.52 MFLOP at L = 16,
// N = 64, tensor cores (issued 6x by three-part operands, 3x by two-part ones), + 2 L N (kSlices - 1)
// (the key slices' sums).
template <int N, int kSlices, int kParts, class TS>
__global__ void __launch_bounds__(CarryShape<N, kSlices>::kThreads, kSlices > 1 ? 2 : 1)
    wkv7_chunk_carry_kernel(wkv7_params p) {
  using Shape = CarryShape<N, kSlices>;
  __shared__ Wkv7CarryShared<N, kSlices, kParts> sh;
  const int h = (int)blockIdx.x / Shape::kRowGroups, s = blockIdx.y;
  const int v0 = ((int)blockIdx.x % Shape::kRowGroups) * Shape::kRows;
  const int w = (int)(threadIdx.x >> 5), key0 = (w / Shape::kRowTiles) * Shape::kKeys;
  const int rows0 = v0 + 16 * (w % Shape::kRowTiles);  // this warp's first state row
  TS* __restrict__ S = state_piece<TS>(p.batch.state[s], p.kv_offset) + (size_t)h * N * N;
  assume_global(S);
  StateTiles<Shape::kTiles> st;
  state_tiles_io<N, Shape::kTiles, false>(st, S, rows0, key0);
  const int begin = p.batch.seq_start[s], end = p.batch.seq_start[s + 1];
  auto piece_end = [&](int row0) { return min(end, (row0 / L + 1) * L); };
  CarryRegs<N, kSlices> q;
  carry_load<N, kSlices>(p, q, begin, piece_end(begin) - begin, h, v0);
  for (int row0 = begin; row0 < end;) {
    const int next = piece_end(row0), n = next - row0;
    __syncthreads();  // the last chunk's products are done with the shared operands (and halves)
    carry_store<N, kSlices, kParts>(sh, q);
    __syncthreads();
    if (next < end) carry_load<N, kSlices>(p, q, next, piece_end(next) - next, h, v0);
    mma_frag_c u[2], y[2];
    carry_products<N, kSlices, kParts>(st, sh, key0, u, y);
    if constexpr (kSlices > 1) __syncthreads();  // every key slice's products are in sh.partial
    carry_update<N, kSlices, kParts>(p, st, sh, u, y, row0, n, h, v0, key0);
    row0 = next;
  }
  state_tiles_io<N, Shape::kTiles, true>(st, S, rows0, key0);
}

// Pass 3: GroupNorm of each (token, head) of the Y plane, the bonus and the gate, one warp each.
// Launch: grid (ceil(rows H / 4)), 128 threads. Bytes per token: A 4 3 (Y, v, g) + H 4 read,
// A sizeof(out) written; ~10 FLOPs per element.
template <int N, class TO>
__global__ void __launch_bounds__(128) wkv7_chunk_output_kernel(wkv7_params p) {
  static_assert(N % 32 == 0, "a lane holds whole channels of the head");
  constexpr int kPer = kWarpHeadPer<N>;
  const int lane = (int)(threadIdx.x & 31);
  const long long item = (long long)blockIdx.x * 4 + (threadIdx.x >> 5);
  if (item >= (long long)p.batch.n_rows * p.H) return;  // a whole warp leaves; no barrier follows
  const int row = (int)(item / p.H), h = (int)(item % p.H);
  const size_t A = (size_t)p.H * N, base = (size_t)row * A + (size_t)h * N;
  const float* __restrict__ Y = scratch_plane(p, kPlaneY);
  float y[kPer];
#pragma unroll
  for (int k = 0; k < kPer; ++k) y[k] = Y[base + lane + 32 * k];
  warp_head_norm<N>(y, p.gn_eps);
  const float bonus = scratch_bonus(p)[(size_t)row * p.H + h];
  const float* __restrict__ V = scratch_plane(p, kPlaneV);
  const float* __restrict__ g = p.g;
  TO* __restrict__ out = static_cast<TO*>(p.out);
#pragma unroll
  for (int k = 0; k < kPer; ++k) {
    const size_t at = base + lane + 32 * k;
    const int c = h * N + lane + 32 * k;
    const float o = y[k] * p.ln_w[c] + p.ln_b[c];
    out[at] = from_float<TO>((o + bonus * V[at]) * g[at]);
  }
}

// p.carry_split_slots, or (-1) two blocks per SM of the current device: a split or quarter block
// (128 threads, at most 255 registers each, at most 47 KiB of shared memory) always fits twice on
// an SM of sm_80 / sm_90 (65,536 registers); 0 when the device cannot be asked.
int carry_split_slots(const wkv7_params& p) {
  if (p.carry_split_slots >= 0) return p.carry_split_slots;
  int device = 0, sms = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess)
    return 0;
  return 2 * sms;
}

template <int N, int kSlices, int kParts>
cudaError_t launch_carry(const wkv7_params& p, bool bf16_state, cudaStream_t stream) {
  using Shape = CarryShape<N, kSlices>;
  auto* carry = bf16_state ? wkv7_chunk_carry_kernel<N, kSlices, kParts, __nv_bfloat16>
                           : wkv7_chunk_carry_kernel<N, kSlices, kParts, float>;
  LAUNCH_KERNEL(carry, dim3((unsigned)(p.H * Shape::kRowGroups), (unsigned)p.batch.n_seq), dim3(Shape::kThreads), 0,
                stream, p);
  return launch_status();
}

// One pass of the three (N = 32, 64) with kParts-part operands, or at N = 8, 16 the one kernel
// (pass `prepare`; the other two launch nothing; no tensor cores, so kParts is not read).
template <int N, int kParts>
cudaError_t launch_wkv7_chunked(const wkv7_params& p, wkv7_chunk_pass pass, cudaStream_t stream) {
  return dispatch_dtype(p.out_dtype, [&](auto tag) {
    using TO = typename decltype(tag)::type;
    const bool bf16_state = p.state_dtype == rwkv::DType::bf16;
    if constexpr (N < 32) {
      if (pass != wkv7_chunk_pass::prepare) return cudaSuccess;
      auto* k = bf16_state ? wkv7_chunked_kernel<N, TO, __nv_bfloat16> : wkv7_chunked_kernel<N, TO, float>;
      LAUNCH_KERNEL(k, dim3((unsigned)p.H, (unsigned)p.batch.n_seq), dim3(N), 0, stream, p);
    } else if (pass == wkv7_chunk_pass::prepare) {
      const unsigned pieces = (unsigned)((p.batch.n_rows + L - 1) / L);
      auto* prepare = wkv7_chunk_prepare_kernel<N, kParts>;
      LAUNCH_KERNEL(prepare, dim3(pieces, (unsigned)p.H), dim3(2 * N), 0, stream, p);
    } else if (pass == wkv7_chunk_pass::carry) {
      // Pass 2 cut into as many key slices as keep its blocks within the device at once (CarryShape).
      const int slices = wkv7_chunk_carry_slices(p.H, p.batch.n_seq, N, carry_split_slots(p));
      if constexpr (N == 64)
        if (slices == 4) return launch_carry<N, 4, kParts>(p, bf16_state, stream);
      if (slices == 2) return launch_carry<N, 2, kParts>(p, bf16_state, stream);
      return launch_carry<N, 1, kParts>(p, bf16_state, stream);
    } else {
      const unsigned blocks = (unsigned)(((long long)p.batch.n_rows * p.H + 3) / 4);
      auto* output = wkv7_chunk_output_kernel<N, TO>;
      LAUNCH_KERNEL(output, dim3(blocks), dim3(128), 0, stream, p);
    }
    return launch_status();
  });
}

}  // namespace

int wkv7_chunk_carry_slices(int H, int n_seq, int N, int slots) {
  if (N < 32 || H <= 0 || n_seq <= 0) return 1;
  const long long heads = (long long)H * n_seq;  // whole blocks; split: N / 32 blocks each; quarter: 4
  if (N == 64 && heads * 4 <= (long long)slots) return 4;
  return heads * (N / 32) <= (long long)slots ? 2 : 1;
}

size_t wkv7_chunked_scratch_floats(int rows, int H, int N) {
  if (N < 32 || rows <= 0 || H <= 0) return 0;
  return (size_t)rows * ((size_t)kPlanes * H * N + (size_t)H);
}

bool wkv7_chunked_in_passes(int N) { return N >= 32; }

cudaError_t wkv7_chunked_pass(const wkv7_params& p, wkv7_chunk_pass pass, cudaStream_t stream) {
  if (p.batch.n_seq == 0) return cudaSuccess;
  if (!wkv7_params_valid(p)) return cudaErrorInvalidValue;
  if (p.N >= 32 && (p.chunk_scratch == nullptr || p.batch.row_seq == nullptr || p.batch.n_rows <= 0))
    return cudaErrorInvalidValue;
  if (!split_parts_valid(p.split_parts)) return cudaErrorInvalidValue;
  const bool two_parts = p.split_parts == kSplitBf16Run;
  switch (p.N) {
    case 8: return launch_wkv7_chunked<8, kSplitFp32>(p, pass, stream);
    case 16: return launch_wkv7_chunked<16, kSplitFp32>(p, pass, stream);
    case 32:
      return two_parts ? launch_wkv7_chunked<32, kSplitBf16Run>(p, pass, stream)
                       : launch_wkv7_chunked<32, kSplitFp32>(p, pass, stream);
    case 64:
      return two_parts ? launch_wkv7_chunked<64, kSplitBf16Run>(p, pass, stream)
                       : launch_wkv7_chunked<64, kSplitFp32>(p, pass, stream);
    default: return cudaErrorInvalidValue;
  }
}

cudaError_t wkv7_chunked_forward(const wkv7_params& p, cudaStream_t stream) {
  for (wkv7_chunk_pass pass : {wkv7_chunk_pass::prepare, wkv7_chunk_pass::carry, wkv7_chunk_pass::output}) {
    const cudaError_t e = wkv7_chunked_pass(p, pass, stream);
    if (e != cudaSuccess) return e;
  }
  return cudaSuccess;
}

}  // namespace rwkv_kernels
