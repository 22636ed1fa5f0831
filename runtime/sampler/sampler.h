// runtime/sampler/sampler.h: one generation step's token choice, as pip's
// PIPELINE.generate makes it (docs/rwkv-math.md sections 8.1 and 8.2):
//   1. banned tokens get logit -inf;
//   2. repetition penalties (repetition_penalty.h) are subtracted;
//   3. a token is drawn with sample_logits (sample_logits.h);
//   4. a stop token ends generation: it is reported, not counted;
//   5. otherwise the penalty state decays and counts the token with the weight
//      given by the weight function (pip: 0 for text inside " \t0123456789",
//      see penalty_weight.h), 1 when no function is given.
// Defaults are pip's PIPELINE_ARGS. A given seed gives the same tokens for the
// same logits on every run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "runtime/sampler/repetition_penalty.h"
#include "runtime/sampler/rng.h"
#include "runtime/sampler/sample_logits.h"

namespace rwkv {

struct SamplerParams {
  double temperature = 1.0;  // 0 = greedy
  double top_p = 0.85;
  int top_k = 0;
  double alpha_presence = 0.2;
  double alpha_frequency = 0.2;
  double alpha_decay = 0.996;
  std::vector<int32_t> token_ban;
  std::vector<int32_t> token_stop;
  uint64_t seed = 0;
};

// Weight with which an accepted token enters the frequency count.
using PenaltyWeightFn = std::function<double(int32_t token)>;

class Sampler {
 public:
  explicit Sampler(SamplerParams params, PenaltyWeightFn weight = nullptr);

  struct Result {
    int32_t token;
    bool stop;  // token is in token_stop; it was not counted
  };

  // Steps 1-5 on the model's logits for this position (modified in place:
  // bans and penalties are written into them).
  Result next(float* logits, size_t n);

  // Steps 1-2 alone.
  void adjust_logits(float* logits, size_t n) const;

  // Forgets the counted tokens (a new generation); the random stream goes on.
  void reset_penalties() { penalty_.clear(); }

  const SamplerParams& params() const { return params_; }
  const RepetitionPenalty& penalty() const { return penalty_; }
  RepetitionPenalty& penalty() { return penalty_; }
  Rng& rng() { return rng_; }
  const Rng& rng() const { return rng_; }
  // Step 5's weight for `token`; whether `token` is one of params().token_stop.
  double penalty_weight(int32_t token) const { return weight_ ? weight_(token) : 1.0; }
  bool is_stop(int32_t token) const;

 private:
  SamplerParams params_;
  PenaltyWeightFn weight_;
  RepetitionPenalty penalty_;
  Rng rng_;
};

}  // namespace rwkv
