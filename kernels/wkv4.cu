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

// One token of channel e: returns wkv and advances (aa, bb, pp).
__device__ __forceinline__ float wkv4_step(float k, float v, float w, float u, float& aa, float& bb, float& pp) {
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
  return wkv;
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
    if (kVec) {
      store_vec<kWkv4Chans>(out + at, o);
    } else {
#pragma unroll
      for (int e = 0; e < kWkv4Chans; ++e)
        if (e < n) out[at + e] = from_float<TO>(o[e]);
    }
    cur = next;
  }
  float* __restrict__ state = p.batch.state[s];  // again: no registers held over the token loop
  assume_global(state);
  const bool vec = kVec && is_aligned16(state);
  store4(state + p.aa_offset + c, aa, n, vec);
  store4(state + p.bb_offset + c, bb, n, vec);
  store4(state + p.pp_offset + c, pp, n, vec);
}

bool wkv4_vector_path(const wkv4_params& p) {
  return p.A % kWkv4Chans == 0 && p.aa_offset % kWkv4Chans == 0 && p.bb_offset % kWkv4Chans == 0 &&
         p.pp_offset % kWkv4Chans == 0 && aligned16(p.r) && aligned16(p.k) && aligned16(p.v) && aligned16(p.w) &&
         aligned16(p.u) && aligned16(p.out);
}

}  // namespace

cudaError_t wkv4_forward(const wkv4_params& p, cudaStream_t stream) {
  if (p.batch.n_seq == 0) return cudaSuccess;
  if (p.A < 1 || !p.batch.seq_start || !p.batch.state || !p.r || !p.k || !p.v || !p.w || !p.u || !p.out)
    return cudaErrorInvalidValue;
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

}  // namespace rwkv_kernels
