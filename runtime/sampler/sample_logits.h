// runtime/sampler/sample_logits.h: pip's PIPELINE.sample_logits (docs/rwkv-math.md
// section 8.1), quirks included:
//   - temperature 0 means greedy (temperature 1, top_p 0); ties sampled uniformly;
//   - the nucleus is chosen on softmax(logits) at temperature 1: sort p
//     descending, fp32 running sum c_m, cutoff = p at the FIRST m with
//     c_m >= top_p (compared in fp32), keep every p >= cutoff (ties at the
//     cutoff kept); if no c_m reaches top_p the first position is used, so the
//     result is greedy (e.g. top_p = 1 when the fp32 sum ends below 1);
//   - top_k (0 < top_k < n) then keeps only the top_k largest of the sorted
//     order; equal probabilities are ordered higher id first (what numpy's
//     ascending argsort, reversed, gives for a stable sort);
//   - temperature is applied last, to probabilities: p^(1/T), renormalised.
//     Computed as (p / p_max)^(1/T) in double, which is the same distribution
//     but cannot underflow to all zeros at small T as the fp32 original can.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "runtime/sampler/rng.h"

namespace rwkv {

struct SampleSettings {
  double temperature = 1.0;  // >= 0; 0 = greedy
  double top_p = 0.85;
  int top_k = 0;  // <= 0 or >= n: no top-k
};

// The distribution sample_logits draws from: n probabilities summing to 1,
// zero outside the kept set. Throws rwkv::Error for a negative or NaN
// temperature, NaN logits, or logits that are all -inf.
std::vector<double> sampling_distribution(const float* logits, size_t n, const SampleSettings& s);

// Draws one token id from sampling_distribution() with `rng`.
int32_t sample_logits(const float* logits, size_t n, const SampleSettings& s, Rng& rng);

// Draws an index from probabilities that sum to (about) 1; never returns an
// index whose probability is 0.
int32_t draw_index(const std::vector<double>& probs, Rng& rng);

}  // namespace rwkv
