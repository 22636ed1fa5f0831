// kernels/wkv5_chunked.cu: the chunked RWKV-5/6 WKV of a prefill; see wkv5_chunked.cuh.
//
// The math (docs/performance.md, "Chunked prefill: RWKV-5 and RWKV-6"; the recurrence of
// kernels/wkv5.cu: y_t = r_t (S + diag(u) k_t v_t^T), S <- diag(w_t) S + k_t v_t^T, S[key][value]).
// In a chunk of L tokens starting from the state S0, with b_t = sum_{tau <= t} log w_tau per key
// (b_-1 = 0; the log decays relative to the chunk's start):
//   y_t   = (r_t . e^{b_{t-1}}) S0 + sum_{s < t} A_ts v_s + (r_t . u . k_t) v_t
//   A_ts  = sum_i r_ti k_si e^{b_{t-1,i} - b_si}                      (s < t: exponent <= 0)
//   S_end = diag(e^{b_{L-1}}) S0 + sum_s (k_s . e^{b_{L-1} - b_s}) v_s^T   (exponents <= 0)
// A_ts of a query sub-chunk of 16 tokens starting at q0 and keys s < q0 factors as
// (r_t e^{b_{t-1} - b_{q0-1}}) . (k_s e^{b_{q0-1} - b_s}): both exponents <= 0, so that block is one
// tensor-core product of factors <= |r|, |k|; the two 16 x 16 blocks on the diagonal take the
// per-pair exponent in fp32 instead (a split point inside them would make one factor > 1 and can
// overflow for strong decays). Every other product runs on tensor cores with operands split in
// kParts bf16 parts (kernels/common/mma_split.cuh): three by default (about 2^-27 relative per
// product), so fp32 models keep fp32-level results; two for runs with 16-bit activations
// (wkv5_params::split_parts; about 2^-16 a product, half the products).
//
// wkv5_chunk_kernel: grid (N / VS value slices, H, n_seq), block 128 threads (4 warps). A block
// owns the VS value columns j0.. of one head of one sequence (the columns of S evolve
// independently) and walks its sequence's chunks in order; S0 of the slice (KP x VS fp32) lives
// in shared memory from the first chunk to the end. Per chunk: load r, k, log w (L x KP) and v
// (L x VS) | cumulative b (a thread per key) and the bonus terms (a thread per token) | A (the
// diagonal blocks a fp32 dot per pair, the off-diagonal block by warps 0, 1 on tensor cores) |
// outputs (warp w: tokens 16 (w / NT).., values 8 (w % NT)..) and the new S (at most two 16 x 8
// tiles per warp) | store S. Four barriers per chunk of 32 tokens.
// Bytes per chunk and block: L*(3*N + VS)*4 read (r, k, w_lora or none, v; every slice block of a
// head reads the head's r, k, w) + L*VS*4 written (y); the state slice is read and written once
// per call. FLOPs per chunk and head: tensor cores kParts (kParts + 1) / 2 x 2*(L*N*N (S0) + 16*16*N (A) + L*L*N/2
// (A v) + N*L*N (S_end)); fp32 2*(2*16*16/2)*N with as many exponentials (the diagonal blocks,
// per slice block).
//
// wkv5_group_norm_kernel: grid (ceil(rows * H / 4)), block 128: one warp per (row, head), lane l
// holding channels l and l + 32 of the head (those below N); two-pass GroupNorm statistics by
// warp shuffles, then ln_x and the silu gate, into p.out (out_dtype). Bytes: rows*A*(8 + 4 with
// a gate) read + rows*A*sizeof(out) written; FLOPs about 10 per element.
#include "kernels/wkv5_chunked.cuh"

#include "kernels/common/dtype_io.cuh"
#include "kernels/common/head_reduce.cuh"
#include "kernels/common/kernel_errors.cuh"
#include "kernels/common/mma.cuh"
#include "kernels/common/mma_split.cuh"
#include "kernels/common/state_io.cuh"

namespace rwkv_kernels {

namespace {

constexpr int kL = kWkv5ChunkTokens;
constexpr int kChunkThreads = 128;
static_assert(kL == 32, "the kernel's tiling assumes two 16-token sub-chunks");

template <int N>
struct ChunkShape {
  static constexpr int KP = N < 16 ? 16 : N;  // key columns, zero-padded to the mma's k of 16
  static constexpr int VS = N < 16 ? N : 16;  // value columns per block
  static constexpr int NT = VS / 8;           // 8-wide n-tiles per slice
  static constexpr int KS = KP + 4;           // row stride of the [token][key] arrays (banks)
  static constexpr int VSS = VS + 4;
};

template <int N>
struct ChunkShared {
  using Sh = ChunkShape<N>;
  float r[kL][Sh::KS], k[kL][Sh::KS];
  float b[kL][Sh::KS];         // log decays, then their cumulative sums b_t
  float v[kL][Sh::VSS];
  float S[Sh::KP][Sh::VSS];    // the state slice [key][value], fp32
  float A[kL][kL + 4];         // in-chunk weights A_ts, zero for s >= t
  float bonus[kL];             // r_t . u . k_t
};

// The lane's accumulator element q: row 16-tile row (g or g + 8), column (2t or 2t + 1).
__device__ __forceinline__ int acc_row(int q) { return (int)((threadIdx.x & 31) >> 2) + 8 * (q >> 1); }
__device__ __forceinline__ int acc_col(int q) { return 2 * (int)(threadIdx.x & 3) + (q & 1); }

// ---- the phases of one chunk -----------------------------------------------------------------

// r, k and log w of the chunk's L tokens (zero beyond L and beyond the head's N keys) and the
// slice's values.
template <int N>
__device__ __forceinline__ void load_chunk(const wkv5_params& p, ChunkShared<N>& sh, int row0, int L, int h, int j0) {
  using Sh = ChunkShape<N>;
  const size_t A = (size_t)p.H * N;
  const float* __restrict__ r = p.r;
  const float* __restrict__ k = p.k;
  for (int e = (int)threadIdx.x; e < kL * Sh::KP; e += kChunkThreads) {
    const int t = e / Sh::KP, i = e % Sh::KP;
    float rv = 0.0f, kv = 0.0f, lw = 0.0f;
    if (t < L && i < N) {
      const size_t col = (size_t)h * N + i, at = (size_t)(row0 + t) * A + col;
      rv = r[at];
      kv = k[at];
      // The log of the fp32 factor the sequential recurrence multiplies by, not -exp(x) itself: near
      // 1 the factor's rounding is a large part of 1 - w, and over thousands of tokens it shows.
      lw = logf(p.w_lora ? expf(-expf(p.decay[col] + p.w_lora[at])) : p.decay[col]);
      lw = fmaxf(lw, kWkv5MinLogDecay);
    }
    sh.r[t][i] = rv;
    sh.k[t][i] = kv;
    sh.b[t][i] = lw;
  }
  const float* __restrict__ v = p.v;
  for (int e = (int)threadIdx.x; e < kL * Sh::VS; e += kChunkThreads) {
    const int t = e / Sh::VS, j = e % Sh::VS;
    sh.v[t][j] = t < L ? v[(size_t)(row0 + t) * A + (size_t)h * N + j0 + j] : 0.0f;
  }
}

// b_t = cumulative log decays (threads 0..KP-1, one key each) and the bonus terms (threads
// 64..95, one token each).
template <int N>
__device__ __forceinline__ void decays_and_bonus(const wkv5_params& p, ChunkShared<N>& sh, int h) {
  const int tid = (int)threadIdx.x;
  if (tid < ChunkShape<N>::KP) {
    float acc = 0.0f;
    for (int t = 0; t < kL; ++t) {
      acc += sh.b[t][tid];
      sh.b[t][tid] = acc;
    }
  } else if (tid >= 64 && tid < 64 + kL) {
    const int t = tid - 64;
    const float* u = p.u + (size_t)h * N;
    float acc = 0.0f;
    for (int i = 0; i < N; ++i) acc = fmaf(sh.r[t][i] * u[i], sh.k[t][i], acc);
    sh.bonus[t] = acc;
  }
}

// A_ts for the chunk: the diagonal 16 x 16 blocks per pair in fp32 (every thread; the block of
// queries 0..15 x keys 16..31 is never read), and the block of queries 16..31 x keys 0..15 on tensor cores (warps 0, 1:
// keys 8w..8w+7), split at b_15.
template <int N, int kParts>
__device__ __forceinline__ void in_chunk_weights(ChunkShared<N>& sh) {
  for (int e = (int)threadIdx.x; e < 2 * 256; e += kChunkThreads) {
    const int blk = e / 256, m = (e / 16) % 16, n = e % 16;
    const int t = 16 * blk + m, s = 16 * blk + n;
    float a = 0.0f;
    if (n < m)
      for (int i = 0; i < N; ++i) a = fmaf(sh.r[t][i] * sh.k[s][i], expf(sh.b[t - 1][i] - sh.b[s][i]), a);
    sh.A[t][s] = a;
  }
  const int warp = (int)(threadIdx.x >> 5);
  if (warp >= 2) return;
  mma_frag_c acc = {{0.0f, 0.0f, 0.0f, 0.0f}};
  for (int kb = 0; kb < ChunkShape<N>::KP; kb += 16) {
    const SplitA<kParts> q = split_a_of<kParts>([&](int m, int i) {
      return sh.r[16 + m][kb + i] * expf(sh.b[15 + m][kb + i] - sh.b[15][kb + i]);
    });
    const SplitB<kParts> key = split_b_of<kParts>([&](int i, int n) {
      const int s = 8 * warp + n;
      return sh.k[s][kb + i] * expf(sh.b[15][kb + i] - sh.b[s][kb + i]);
    });
    mma_split(acc, q, key);
  }
#pragma unroll
  for (int q = 0; q < 4; ++q) sh.A[16 + acc_row(q)][8 * warp + acc_col(q)] = acc.r[q];
}

// y of the chunk's tokens for the slice (warps 0 .. 2 NT - 1), into y_out (fp32, before the
// GroupNorm).
template <int N, int kParts>
__device__ __forceinline__ void chunk_outputs(const ChunkShared<N>& sh, float* __restrict__ y_out, size_t A,
                                              int row0, int L, int col0) {
  using Sh = ChunkShape<N>;
  const int warp = (int)(threadIdx.x >> 5);
  if (warp >= 2 * Sh::NT) return;
  const int mt = warp / Sh::NT, n0 = 8 * (warp % Sh::NT), t0 = 16 * mt;
  mma_frag_c acc = {{0.0f, 0.0f, 0.0f, 0.0f}};
  for (int kb = 0; kb < Sh::KP; kb += 16) {  // (r_t . e^{b_{t-1}}) S0
    const SplitA<kParts> q = split_a_of<kParts>([&](int m, int i) {
      const int t = t0 + m;
      return t == 0 ? sh.r[0][kb + i] : sh.r[t][kb + i] * expf(sh.b[t - 1][kb + i]);
    });
    const SplitB<kParts> st = split_b_of<kParts>([&](int i, int n) { return sh.S[kb + i][n0 + n]; });
    mma_split(acc, q, st);
  }
  for (int sb = 0; sb <= mt; ++sb) {  // sum_{s < t} A_ts v_s
    const SplitA<kParts> a = split_a_of<kParts>([&](int m, int s) { return sh.A[t0 + m][16 * sb + s]; });
    const SplitB<kParts> vv = split_b_of<kParts>([&](int s, int n) { return sh.v[16 * sb + s][n0 + n]; });
    mma_split(acc, a, vv);
  }
#pragma unroll
  for (int q = 0; q < 4; ++q) {
    const int t = t0 + acc_row(q), j = n0 + acc_col(q);
    if (t < L) y_out[(size_t)(row0 + t) * A + col0 + j] = acc.r[q] + sh.bonus[t] * sh.v[t][j];
  }
}

// This warp's tiles of the new state slice (tile = warp, warp + 4: keys 16 (tile / NT).., values
// 8 (tile % NT)..) into acc, from S0 and the chunk.
template <int N, int kParts>
__device__ __forceinline__ void next_state(const ChunkShared<N>& sh, mma_frag_c (&acc)[2]) {
  using Sh = ChunkShape<N>;
  constexpr int kTiles = Sh::KP / 16 * Sh::NT;
  const int warp = (int)(threadIdx.x >> 5);
#pragma unroll
  for (int z = 0; z < 2; ++z) {  // (unrolled: acc stays in registers)
    const int tile = warp + 4 * z;
    if (tile >= kTiles) continue;
    const int i0 = 16 * (tile / Sh::NT), n0 = 8 * (tile % Sh::NT);
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const int i = i0 + acc_row(q);
      acc[z].r[q] = expf(sh.b[kL - 1][i]) * sh.S[i][n0 + acc_col(q)];
    }
    for (int sb = 0; sb < kL; sb += 16) {
      const SplitA<kParts> kd = split_a_of<kParts>([&](int m, int s) {
        const int i = i0 + m;
        return sh.k[sb + s][i] * expf(sh.b[kL - 1][i] - sh.b[sb + s][i]);
      });
      const SplitB<kParts> vv = split_b_of<kParts>([&](int s, int n) { return sh.v[sb + s][n0 + n]; });
      mma_split(acc[z], kd, vv);
    }
  }
}

template <int N>
__device__ __forceinline__ void store_next_state(ChunkShared<N>& sh, const mma_frag_c (&acc)[2]) {
  using Sh = ChunkShape<N>;
  constexpr int kTiles = Sh::KP / 16 * Sh::NT;
  const int warp = (int)(threadIdx.x >> 5);
#pragma unroll
  for (int z = 0; z < 2; ++z) {
    const int tile = warp + 4 * z;
    if (tile >= kTiles) continue;
    const int i0 = 16 * (tile / Sh::NT), n0 = 8 * (tile % Sh::NT);
#pragma unroll
    for (int q = 0; q < 4; ++q) sh.S[i0 + acc_row(q)][n0 + acc_col(q)] = acc[z].r[q];
  }
}

// The state slice between the slot (TS, [h][key][value] at kv_offset) and shared memory.
template <int N, class TS>
__device__ __forceinline__ void copy_state_slice(const wkv5_params& p, ChunkShared<N>& sh, int s, int h, int j0,
                                                 bool store) {
  using Sh = ChunkShape<N>;
  TS* __restrict__ S = state_piece<TS>(p.batch.state[s], p.kv_offset) + (size_t)h * N * N;
  assume_global(S);
  for (int e = (int)threadIdx.x; e < Sh::KP * Sh::VS; e += kChunkThreads) {
    const int i = e / Sh::VS, j = e % Sh::VS;
    if (store) {
      if (i < N) S[(size_t)i * N + j0 + j] = from_float<TS>(sh.S[i][j]);
    } else {
      sh.S[i][j] = i < N ? to_float(S[(size_t)i * N + j0 + j]) : 0.0f;
    }
  }
}

template <int N, int kParts, class TS>
__global__ void __launch_bounds__(kChunkThreads, 4) wkv5_chunk_kernel(wkv5_params p, float* y_out) {
  __shared__ ChunkShared<N> sh;
  const int j0 = (int)blockIdx.x * ChunkShape<N>::VS, h = (int)blockIdx.y, s = (int)blockIdx.z;
  const size_t A = (size_t)p.H * N;
  copy_state_slice<N, TS>(p, sh, s, h, j0, false);
  const int row_end = p.batch.seq_start[s + 1];
  for (int row0 = p.batch.seq_start[s]; row0 < row_end; row0 += kL) {
    const int L = min(kL, row_end - row0);
    load_chunk<N>(p, sh, row0, L, h, j0);
    __syncthreads();  // 1: inputs (and, first time, S0) in shared memory
    decays_and_bonus<N>(p, sh, h);
    __syncthreads();  // 2: b and the bonus terms
    in_chunk_weights<N, kParts>(sh);
    __syncthreads();  // 3: A
    chunk_outputs<N, kParts>(sh, y_out, A, row0, L, h * N + j0);
    mma_frag_c next[2];
    next_state<N, kParts>(sh, next);
    __syncthreads();  // 4: every read of S0 and of the chunk's inputs done
    store_next_state<N>(sh, next);
  }
  __syncthreads();
  copy_state_slice<N, TS>(p, sh, s, h, j0, true);
}

// ---- GroupNorm and gate ----------------------------------------------------------------------

template <int N, class TO>
__global__ void __launch_bounds__(128) wkv5_group_norm_kernel(wkv5_params p, const float* __restrict__ y) {
  const int lane = (int)(threadIdx.x & 31);
  const long long pair = (long long)blockIdx.x * 4 + (threadIdx.x >> 5);
  if (pair >= (long long)p.batch.n_rows * p.H) return;  // a whole warp leaves; no block barrier follows
  const size_t A = (size_t)p.H * N, row = (size_t)(pair / p.H), h = (size_t)(pair % p.H);
  constexpr int kPer = kWarpHeadPer<N>;
  float val[kPer];
  for (int z = 0; z < kPer; ++z) {
    const int i = lane + 32 * z;
    val[z] = i < N ? y[row * A + h * N + i] : 0.0f;
  }
  warp_head_norm<N>(val, p.gn_eps);
  TO* __restrict__ out = static_cast<TO*>(p.out);
  for (int z = 0; z < kPer; ++z) {
    const int i = lane + 32 * z;
    if (i >= N) continue;
    const size_t c = h * N + i, at = row * A + c;
    float o = val[z] * p.ln_w[c] + p.ln_b[c];
    if (p.g) o *= p.g[at] * sigmoidf_(p.g[at]);
    out[at] = from_float<TO>(o);
  }
}

template <int N, int kParts>
cudaError_t launch_chunked(const wkv5_params& p, float* y, cudaStream_t stream) {
  const dim3 grid((unsigned)(N / ChunkShape<N>::VS), (unsigned)p.H, (unsigned)p.batch.n_seq);
  auto* chunk = p.state_dtype == rwkv::DType::bf16 ? wkv5_chunk_kernel<N, kParts, __nv_bfloat16>
                                                   : wkv5_chunk_kernel<N, kParts, float>;
  LAUNCH_KERNEL(chunk, grid, dim3(kChunkThreads), 0, stream, p, y);
  const cudaError_t err = launch_status();
  if (err != cudaSuccess) return err;
  const long long pairs = (long long)p.batch.n_rows * p.H;
  const dim3 grid_gn((unsigned)((pairs + 3) / 4));
  return dispatch_dtype(p.out_dtype, [&](auto tag) {
    using TO = typename decltype(tag)::type;
    auto* gn = wkv5_group_norm_kernel<N, TO>;
    LAUNCH_KERNEL(gn, grid_gn, dim3(128), 0, stream, p, static_cast<const float*>(y));
    return launch_status();
  });
}

// launch_chunked with p.split_parts (checked: 2 or 3) as its template argument.
template <int N>
cudaError_t launch_chunked_parts(const wkv5_params& p, float* y, cudaStream_t stream) {
  return p.split_parts == kSplitBf16Run ? launch_chunked<N, kSplitBf16Run>(p, y, stream)
                                        : launch_chunked<N, kSplitFp32>(p, y, stream);
}

}  // namespace

cudaError_t wkv5_chunked_forward(const wkv5_params& p, float* y_scratch, cudaStream_t stream) {
  if (p.batch.n_seq == 0) return cudaSuccess;
  if (p.H < 1 || !p.batch.seq_start || !p.batch.state || !p.r || !p.k || !p.v || !p.u || !p.ln_w || !p.ln_b ||
      !p.out || !p.decay || !y_scratch || p.decay_w2 || p.batch.n_rows < 1 ||
      (p.state_dtype != rwkv::DType::f32 && p.state_dtype != rwkv::DType::bf16) || !split_parts_valid(p.split_parts))
    return cudaErrorInvalidValue;
  switch (p.N) {
    case 8: return launch_chunked_parts<8>(p, y_scratch, stream);
    case 16: return launch_chunked_parts<16>(p, y_scratch, stream);
    case 32: return launch_chunked_parts<32>(p, y_scratch, stream);
    case 64: return launch_chunked_parts<64>(p, y_scratch, stream);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace rwkv_kernels
