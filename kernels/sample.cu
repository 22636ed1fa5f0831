// kernels/sample.cu: the sampler on the device; semantics and the rounding notes in sample.cuh.
//
// Mirrors runtime/sampler/sampler.cpp (bans, penalties, stop tokens), sample_logits.cpp (softmax,
// nucleus, top_k, temperature, the draw) and rng.h (xoshiro256**) for docs/rwkv-math.md section 8.
#include "kernels/sample.cuh"

#include "kernels/common/cuda_compat.cuh"
#include "kernels/common/kernel_errors.cuh"

namespace rwkv_kernels {
namespace {

constexpr int kThreads = 512;          // one block per sequence
constexpr int kWarps = kThreads / 32;
constexpr int kUnroll = 4;             // elements a thread loads at once in the radix and gather passes
constexpr int kCap = 4096;             // elements per sorted chunk of the nucleus walk (32 KiB of keys)
constexpr float kInf = __builtin_huge_valf();

// What the block shares: the sorted chunk, the radix histogram, reduction scratch, the walk.
struct SampleShared {
  uint64_t keys[kCap];  // (fp32 bits of p) << 32 | id, sorted descending
  int hist[256];
  double red_d[kWarps];
  float red_f[kWarps];
  int red_i[kWarps];
  int sel_digit, sel_rank, sel_count;  // radix select: chosen digit, rank within it, its count
  int count;                           // chunk gather slots
  float c, cutoff;                     // fp32 running sum, the nucleus cutoff
  uint64_t key_k;                      // key at position top_k - 1
  int pos, cut_done, key_done, id_rank;
  double u;                            // the draw's uniform number
};

// Double arithmetic that nvcc may not contract into a fused multiply-add (the CPU rounds twice).
__device__ __forceinline__ double mul_rn(double a, double b) {
#if RWKV_EMULATED
  return a * b;
#else
  return __dmul_rn(a, b);
#endif
}
__device__ __forceinline__ double add_rn(double a, double b) {
#if RWKV_EMULATED
  return a + b;
#else
  return __dadd_rn(a, b);
#endif
}

// exp of an fp32 argument as close as possible to the CPU's std::exp(float) (see sample.cuh).
__device__ __forceinline__ float exp_like_host(float x) {
#if RWKV_EMULATED
  return expf(x);
#else
  return (float)exp((double)x);
#endif
}

__device__ __forceinline__ uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

// Rng::uniform of runtime/sampler/rng.h: one xoshiro256** step, 53 bits.
__device__ double next_uniform(uint64_t* s) {
  const uint64_t result = rotl64(s[1] * 5, 7) * 9;
  const uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl64(s[3], 45);
  return (double)(result >> 11) * 0x1.0p-53;
}

struct MaxOp {
  __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};
struct SumOp {
  __device__ double operator()(double a, double b) const { return a + b; }
};
struct OrOp {
  __device__ int operator()(int a, int b) const { return a | b; }
};
struct MinOp {
  __device__ int operator()(int a, int b) const { return a < b ? a : b; }
};
struct MaxIntOp {
  __device__ int operator()(int a, int b) const { return a > b ? a : b; }
};

// Reduction over the block in a fixed order (warp butterflies, then the warps' partials in
// order); every thread gets the result. All kThreads threads must call it.
template <class T, class Op>
__device__ T block_reduce(T v, T* scratch, Op op) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = v;
  __syncthreads();
  T t = scratch[0];
  for (int w = 1; w < kWarps; ++w) t = op(t, scratch[w]);
  __syncthreads();
  return t;
}

// Exclusive prefix sum of v over the threads in order; *total gets the sum of all.
__device__ double block_exclusive_sum(double v, double* scratch, double* total) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  double incl = v;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const double n = __shfl_up_sync(0xffffffffu, incl, o);
    if (lane >= o) incl += n;
  }
  double excl = __shfl_up_sync(0xffffffffu, incl, 1);
  if (lane == 0) excl = 0;
  if (lane == 31) scratch[warp] = incl;
  __syncthreads();
  double before = 0, all = 0;
  for (int w = 0; w < kWarps; ++w) {
    if (w < warp) before += scratch[w];
    all += scratch[w];
  }
  __syncthreads();
  *total = all;
  return before + excl;
}

// Radix-select keys: the fp32 bits of p of the elements below `upper`, or the ids of the
// elements whose bits equal `value`.
struct ValueKey {
  const float* row;
  uint32_t upper;
  __device__ bool operator()(int i, uint32_t* key) const {
    *key = __float_as_uint(row[i]);
    return *key < upper;
  }
};
struct IdKey {
  const float* row;
  uint32_t value;
  __device__ bool operator()(int i, uint32_t* key) const {
    *key = (uint32_t)i;
    return __float_as_uint(row[i]) == value;
  }
};

// Warp 0: the digit of the rank-th largest key among the histogram's bins (lane l scans bins
// 255 - 8l down to 248 - 8l), the rank left within that digit and the digit's count.
__device__ void pick_digit(SampleShared& sh, int rank) {
  const int lane = threadIdx.x;
  int s = 0;
  for (int j = 0; j < 8; ++j) s += sh.hist[255 - 8 * lane - j];
  int incl = s;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const int n = __shfl_up_sync(0xffffffffu, incl, o);
    if (lane >= o) incl += n;
  }
  int acc = incl - s;
  if (acc < rank && rank <= incl) {
    for (int j = 0; j < 8; ++j) {
      const int d = 255 - 8 * lane - j;
      if (acc + sh.hist[d] >= rank) {
        sh.sel_digit = d;
        sh.sel_rank = rank - acc;
        sh.sel_count = sh.hist[d];
        break;
      }
      acc += sh.hist[d];
    }
  }
}

// Adds the lane's digit to the histogram (when `in`); all 32 lanes call it. The lanes holding the
// first counted lane's digit add it in one atomic: on nearly flat distributions every key shares
// its top digits, and 32 atomics on one shared address serialise (first light on an H200: the
// sampler took ~5.9 ms a step on 65,536 flat logits).
__device__ __forceinline__ void count_digit(int* hist, bool in, int digit) {
  const int lane = (int)(threadIdx.x & 31);
  const unsigned counted = __ballot_sync(0xffffffffu, in);
  if (counted == 0) return;  // (uniform over the warp)
  const int first = __ffs((int)counted) - 1;
  const int lead = __shfl_sync(0xffffffffu, digit, first);
  const unsigned same = __ballot_sync(0xffffffffu, in && digit == lead);
  if (lane == first) atomicAdd(&hist[lead], __popc(same));
  if (in && digit != lead) atomicAdd(&hist[digit], 1);
}

// The want-th largest key (1-based; want <= the number of keys in the set), by 8-bit digits from
// the top. *n_greater: keys in the set above it; *n_equal: keys equal to it.
template <class KeyFn>
__device__ uint32_t radix_select(KeyFn key_of, int V, int want, SampleShared& sh, int* n_greater,
                                 int* n_equal) {
  uint32_t prefix = 0, mask = 0;
  int rank = want;
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int d = threadIdx.x; d < 256; d += kThreads) sh.hist[d] = 0;
    __syncthreads();
    // Uniform trip count (whole warps reach the ballots); kUnroll independent loads in flight.
    for (int i0 = 0; i0 < V; i0 += kUnroll * kThreads) {
      uint32_t k[kUnroll];
      bool in[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int i = i0 + u * kThreads + (int)threadIdx.x;
        k[u] = 0;
        in[u] = i < V && key_of(i, &k[u]) && (k[u] & mask) == prefix;
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) count_digit(sh.hist, in[u], (int)((k[u] >> shift) & 255));
    }
    __syncthreads();
    if (threadIdx.x < 32) pick_digit(sh, rank);
    __syncthreads();
    prefix |= (uint32_t)sh.sel_digit << shift;
    mask |= 255u << shift;
    rank = sh.sel_rank;
  }
  *n_greater = want - rank;
  *n_equal = sh.sel_count;
  return prefix;
}

// sh.keys[0, n) = the elements with lower <= bits < upper, sorted by key descending (bitonic
// sort of the next power of two, padded with zero keys that sort last).
__device__ void gather_sorted(const float* row, int V, uint32_t lower, uint32_t upper, int n,
                              SampleShared& sh) {
  if (threadIdx.x == 0) sh.count = 0;
  __syncthreads();
  const int lane = (int)(threadIdx.x & 31);
  for (int i0 = 0; i0 < V; i0 += kUnroll * kThreads) {  // one atomic a warp: slots in lane order
    uint32_t b[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int i = i0 + u * kThreads + (int)threadIdx.x;
      b[u] = i < V ? __float_as_uint(row[i]) : 0u;
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int i = i0 + u * kThreads + (int)threadIdx.x;
      const bool in = i < V && b[u] >= lower && b[u] < upper;
      const unsigned taken = __ballot_sync(0xffffffffu, in);
      int base = 0;
      if (lane == 0 && taken != 0) base = atomicAdd(&sh.count, __popc(taken));
      base = __shfl_sync(0xffffffffu, base, 0);
      const int slot = base + __popc(taken & ((1u << lane) - 1u));
      if (in && slot < kCap) sh.keys[slot] = ((uint64_t)b[u] << 32) | (uint32_t)i;
    }
  }
  int n2 = 2;
  while (n2 < n) n2 <<= 1;
  for (int j = n + threadIdx.x; j < n2; j += kThreads) sh.keys[j] = 0;
  __syncthreads();
  for (int k = 2; k <= n2; k <<= 1) {
    for (int j = k >> 1; j > 0; j >>= 1) {
      for (int t = threadIdx.x; t < n2 / 2; t += kThreads) {
        const int i = 2 * j * (t / j) + (t % j);
        const uint64_t a = sh.keys[i], b = sh.keys[i + j];
        const bool descending = (i & k) == 0;
        if ((a < b) == descending) {
          sh.keys[i] = b;
          sh.keys[i + j] = a;
        }
      }
      __syncthreads();
    }
  }
}

// Thread 0's walk, in registers while it runs (the shared fields between chunks).
struct WalkState {
  float c, cutoff;
  uint64_t key_k;
  int pos, cut_done, key_done;
};
__device__ __forceinline__ WalkState walk_get(const SampleShared& sh) {
  return {sh.c, sh.cutoff, sh.key_k, sh.pos, sh.cut_done, sh.key_done};
}
__device__ __forceinline__ void walk_put(SampleShared& sh, const WalkState& w) {
  sh.c = w.c;
  sh.cutoff = w.cutoff;
  sh.key_k = w.key_k;
  sh.pos = w.pos;
  sh.cut_done = w.cut_done;
  sh.key_done = w.key_done;
}

// Thread 0: one element of value pf (key `key`) at the next position of the order: the fp32
// running sum (stops when it reaches top_p, or when adding changes nothing, so that it never
// will), and the key at position top_k - 1.
__device__ __forceinline__ void walk_one(WalkState& w, float pf, uint64_t key, float top_p, int top_k) {
  if (!w.cut_done) {
    const float c2 = w.c + pf;
    if (c2 == w.c) {
      w.cut_done = 1;  // no position reaches top_p: the cutoff stays p_max
    } else {
      w.c = c2;
      if (c2 >= top_p) {
        w.cutoff = pf;
        w.cut_done = 1;
      }
    }
  }
  if (!w.key_done && w.pos == top_k - 1) {
    w.key_k = key;
    w.key_done = 1;
  }
  ++w.pos;
}

// One chunk of the walk: the elements with bits in [lower, upper) when they fit in kCap keys,
// else a run of `equal` elements all of value `v` (ordered by id, descending). Returns lower.
__device__ uint32_t walk_chunk(const float* row, int V, uint32_t upper, int remaining, float top_p,
                               int top_k, SampleShared& sh, int* taken) {
  int greater, equal;
  const uint32_t v = radix_select(ValueKey{row, upper}, V, remaining < kCap ? remaining : kCap, sh,
                                  &greater, &equal);
  if (greater + equal <= kCap || greater > 0) {
    const bool with_v = greater + equal <= kCap;
    const int n = with_v ? greater + equal : greater;
    const uint32_t lower = with_v ? v : v + 1;
    gather_sorted(row, V, lower, upper, n, sh);
    if (threadIdx.x == 0) {
      WalkState w = walk_get(sh);
      for (int j = 0; j < n && !(w.cut_done && w.key_done); ++j)
        walk_one(w, __uint_as_float((uint32_t)(sh.keys[j] >> 32)), sh.keys[j], top_p, top_k);
      walk_put(sh, w);
    }
    __syncthreads();
    *taken = n;
    return lower;
  }
  // More than kCap elements share the largest value left: their order is by id alone.
  if (threadIdx.x == 0) {
    sh.id_rank = 0;
    if (!sh.key_done && sh.pos + equal > top_k - 1) sh.id_rank = top_k - sh.pos;
    const float pf = __uint_as_float(v);
    WalkState w = walk_get(sh);
    const int start = w.pos;
    for (int j = 0; j < equal && !w.cut_done; ++j) walk_one(w, pf, 0, top_p, 0);
    w.pos = start + equal;
    walk_put(sh, w);
  }
  __syncthreads();
  if (sh.id_rank > 0) {
    int g, e;
    const uint32_t id = radix_select(IdKey{row, v}, V, sh.id_rank, sh, &g, &e);
    if (threadIdx.x == 0) {
      sh.key_k = ((uint64_t)v << 32) | id;
      sh.key_done = 1;
    }
  }
  __syncthreads();
  *taken = equal;
  return v;
}

// The nucleus cutoff and the top_k key (sample.cuh step 3), into sh.cutoff and sh.key_k.
__device__ void find_cutoff(const float* row, int V, float p_max, float top_p, int top_k,
                            SampleShared& sh) {
  if (threadIdx.x == 0) {
    sh.c = 0;
    sh.cutoff = p_max;
    sh.key_k = 0;
    sh.pos = 0;
    // Position 0 alone reaches top_p when p_max >= top_p: the cutoff is p_max.
    sh.cut_done = p_max >= top_p;
    sh.key_done = top_k <= 0;
  }
  __syncthreads();
  uint32_t upper = 0xffffffffu;
  int remaining = V;
  while (!(sh.cut_done && sh.key_done) && remaining > 0) {
    int taken = 0;
    upper = walk_chunk(row, V, upper, remaining, top_p, top_k, sh, &taken);
    remaining -= taken;
  }
}

// Steps 1-2: bans, penalties, softmax; the row ends as p. Returns p_max, or -1 for bad logits.
__device__ float softmax_row(float* row, const uint8_t* flags, const double* counts, const sample_slot& st,
                             int V, SampleShared& sh) {
  float m = -kInf;
  int bad = 0;
  for (int i = threadIdx.x; i < V; i += kThreads) {
    float l = row[i];
    const uint8_t f = flags[i];
    if (f & kSampleBanned) {
      l = -kInf;
    } else if (f & kSampleCounted) {
      l -= (float)add_rn(st.alpha_presence, mul_rn(counts[i], st.alpha_frequency));
    }
    row[i] = l;
    bad |= l != l || l == kInf;
    m = fmaxf(m, l);
  }
  m = block_reduce(m, sh.red_f, MaxOp());
  bad = block_reduce(bad, sh.red_i, OrOp());
  if (bad || m == -kInf) return -1.0f;
  double sum = 0;
  for (int i = threadIdx.x; i < V; i += kThreads) {
    const float e = exp_like_host(row[i] - m);
    row[i] = e;
    sum += e;
  }
  sum = block_reduce(sum, sh.red_d, SumOp());
  for (int i = threadIdx.x; i < V; i += kThreads) row[i] = (float)(row[i] / sum);
  __syncthreads();
  return (float)(1.0 / sum);  // exp(0) = 1 at the largest logit
}

// The weight of element i in the draw (step 3-4 before normalisation).
struct KeptWeight {
  float cutoff;
  uint64_t key_k;
  bool top_k;
  double p_max, inv_t;
  bool t_is_1;
  __device__ double operator()(const float* row, int i) const {
    const float p = row[i];
    if (!(p >= cutoff)) return 0;
    if (top_k && ((((uint64_t)__float_as_uint(p)) << 32) | (uint32_t)i) < key_k) return 0;
    return t_is_1 ? (double)p : pow((double)p / p_max, inv_t);
  }
};

// Step 4: the id drawn from the kept weights, with the slot's random stream.
__device__ int draw_token(const float* row, int V, const KeptWeight& q, sample_slot& st, SampleShared& sh) {
  double total = 0;
  for (int i = threadIdx.x; i < V; i += kThreads) total += q(row, i);
  total = block_reduce(total, sh.red_d, SumOp());
  if (threadIdx.x == 0) sh.u = next_uniform(st.rng);
  // Contiguous ranges per thread, so the running sum goes in id order as the CPU's does.
  const int per = (V + kThreads - 1) / kThreads;
  const int t = (int)threadIdx.x;
  const int begin = t * per < V ? t * per : V;
  const int end = begin + per < V ? begin + per : V;
  double local = 0;
  for (int i = begin; i < end; ++i) local += q(row, i) / total;
  double norm_total = 0;
  double c = block_exclusive_sum(local, sh.red_d, &norm_total);
  const double target = sh.u * norm_total;
  int found = V, last = -1;
  for (int i = begin; i < end; ++i) {
    const double w = q(row, i) / total;
    if (w <= 0) continue;
    c += w;
    last = i;
    if (target < c) {
      found = i;
      break;
    }
  }
  found = block_reduce(found, sh.red_i, MinOp());
  last = block_reduce(last, sh.red_i, MaxIntOp());
  return found < V ? found : last;  // rounding left target at the very end: the last kept id
}

// Step 5: decay every counted entry, then count the token.
__device__ void count_token(int token, uint8_t* flags, double* counts, const float* weights,
                            const sample_slot& st, int V) {
  for (int i = threadIdx.x; i < V; i += kThreads)
    if (flags[i] & kSampleCounted) counts[i] = mul_rn(counts[i], st.alpha_decay);
  __syncthreads();
  if (threadIdx.x == 0) {
    counts[token] = add_rn(counts[token], (double)weights[token]);
    flags[token] |= kSampleCounted;
  }
}

// sample_kernel: steps 0-5 of sample.cuh for row blockIdx.x.
// Launch: grid (n_seq), block (512), static shared ~34 KB. Thread t owns the elements t, t + 512,
// ... of the row in the element-wise passes, the ids [t*ceil(V/512), ...) in the draw, one pair
// per stage of the chunk sort; thread 0 runs the fp32 running sum and the random stream.
// Bytes per row, typical (one chunk): V*(4 + 1 + 8 if penalties) read + V*4 written (adjusted
// logits) + V*(4 + 4) (exp, p) + 5 radix/gather passes of V*4 from L1/L2 + the draw's 2 passes of
// V*4 + the decay pass V*(1 + 16 on counted entries). FLOPs per row: about 30*V (one exp per
// element, one pow per kept element when T != 0, 1).
__global__ void __launch_bounds__(kThreads) sample_kernel(sample_params p) {
  __shared__ SampleShared sh;
  const int r = blockIdx.x;
  int32_t* out = p.tokens + r;
  if (p.error_flag != nullptr && *p.error_flag != 0) {
    if (threadIdx.x == 0) *out = -2;
    return;
  }
  const int V = p.V;
  const size_t slot = (size_t)(p.first + r);
  float* row = p.logits + (size_t)r * V;
  uint8_t* flags = p.flags + slot * V;
  double* counts = p.counts + slot * V;
  sample_slot& st = p.slots[slot];
  if (p.bias != nullptr) {  // the step bias before bans and penalties, in entry order
    if (threadIdx.x == 0) {
      const sample_bias& b = p.bias[slot];
      const int n = b.n < kSampleMaxBias ? b.n : kSampleMaxBias;
      for (int e = 0; e < n; ++e)
        if (b.token[e] >= 0 && b.token[e] < V) row[b.token[e]] += b.value[e];
    }
    __syncthreads();
  }
  const float p_max = softmax_row(row, flags, counts, st, V, sh);
  if (p_max < 0) {
    if (threadIdx.x == 0) *out = -3;
    return;
  }
  const bool greedy = st.temperature == 0;
  const float top_p = greedy ? 0.0f : (float)st.top_p;
  const bool top_k = st.top_k > 0 && st.top_k < V;
  find_cutoff(row, V, p_max, top_p, top_k ? st.top_k : 0, sh);
  KeptWeight q;
  q.cutoff = sh.cutoff;
  q.key_k = sh.key_k;
  q.top_k = top_k;
  q.p_max = p_max;
  q.t_is_1 = greedy || st.temperature == 1.0;
  q.inv_t = greedy ? 1.0 : 1.0 / st.temperature;
  const int token = draw_token(row, V, q, st, sh);
  if (!(flags[token] & kSampleStop)) count_token(token, flags, counts, p.weights + slot * V, st, V);
  if (threadIdx.x == 0) *out = token;
}

}  // namespace

cudaError_t sample_tokens(const sample_params& p, cudaStream_t stream) {
  if (p.n_seq < 0 || p.V < 1 || p.first < 0) return cudaErrorInvalidValue;
  if (p.n_seq == 0) return cudaSuccess;
  if (p.logits == nullptr || p.tokens == nullptr || p.slots == nullptr || p.flags == nullptr ||
      p.counts == nullptr || p.weights == nullptr)
    return cudaErrorInvalidValue;
  LAUNCH_KERNEL(sample_kernel, dim3((unsigned)p.n_seq), dim3(kThreads), 0, stream, p);
  return launch_status();
}

}  // namespace rwkv_kernels
