// kernels/wkv4.cu: RWKV-4 WKV + receptance gate; see wkv4.cuh.
//
// Mirrors pip att_one / cuda_att_seq + operators.cu kernel_wkv_forward
// (docs/rwkv-math.md section 3.3), per channel, all fp32:
//   q = max(pp, u + k);  wkv = (e^(pp-q) aa + e^(u+k-q) v) / (e^(pp-q) bb + e^(u+k-q))
//   q' = max(pp + w, k); aa = e^(pp+w-q') aa + e^(k-q') v; bb = e^(pp+w-q') bb + e^(k-q'); pp = q'
//   out = sigmoid(r) * wkv
//
// Launch: grid (ceil(A / 256), n_seq), block 64 threads (__launch_bounds__(64, 8): at most 128
// registers, 8+ blocks per SM); no shared memory, no barriers. Thread (t, s) owns channels
// 4t .. 4t+3 of sequence s: their aa, bb, pp, w, u in registers for the whole sequence. When A,
// the three offsets and the input pointers allow it (the launcher checks; the state base is
// checked per sequence), the state and every per-token input move as one 16-byte access per
// array and thread, all issued before use, and the next token's r, k, v are in flight while the
// current token computes; otherwise the same with 4-byte accesses (and a partial last group).
// Bytes per call: rows*A*(3*4 + sizeof(out)) + n_seq*A*3*4*2 state + A*2*4 parameters.
// FLOPs per call: about 30*rows*A (four exponentials per token and channel).
#include "kernels/wkv4.cuh"

#include "kernels/common/dtype_io.cuh"
#include "kernels/common/head_reduce.cuh"
#include "kernels/common/kernel_errors.cuh"

namespace rwkv_kernels {

namespace {

constexpr int kWkv4Threads = 64;
constexpr int kWkv4MinBlocks = 8;
constexpr int kWkv4Chans = 4;  // channels per thread

// n (<= 4) consecutive floats; 16-byte load when vec (then n == 4), missing ones 0.
__device__ __forceinline__ void load4(const float* __restrict__ p, float (&o)[kWkv4Chans], int n, bool vec) {
  if (vec) {
    load_floats<kWkv4Chans>(p, o, true);
  } else {
#pragma unroll
    for (int e = 0; e < kWkv4Chans; ++e) o[e] = e < n ? p[e] : 0.0f;
  }
}

__device__ __forceinline__ void store4(float* __restrict__ p, const float (&in)[kWkv4Chans], int n, bool vec) {
  if (vec) {
    store_floats<kWkv4Chans>(p, in, true);
  } else {
#pragma unroll
    for (int e = 0; e < kWkv4Chans; ++e)
      if (e < n) p[e] = in[e];
  }
}

// One token's inputs for the thread's channels.
struct Wkv4Token {
  float r[kWkv4Chans], k[kWkv4Chans], v[kWkv4Chans];
};

template <bool kVec>
__device__ __forceinline__ void load_token(const wkv4_params& p, size_t at, int n, Wkv4Token& t) {
  load4(p.r + at, t.r, n, kVec);
  load4(p.k + at, t.k, n, kVec);
  load4(p.v + at, t.v, n, kVec);
}

// The state half of one token of one channel: (aa, bb, pp) takes token (k, v).
__device__ __forceinline__ void wkv4_advance(float k, float v, float w, float& aa, float& bb, float& pp) {
  const float ww = pp + w;
  const float q = fmaxf(ww, k);
  const float e1 = expf(ww - q);
  const float e2 = expf(k - q);
  aa = e1 * aa + e2 * v;
  bb = e1 * bb + e2;
  pp = q;
}

// One token of channel e: returns wkv and advances (aa, bb, pp).
__device__ __forceinline__ float wkv4_step(float k, float v, float w, float u, float& aa, float& bb, float& pp) {
  float ww = u + k;
  float q = fmaxf(pp, ww);
  float e1 = expf(pp - q), e2 = expf(ww - q);
  const float wkv = (e1 * aa + e2 * v) / (e1 * bb + e2);
  wkv4_advance(k, v, w, aa, bb, pp);
  return wkv;
}

// A token's kWkv4Chans outputs of this thread (n of them in range) at out.
template <bool kVec, class TO>
__device__ __forceinline__ void store_outputs(TO* __restrict__ out, const float (&o)[kWkv4Chans], int n) {
  if (kVec) {
    store_vec<kWkv4Chans>(out, o);
  } else {
#pragma unroll
    for (int e = 0; e < kWkv4Chans; ++e)
      if (e < n) out[e] = from_float<TO>(o[e]);
  }
}

// kVec: A and the three offsets are multiples of 4 and r, k, v, w, u, out 16-byte aligned.
template <class TO, bool kVec>
__global__ void __launch_bounds__(kWkv4Threads, kWkv4MinBlocks) wkv4_kernel(wkv4_params p) {
  const int c = (blockIdx.x * blockDim.x + threadIdx.x) * kWkv4Chans;
  const int s = blockIdx.y;
  if (c >= p.A) return;
  const int n = min(kWkv4Chans, p.A - c);
  float aa[kWkv4Chans], bb[kWkv4Chans], pp[kWkv4Chans], w[kWkv4Chans], u[kWkv4Chans];
  {
    const float* __restrict__ state = p.batch.state[s];
    assume_global(state);
    const bool vec = kVec && is_aligned16(state);
    load4(state + p.aa_offset + c, aa, n, vec);
    load4(state + p.bb_offset + c, bb, n, vec);
    load4(state + p.pp_offset + c, pp, n, vec);
  }
  load4(p.w + c, w, n, kVec);
  load4(p.u + c, u, n, kVec);
  TO* __restrict__ out = static_cast<TO*>(p.out);

  const int row_end = p.batch.seq_start[s + 1];
  int row = p.batch.seq_start[s];
  Wkv4Token cur;
  load_token<kVec>(p, (size_t)row * p.A + c, n, cur);
  for (; row < row_end; ++row) {
    const size_t at = (size_t)row * p.A + c;
    Wkv4Token next = cur;
    if (row + 1 < row_end) load_token<kVec>(p, at + p.A, n, next);  // in flight meanwhile
    float o[kWkv4Chans];
#pragma unroll
    for (int e = 0; e < kWkv4Chans; ++e)
      o[e] = sigmoidf_(cur.r[e]) * wkv4_step(cur.k[e], cur.v[e], w[e], u[e], aa[e], bb[e], pp[e]);
    store_outputs<kVec>(out + at, o, n);
    cur = next;
  }
  float* __restrict__ state = p.batch.state[s];  // again: no registers held over the token loop
  assume_global(state);
  const bool vec = kVec && is_aligned16(state);
  store4(state + p.aa_offset + c, aa, n, vec);
  store4(state + p.bb_offset + c, bb, n, vec);
  store4(state + p.pp_offset + c, pp, n, vec);
}


// ---- the chunked form (wkv4_forward_chunked) ----
//
// The round's rows are cut into blocks of L = chunk_rows rows (block b: rows bL .. bL+L-1, across
// sequence boundaries); a segment is one sequence's rows inside one block. Per channel, n more
// tokens of the recurrence above take a state (aa, bb, pp) to (w, the decay per token, is
// constant in v4)
//   q = max(pp + n w, p);  aa' = e^(pp+nw-q) aa + e^(p-q) a;  bb' = e^(pp+nw-q) bb + e^(p-q) b;  pp' = q
// where (a, b, p) is what the same tokens make of the empty state (aa = bb = 0, pp = -1e30): the
// sums of e^(k_s + (n-1-s) w) v_s and e^(k_s + (n-1-s) w) with their running maximum exponent
// p taken out (docs/rwkv-math.md section 3.3; every exponent above is <= 0, so nothing overflows).
// Scratch (chunk_state, [blocks][6][A] floats), per block b:
//   X[b]  (aa, bb, pp) of the segment that ends block b and whose sequence continues past it:
//         phase 1 writes its summary (a, b, p), phase 2 replaces it by the true state at row (b+1)L;
//   Y[b]  the slot state of a sequence that starts in block b and continues past it (phase 2
//         copies it there, so phase 3 never reads a slot that another thread writes).
//   phase 1  wkv4_chunk_summary  X[b] = the summary of block b's continuing segment
//   phase 2  wkv4_chunk_carry    per sequence, a scan of its block boundaries: X[b] = combine
//   phase 3  wkv4_chunk_output   every segment from its true start state, outputs as
//                                wkv4_kernel; a sequence's last segment writes the slot state
// Phase 3 runs every token with wkv4_step, as wkv4_kernel does; only the start states of the
// segments that continue a sequence differ from the sequential kernel's, by the rounding of
// pp + n w against n additions of w (and of the combine).

constexpr float kWkv4EmptyPp = -1e30f;  // pp of the empty state, as a new sequence's

// (aa, bb, pp) of one channel group.
struct Wkv4State {
  float aa[kWkv4Chans], bb[kWkv4Chans], pp[kWkv4Chans];
};

// One token's k, v for the thread's channels (phase 1 needs no r).
struct Wkv4KeyValue {
  float k[kWkv4Chans], v[kWkv4Chans];
};

template <bool kVec>
__device__ __forceinline__ void load_key_value(const wkv4_params& p, size_t at, int n, Wkv4KeyValue& t) {
  load4(p.k + at, t.k, n, kVec);
  load4(p.v + at, t.v, n, kVec);
}

// A state at base with its three planes at the offsets.
__device__ __forceinline__ void load_state(const float* __restrict__ base, size_t aa, size_t bb, size_t pp, int n,
                                           bool vec, Wkv4State& st) {
  load4(base + aa, st.aa, n, vec);
  load4(base + bb, st.bb, n, vec);
  load4(base + pp, st.pp, n, vec);
}

__device__ __forceinline__ void store_state(float* __restrict__ base, size_t aa, size_t bb, size_t pp, int n,
                                            bool vec, const Wkv4State& st) {
  store4(base + aa, st.aa, n, vec);
  store4(base + bb, st.bb, n, vec);
  store4(base + pp, st.pp, n, vec);
}

// Triple X (which = 0) or Y (1) of block blk, at channel c: planes aa, bb, pp A floats apart.
__device__ __forceinline__ float* scratch_at(const wkv4_params& p, int blk, int which, int c) {
  return p.chunk_state + ((size_t)blk * 6 + (size_t)which * 3) * (size_t)p.A + (size_t)c;
}

__device__ __forceinline__ void load_scratch(const wkv4_params& p, int blk, int which, int c, int n, bool vec,
                                             Wkv4State& st) {
  const size_t A = (size_t)p.A;
  load_state(scratch_at(p, blk, which, c), 0, A, 2 * A, n, vec, st);
}

__device__ __forceinline__ void store_scratch(const wkv4_params& p, int blk, int which, int c, int n, bool vec,
                                              const Wkv4State& st) {
  const size_t A = (size_t)p.A;
  store_state(scratch_at(p, blk, which, c), 0, A, 2 * A, n, vec, st);
}

// Sequence s's slot state at channel c (16-byte accesses when kVec and the slot allows them).
template <bool kVec>
__device__ __forceinline__ void load_slot(const wkv4_params& p, int s, int c, int n, Wkv4State& st) {
  const float* __restrict__ slot = p.batch.state[s];
  assume_global(slot);
  load_state(slot + c, p.aa_offset, p.bb_offset, p.pp_offset, n, kVec && is_aligned16(slot), st);
}

template <bool kVec>
__device__ __forceinline__ void store_slot(const wkv4_params& p, int s, int c, int n, const Wkv4State& st) {
  float* __restrict__ slot = p.batch.state[s];
  assume_global(slot);
  store_state(slot + c, p.aa_offset, p.bb_offset, p.pp_offset, n, kVec && is_aligned16(slot), st);
}

// (aa, bb, pp) followed by tokens whose summary from the empty state is (a, b, p); n_w: their
// count times w.
__device__ __forceinline__ void wkv4_combine(float n_w, float a, float b, float p, float& aa, float& bb, float& pp) {
  const float ww = pp + n_w;
  const float q = fmaxf(ww, p);
  const float e1 = expf(ww - q);
  const float e2 = expf(p - q);
  aa = e1 * aa + e2 * a;
  bb = e1 * bb + e2 * b;
  pp = q;
}

// Phase 1. Launch: grid (ceil(A / 256), blocks), block 64 threads (__launch_bounds__(64, 8)), no
// shared memory, no barriers. Thread (t, b) owns channels 4t .. 4t+3 of block b's continuing
// segment, if the block has one: up to L tokens of the state half of the recurrence from the empty
// state, the next token's k, v in flight meanwhile. Bytes: at most rows*A*2*4 (k, v) +
// blocks*A*3*4 (X) + A*4 (w); FLOPs about 12 per row and channel.
template <bool kVec>
__global__ void __launch_bounds__(kWkv4Threads, kWkv4MinBlocks) wkv4_chunk_summary(wkv4_params p) {
  const int c = (blockIdx.x * blockDim.x + threadIdx.x) * kWkv4Chans;
  const int blk = blockIdx.y;
  if (c >= p.A) return;
  const int row_begin = blk * p.chunk_rows, row_end = min(row_begin + p.chunk_rows, p.batch.n_rows);
  const int s = p.batch.row_seq[row_end - 1];
  if (p.batch.seq_start[s + 1] <= row_end) return;  // no sequence continues past this block
  const int n = min(kWkv4Chans, p.A - c);
  float w[kWkv4Chans];
  load4(p.w + c, w, n, kVec);
  Wkv4State st;
#pragma unroll
  for (int e = 0; e < kWkv4Chans; ++e) {
    st.aa[e] = 0.0f;
    st.bb[e] = 0.0f;
    st.pp[e] = kWkv4EmptyPp;
  }
  int row = max(p.batch.seq_start[s], row_begin);
  Wkv4KeyValue cur;
  load_key_value<kVec>(p, (size_t)row * p.A + c, n, cur);
  for (; row < row_end; ++row) {
    Wkv4KeyValue next = cur;
    if (row + 1 < row_end) load_key_value<kVec>(p, (size_t)(row + 1) * p.A + c, n, next);  // in flight meanwhile
#pragma unroll
    for (int e = 0; e < kWkv4Chans; ++e) wkv4_advance(cur.k[e], cur.v[e], w[e], st.aa[e], st.bb[e], st.pp[e]);
    cur = next;
  }
  store_scratch(p, blk, 0, c, n, kVec, st);
}

// Phase 2. Launch: grid (ceil(A / 256), n_seq), block 64 threads, no shared memory, no barriers.
// Thread (t, s) owns channels 4t .. 4t+3 of sequence s; when s spans several blocks, it copies the
// slot state to Y[its first block] and walks its block boundaries in order, X[b] = combine(state,
// X[b]), the next X in flight meanwhile. Bytes: n_seq*A*3*4*2 (slot, Y) + blocks*A*3*4*2 (X read
// and written) + A*4; FLOPs about 12 per block and channel.
template <bool kVec>
__global__ void __launch_bounds__(kWkv4Threads, kWkv4MinBlocks) wkv4_chunk_carry(wkv4_params p) {
  const int c = (blockIdx.x * blockDim.x + threadIdx.x) * kWkv4Chans;
  const int s = blockIdx.y;
  if (c >= p.A) return;
  const int L = p.chunk_rows;
  const int seq_begin = p.batch.seq_start[s], seq_end = p.batch.seq_start[s + 1];
  const int blk_first = seq_begin / L, blk_last = (seq_end - 1) / L;
  if (blk_first == blk_last) return;  // phase 3 reads and writes its slot in one thread
  const int n = min(kWkv4Chans, p.A - c);
  Wkv4State st, x;
  load_slot<kVec>(p, s, c, n, st);
  load_scratch(p, blk_first, 0, c, n, kVec, x);
  store_scratch(p, blk_first, 1, c, n, kVec, st);
  float w[kWkv4Chans];
  load4(p.w + c, w, n, kVec);
  for (int blk = blk_first; blk < blk_last; ++blk) {
    Wkv4State next = x;
    if (blk + 1 < blk_last) load_scratch(p, blk + 1, 0, c, n, kVec, next);  // in flight meanwhile
    const float seg_rows = (float)((blk + 1) * L - max(seq_begin, blk * L));
#pragma unroll
    for (int e = 0; e < kWkv4Chans; ++e)
      wkv4_combine(seg_rows * w[e], x.aa[e], x.bb[e], x.pp[e], st.aa[e], st.bb[e], st.pp[e]);
    store_scratch(p, blk, 0, c, n, kVec, st);
    x = next;
  }
}

// Phase 3. Launch: grid (ceil(A / 256), blocks), block 64 threads, no shared memory, no barriers.
// Thread (t, b) owns channels 4t .. 4t+3 of block b's rows, segment after segment: the start state
// from X[b-1] (a sequence continued from block b-1), Y[b] (a sequence that starts here and
// continues) or the slot (a sequence wholly inside the block), then every token as wkv4_kernel
// (the next token's r, k, v in flight meanwhile); a segment that ends its sequence stores the
// state to the slot. Bytes: rows*A*(3*4 + sizeof(out)) + (blocks + n_seq)*A*3*4 (start states)
// + n_seq*A*3*4 (final states) + A*2*4; FLOPs about 30*rows*A.
template <class TO, bool kVec>
__global__ void __launch_bounds__(kWkv4Threads, kWkv4MinBlocks) wkv4_chunk_output(wkv4_params p) {
  const int c = (blockIdx.x * blockDim.x + threadIdx.x) * kWkv4Chans;
  const int blk = blockIdx.y;
  if (c >= p.A) return;
  const int n = min(kWkv4Chans, p.A - c);
  const int row_begin = blk * p.chunk_rows, row_end = min(row_begin + p.chunk_rows, p.batch.n_rows);
  float w[kWkv4Chans], u[kWkv4Chans];
  load4(p.w + c, w, n, kVec);
  load4(p.u + c, u, n, kVec);
  TO* __restrict__ out = static_cast<TO*>(p.out);
  Wkv4Token cur;
  load_token<kVec>(p, (size_t)row_begin * p.A + c, n, cur);
  for (int row = row_begin; row < row_end;) {
    const int s = p.batch.row_seq[row];
    const int seq_begin = p.batch.seq_start[s], seq_end = p.batch.seq_start[s + 1];
    const int seg_end = min(seq_end, row_end);
    Wkv4State st;
    if (seq_begin < row_begin)
      load_scratch(p, blk - 1, 0, c, n, kVec, st);
    else if (seq_end > row_end)
      load_scratch(p, blk, 1, c, n, kVec, st);
    else
      load_slot<kVec>(p, s, c, n, st);
    for (; row < seg_end; ++row) {
      const size_t at = (size_t)row * p.A + c;
      Wkv4Token next = cur;
      if (row + 1 < row_end) load_token<kVec>(p, at + p.A, n, next);  // in flight meanwhile
      float o[kWkv4Chans];
#pragma unroll
      for (int e = 0; e < kWkv4Chans; ++e)
        o[e] = sigmoidf_(cur.r[e]) * wkv4_step(cur.k[e], cur.v[e], w[e], u[e], st.aa[e], st.bb[e], st.pp[e]);
      store_outputs<kVec>(out + at, o, n);
      cur = next;
    }
    if (seq_end == seg_end) store_slot<kVec>(p, s, c, n, st);
  }
}

bool wkv4_vector_path(const wkv4_params& p) {
  return p.A % kWkv4Chans == 0 && p.aa_offset % kWkv4Chans == 0 && p.bb_offset % kWkv4Chans == 0 &&
         p.pp_offset % kWkv4Chans == 0 && aligned16(p.r) && aligned16(p.k) && aligned16(p.v) && aligned16(p.w) &&
         aligned16(p.u) && aligned16(p.out);
}

bool wkv4_valid(const wkv4_params& p) {
  return p.A >= 1 && p.batch.seq_start && p.batch.state && p.r && p.k && p.v && p.w && p.u && p.out;
}

}  // namespace

cudaError_t wkv4_forward(const wkv4_params& p, cudaStream_t stream) {
  if (p.batch.n_seq == 0) return cudaSuccess;
  if (!wkv4_valid(p)) return cudaErrorInvalidValue;
  constexpr int kChansPerBlock = kWkv4Threads * kWkv4Chans;
  const dim3 grid((unsigned)((p.A + kChansPerBlock - 1) / kChansPerBlock), (unsigned)p.batch.n_seq);
  const bool vec = wkv4_vector_path(p);
  return dispatch_dtype(p.out_dtype, [&](auto tag) {
    using TO = typename decltype(tag)::type;
    auto* k = vec ? wkv4_kernel<TO, true> : wkv4_kernel<TO, false>;
    LAUNCH_KERNEL(k, grid, dim3(kWkv4Threads), 0, stream, p);
    return launch_status();
  });
}

cudaError_t wkv4_forward_chunked(const wkv4_params& p, cudaStream_t stream) {
  if (p.batch.n_seq == 0) return cudaSuccess;
  if (!wkv4_valid(p) || !p.batch.row_seq || p.batch.n_rows < p.batch.n_seq || p.chunk_rows < 1 || !p.chunk_state)
    return cudaErrorInvalidValue;
  const int blocks = (p.batch.n_rows + p.chunk_rows - 1) / p.chunk_rows;
  if (blocks > 65535 || p.chunk_state_floats < wkv4_chunk_state_floats(p.batch.n_rows, p.A, p.chunk_rows))
    return cudaErrorInvalidValue;
  constexpr int kChansPerBlock = kWkv4Threads * kWkv4Chans;
  const unsigned groups = (unsigned)((p.A + kChansPerBlock - 1) / kChansPerBlock);
  const bool vec = wkv4_vector_path(p) && aligned16(p.chunk_state);
  auto* summary = vec ? wkv4_chunk_summary<true> : wkv4_chunk_summary<false>;
  LAUNCH_KERNEL(summary, dim3(groups, (unsigned)blocks), dim3(kWkv4Threads), 0, stream, p);
  if (cudaError_t e = launch_status(); e != cudaSuccess) return e;
  auto* carry = vec ? wkv4_chunk_carry<true> : wkv4_chunk_carry<false>;
  LAUNCH_KERNEL(carry, dim3(groups, (unsigned)p.batch.n_seq), dim3(kWkv4Threads), 0, stream, p);
  if (cudaError_t e = launch_status(); e != cudaSuccess) return e;
  return dispatch_dtype(p.out_dtype, [&](auto tag) {
    using TO = typename decltype(tag)::type;
    auto* k = vec ? wkv4_chunk_output<TO, true> : wkv4_chunk_output<TO, false>;
    LAUNCH_KERNEL(k, dim3(groups, (unsigned)blocks), dim3(kWkv4Threads), 0, stream, p);
    return launch_status();
  });
}

}  // namespace rwkv_kernels
