// kernels/sample.cuh: the sampler of runtime/sampler/ on the device, for all sequences of a step
// in one launch (one block per sequence).
//
// For sequence row r (its sampler state in slot s = first + r of the per-slot arrays):
//   0. when *error_flag != 0 (the embedding gathers' flag of the step): tokens[r] = -2, nothing else
//      changes (the caller throws);
//   1. when bias != null: logits[r, token] += value for each of the n entries of bias[s], in order
//      (fp32; the step bias of runtime/sampler/sampler.h, -inf bans for this step);
//      then logits[r, t] = -inf for banned t; for counted t: logits -= float(alpha_presence +
//      count[t] * alpha_frequency) (runtime/sampler/repetition_penalty.h; double, then fp32);
//      NaN, +inf or every logit -inf: tokens[r] = -3, nothing else changes;
//   2. p = float(e / sum(e)), e = exp(l - max) in fp32, the sum in double (sample_logits.cpp);
//   3. the nucleus exactly as sample_logits.h defines it: order = p descending, higher id first
//      among equal p; cutoff = p at the first position where the fp32 running sum reaches
//      float(top_p) (p_max when none does); keep p >= cutoff; top_k keeps the first top_k of the
//      order; temperature 0 = greedy (top_p 0); q = p (T = 1) or (p / p_max)^(1/T) in double;
//   4. the draw: one next_u64 of the slot's xoshiro256** (runtime/sampler/rng.h), u in [0, 1),
//      target = u * sum(q / total), the first id whose running sum of q / total exceeds target;
//   5. a stop token is reported and not counted; any other token: every counted entry decays
//      (count *= alpha_decay), then count[token] += weight[token] and token becomes counted.
// The logits rows are consumed: they hold the adjusted logits, then the probabilities.
//
// The cutoff without a full sort: the fp32 running sum only needs the values in descending
// order up to the position where it reaches top_p, or where it stops changing (c + p == c: every
// later p is smaller, so the sum is final and never reaches top_p). The block walks the row in
// chunks of at most 4096 elements, largest first: a radix select on the fp32 bit patterns (4
// passes of 8-bit digits, p >= 0 so the patterns order like the values) finds each chunk's lower
// bound, the chunk is gathered into shared memory and bitonic-sorted by (bits, id) descending, and
// thread 0 continues the fp32 running sum over it in order, as the CPU does (in registers). One
// chunk suffices unless the nucleus has more than 4096 tokens. top_k needs the key (bits, id) at
// position top_k - 1; the same walk finds it. The histograms and the gather take one shared atomic
// per warp for the lanes that agree (nearly flat rows put every key in the same bins).
//
// Where the GPU could in principle differ from the CPU (nothing else is approximate: the
// penalties, the decay, the fp32 running sum, p_max, the nucleus test, q / total, the random
// stream and the draw use the same operations in the same order, with explicit _rn double
// intrinsics so that nvcc contracts no multiply-add):
//   - exp: the CPU calls glibc's expf (error <= 0.502 ulp, not always correctly rounded). Under
//     nvcc the kernel computes float(exp(double(x))), which is correctly rounded but where exp(x)
//     lies within about 2^-52 relative of a float rounding midpoint. The two differ by one ulp
//     for about 1 argument in 11,600 (13,850 of 160 million arguments spread over [-104, 0],
//     measured on this project's x86-64 glibc), i.e. a few of 65,536 tokens per step, nearly
//     always far outside the nucleus; CUDA's expf (up to 2 ulp) would differ far more often. In
//     the emulated build the kernel calls the host's expf, so there p is bit-identical.
//   - sum(e) and the two double sums of q: the CPU adds sequentially in index or sorted order,
//     the block adds per thread and then in a fixed tree (deterministic, but rounded differently
//     in the last bits, ~1e-16 relative). A different sum(e) can flip the fp32 rounding of a p
//     only when e / sum lies within ~1e-16 relative of a float midpoint (~1e-9 per token); a
//     different q total moves the draw target by ~1e-16, which changes the token only when the
//     target falls that close to a boundary of the cumulative distribution.
//   - pow (T != 0, 1): CUDA's pow is within 2 ulp (double); the effect is the same ~1e-16.
// The fp32 running sum that decides the nucleus, where one ulp can matter, is computed exactly.
//
// Host declarations only; the kernel is in sample.cu.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace rwkv_kernels {

// Bits of sample_params::flags.
constexpr uint8_t kSampleCounted = 1;  // in the penalty table (presence penalty applies, count decays)
constexpr uint8_t kSampleBanned = 2;   // logit -inf
constexpr uint8_t kSampleStop = 4;     // a stop token: reported, not counted

// One sequence's sampler settings and random state (DeviceSampler keeps one per slot).
struct sample_slot {
  uint64_t rng[4];         // xoshiro256** words, advanced by one next_u64 per draw
  double temperature;      // >= 0; 0 = greedy
  double top_p;
  double alpha_presence, alpha_frequency, alpha_decay;
  int top_k;               // <= 0 or >= V: none
  int pad_;
};

// One slot's step bias for this launch (Sampler::set_step_bias): read only.
constexpr int kSampleMaxBias = 16;
struct sample_bias {
  int32_t n;                        // entries used, 0 .. kSampleMaxBias
  int32_t token[kSampleMaxBias];    // in [0, V) (others are skipped)
  float value[kSampleMaxBias];      // added to the token's logit
  int32_t pad_;
};

struct sample_params {
  float* logits = nullptr;         // [n_seq, V] fp32, device; consumed (see above)
  int32_t* tokens = nullptr;       // [n_seq] out: the drawn ids, -2 (error flag) or -3 (bad logits)
  const int* error_flag = nullptr; // device int, read only; may be null (no flag)
  sample_slot* slots = nullptr;    // [S] per-slot state, read and updated
  uint8_t* flags = nullptr;        // [S, V] kSample* bits per token
  double* counts = nullptr;        // [S, V] penalty counts (0 where not counted)
  const float* weights = nullptr;  // [S, V] weight with which each token is counted
  const sample_bias* bias = nullptr;  // [S] this step's bias per slot; null: none for any row
  int n_seq = 0;                   // rows; row r uses slot first + r
  int first = 0;
  int V = 0;
};

// Enqueues the sampling of every row on `stream`; no host synchronisation, no host memory
// touched (capturable in a CUDA graph). Returns cudaErrorInvalidValue for a bad shape or a null
// required pointer, otherwise the launch status.
cudaError_t sample_tokens(const sample_params& p, cudaStream_t stream);

}  // namespace rwkv_kernels
