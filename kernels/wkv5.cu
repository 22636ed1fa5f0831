// kernels/wkv5.cu: fused RWKV-5/6 time-mix core; see wkv5.cuh.
//
// Mirrors pip att_one_v5_1 / att_one_v6_0 and rwkv5.cu / rwkv6.cu (docs/rwkv-math.md
// 4.4, 4.6, 5.2, 5.5), per head, with the state S[key i][value j]:
//   y_j  = sum_i r_i * (u_i * k_i * v_j + S_ij)        (reads the OLD state)
//        = sum_i r_i S_ij + v_j * B,  B = sum_i r_i u_i k_i  (one head sum per token)
//   S_ij = w_i * S_ij + k_i * v_j                       (decay on the key index)
//   out  = GN_head(y; ln_x, 64e-5) [* silu(g)]
// v6 decays change per token: w = exp(-exp(time_decay + w_lora)). At decode (decay_w2 set) the
// kernel first computes w_lora = tanh(x_w decay_w1) decay_w2 of its channels itself (one fp32 dot
// product of Dd per channel and row, by the channel's thread, in kernels/gemv.cu's summation order,
// into shared memory), which saves the GEMV launch of decay_w2.
//
// Launch: grid (ceil(H / (64/N)), n_seq), block 64 threads = 64/N heads of N threads
// (__launch_bounds__(64, 8): at most 128 registers, 8+ blocks per SM). Thread t of a head
// (quad q = t / 4, rank g = t % 4) owns the N/4 x 4 tile of the head's state at key rows
// g*N/4 .. g*N/4 + N/4 - 1 and value columns 4q .. 4q+3: N fp32 registers, read once per call
// with N/4 independent 16-byte loads straight from the state buffer (4-byte loads when the state
// sits at an offset that is not 16-byte aligned) and written back the same way (a bf16 state,
// state_dtype: N/4 8-byte loads of 4 values, fp32 in registers, rounded on the store). Per token the
// thread reads its channel t of r, k, v, g (and w_lora), prefetched one token ahead, publishes
// r, k, w, v to shared memory (double-buffered by token parity), does 5N FLOPs on its tile
// (16-byte shared loads), and the quad's four partial y sums are reduce-scattered with three
// shuffles so thread t ends with y_t. B and the GroupNorm statistics are shuffles within the
// warp; a head of N = 64 spans two warps and exchanges each warp's partials through shared
// memory. Barriers per token: one __syncwarp for N <= 32, two __syncthreads for N = 64.
// Bytes per call: rows*C*4*(3 to 5: r, k, v, g from 5.1, w_lora in v6) read (at decode instead
//                 of w_lora: C*Dd*sizeof(out) decay_w2 + rows*Dd*sizeof(out) per block from L2)
//                 + rows*C*sizeof(out) written + n_seq*H*N*N*sizeof(state)*2 state read and written
//                 + C*4*4 parameters.
// FLOPs per call: about rows*H*(5*N*N + 30*N).
#include "kernels/wkv5.cuh"

#include "kernels/common/dtype_io.cuh"
#include "kernels/common/gemv_dot.cuh"
#include "kernels/common/head_reduce.cuh"
#include "kernels/common/kernel_errors.cuh"
#include "kernels/common/state_io.cuh"

namespace rwkv_kernels {

namespace {

constexpr int kWkv5Threads = 64;   // one block: 64 / N heads of N threads
constexpr int kWkv5MinBlocks = 8;  // blocks per SM the register budget must allow
constexpr int kWkv5Slots = 80;     // published r, k, w of the block's 64 channels, padded (key_slot)

// Per-token values published by each thread for its channel, [token parity][...].
struct Wkv5Shared {
  float r[2][kWkv5Slots], k[2][kWkv5Slots], w[2][kWkv5Slots];  // at key_slot
  float v[2][kWkv5Threads];                                     // at the thread
  float part[2];     // N = 64: each warp's part of B for the current token
  MeanM2 stats[2];   // N = 64: each warp's GroupNorm statistics of the current token
};

// Where key channel i of the head starting at `base` is published: the four quad ranks read
// rows N/4 apart, padded by 4 floats at N = 64 so that their 16-byte reads hit distinct banks.
template <int N>
__device__ __forceinline__ int key_slot(int base, int i) {
  constexpr int kRows = N / 4, kPad = N == 64 ? 4 : 0;
  return base + i + (i / kRows) * kPad;
}

// One token's inputs for one channel.
struct Wkv5Token {
  float r, k, v, g, w_lora;
};

__device__ __forceinline__ Wkv5Token load_token(const wkv5_params& p, size_t at) {
  const float* __restrict__ r = p.r;
  const float* __restrict__ k = p.k;
  const float* __restrict__ v = p.v;
  Wkv5Token t{r[at], k[at], v[at], 0.0f, 0.0f};
  if (p.g) {
    const float* __restrict__ g = p.g;
    t.g = g[at];
  }
  if (p.w_lora) {
    const float* __restrict__ w_lora = p.w_lora;
    t.w_lora = w_lora[at];
  }
  return t;
}

// v6 decode (p.decay_w2 set): this thread's channel c of w_lora for the rows row_begin..row_end-1
// (absolute rows < kWkv5MaxLoraRows) into w_rows[row][threadIdx.x], with the bits of the GEMV
// tanh(x_w decay_w1) decay_w2 it replaces: 16-byte loads when kernels/gemv.cu takes them.
template <class T>
__device__ __forceinline__ void decay_lora_rows(const wkv5_params& p, int row_begin, int row_end, int c,
                                                float (*w_rows)[kWkv5Threads]) {
  constexpr int kVec = 16 / (int)sizeof(T);
  const T* __restrict__ w = static_cast<const T*>(p.decay_w2) + (size_t)c * p.Dd;
  const T* __restrict__ act = static_cast<const T*>(p.lora_act);
  const bool vec = p.Dd % kVec == 0 && is_aligned16(p.decay_w2) && is_aligned16(p.lora_act);
  for (int row = row_begin; row < row_end; ++row) {
    const T* x = act + (size_t)row * p.Dd;
    w_rows[row][threadIdx.x] = vec ? gemv_ordered_dot<kVec>(w, x, p.Dd) : gemv_ordered_dot<1>(w, x, p.Dd);
  }
}

// The tile's update for one token: y[q] += sum over its rows of r_i * S_iq (old state), then
// S_iq = w_i * S_iq + k_i * v_q. r, k, w point at the first of its rows' published values.
template <int N>
__device__ __forceinline__ void update_tile(float (&st)[N], const float* r, const float* k, const float* w,
                                            float4 v4, float (&y)[4]) {
  constexpr int kRows = N / 4;
  float ri[kRows], ki[kRows], wi[kRows];
  if constexpr (kRows % 4 == 0) {
#pragma unroll
    for (int m = 0; m < kRows; m += 4) {
      const float4 r4 = shared_float4(r + m), k4 = shared_float4(k + m), w4 = shared_float4(w + m);
      ri[m] = r4.x, ri[m + 1] = r4.y, ri[m + 2] = r4.z, ri[m + 3] = r4.w;
      ki[m] = k4.x, ki[m + 1] = k4.y, ki[m + 2] = k4.z, ki[m + 3] = k4.w;
      wi[m] = w4.x, wi[m + 1] = w4.y, wi[m + 2] = w4.z, wi[m + 3] = w4.w;
    }
  } else {
#pragma unroll
    for (int m = 0; m < kRows; ++m) ri[m] = r[m], ki[m] = k[m], wi[m] = w[m];
  }
  const float v[4] = {v4.x, v4.y, v4.z, v4.w};
#pragma unroll
  for (int m = 0; m < kRows; ++m)
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      float& s = st[m * 4 + q];
      y[q] = fmaf(ri[m], s, y[q]);
      s = fmaf(wi[m], s, ki[m] * v[q]);
    }
}

// Sums y[0..3] over the quad's four lanes and leaves lane rank g with the total of column g:
// half the columns cross lanes 2 apart, then one column crosses lanes 1 apart (3 shuffles).
__device__ __forceinline__ float quad_reduce_scatter(const float (&y)[4], int g) {
  const bool hi = (g & 2) != 0, lo = (g & 1) != 0;
  float keep0 = hi ? y[2] : y[0], keep1 = hi ? y[3] : y[1];
  keep0 += __shfl_xor_sync(0xffffffffu, hi ? y[0] : y[2], 2);
  keep1 += __shfl_xor_sync(0xffffffffu, hi ? y[1] : y[3], 2);
  const float keep = lo ? keep1 : keep0;
  return keep + __shfl_xor_sync(0xffffffffu, lo ? keep0 : keep1, 1);
}

// TS: the state's element type (float, or __nv_bfloat16 for state_dtype bf16).
template <int N, class TO, class TS>
__global__ void __launch_bounds__(kWkv5Threads, kWkv5MinBlocks) wkv5_kernel(wkv5_params p) {
  __shared__ Wkv5Shared sh;
  constexpr int kHeads = kWkv5Threads / N, kRows = N / 4;
  const int t = threadIdx.x, i = t % N, base = t - i;  // base: the head's first thread
  const int quad = i / 4, rank = i % 4;
  const int h_block = blockIdx.x * kHeads + t / N;
  // A last block's spare heads compute on head H-1's inputs and a zero state and store nothing.
  const bool active = h_block < p.H;
  const int h = active ? h_block : p.H - 1, s = blockIdx.y;
  const int C = p.H * N, c = h * N + i;
  // v6 decode: each row's w_lora of this thread's channel, computed here (read by this thread only).
  __shared__ float w_lora_rows[kWkv5MaxLoraRows][kWkv5Threads];
  if (p.decay_w2) decay_lora_rows<TO>(p, p.batch.seq_start[s], p.batch.seq_start[s + 1], c, w_lora_rows);

  // This thread's tile: kRows rows of 4 floats, N floats apart.
  const size_t head_at = (size_t)h * N * N, tile_at = (size_t)rank * kRows * N + 4 * quad;  // in TS elements
  float st[N] = {};  // a spare head runs on zeros: it must not read a state another thread writes
  if (kHeads == 1 || active) {  // (N = 64: one head per block, never spare)
    const TS* __restrict__ S = state_piece<TS>(p.batch.state[s], p.kv_offset) + head_at;
    assume_global(S);
    const bool vec = is_aligned16(S);
#pragma unroll
    for (int m = 0; m < kRows; ++m) load_state<4>(S + tile_at + (size_t)m * N, st + 4 * m, vec);
  }
  const float decay = p.decay[c], u = p.u[c], ln_w = p.ln_w[c], ln_b = p.ln_b[c];
  TO* __restrict__ out = static_cast<TO*>(p.out);
  const int my_slot = key_slot<N>(base, i), tile_slot = key_slot<N>(base, rank * kRows);

  const int row_end = p.batch.seq_start[s + 1];
  int row = p.batch.seq_start[s];
  Wkv5Token cur = load_token(p, (size_t)row * C + c);
  for (int buf = 0; row < row_end; ++row, buf ^= 1) {
    const size_t at = (size_t)row * C + c;
    const Wkv5Token next = row + 1 < row_end ? load_token(p, at + C) : cur;  // in flight meanwhile
    sh.r[buf][my_slot] = cur.r;
    sh.k[buf][my_slot] = cur.k;
    if (p.decay_w2) cur.w_lora = w_lora_rows[row][t];
    sh.w[buf][my_slot] = p.w_lora || p.decay_w2 ? expf(-expf(decay + cur.w_lora)) : decay;
    sh.v[buf][t] = cur.v;
    float bonus = lane_group_sum<(N < 32 ? N : 32)>(cur.r * u * cur.k);  // B
    if constexpr (N <= 32) {
      __syncwarp();  // barrier 1 (of 1): the head's published values are visible to its warp
    } else {
      if ((t & 31) == 0) sh.part[t >> 5] = bonus;
      __syncthreads();  // barrier 1 (of 2): published values and both warps' parts of B
      bonus = sh.part[0] + sh.part[1];
    }
    float y4[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    update_tile<N>(st, sh.r[buf] + tile_slot, sh.k[buf] + tile_slot, sh.w[buf] + tile_slot,
                   shared_float4(sh.v[buf] + base + 4 * quad), y4);
    const float y = quad_reduce_scatter(y4, rank) + cur.v * bonus;  // y of channel i
    const MeanM2 gn = head_stats<N>(y, sh);  // N = 64: barrier 2 (of 2)
    float o = (y - gn.mean) * rsqrtf(gn.m2 * (1.0f / N) + p.gn_eps) * ln_w + ln_b;
    if (p.g) o *= cur.g * sigmoidf_(cur.g);
    if (active) out[at] = from_float<TO>(o);
    cur = next;
  }
  if (active) {  // the state pointer again: no registers held over the token loop
    TS* __restrict__ S = state_piece<TS>(p.batch.state[s], p.kv_offset) + head_at;
    assume_global(S);
    const bool vec = is_aligned16(S);
#pragma unroll
    for (int m = 0; m < kRows; ++m)
      store_state<4>(S + tile_at + (size_t)m * N, st + 4 * m, vec);
  }
}

template <int N>
cudaError_t launch_wkv5(const wkv5_params& p, cudaStream_t stream) {
  constexpr int kHeads = kWkv5Threads / N;
  const dim3 grid((unsigned)((p.H + kHeads - 1) / kHeads), (unsigned)p.batch.n_seq), block((unsigned)kWkv5Threads);
  return dispatch_dtype(p.out_dtype, [&](auto tag) {
    using TO = typename decltype(tag)::type;
    auto* k = p.state_dtype == rwkv::DType::bf16 ? wkv5_kernel<N, TO, __nv_bfloat16> : wkv5_kernel<N, TO, float>;
    LAUNCH_KERNEL(k, grid, block, 0, stream, p);
    return launch_status();
  });
}

}  // namespace

cudaError_t wkv5_forward(const wkv5_params& p, cudaStream_t stream) {
  if (p.batch.n_seq == 0) return cudaSuccess;
  if (p.H < 1 || !p.batch.seq_start || !p.batch.state || !p.r || !p.k || !p.v || !p.u ||
      !p.ln_w || !p.ln_b || !p.out || !p.decay ||
      (p.state_dtype != rwkv::DType::f32 && p.state_dtype != rwkv::DType::bf16))
    return cudaErrorInvalidValue;
  if (p.decay_w2 && (p.w_lora || !p.lora_act || p.Dd < 1 || p.batch.n_rows > kWkv5MaxLoraRows))
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
