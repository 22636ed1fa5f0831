// runtime/sampler/sampler.h: one generation step's token choice, as pip's
// PIPELINE.generate makes it (docs/rwkv-math.md sections 8.1 and 8.2):
//   0. this step's bias (set_step_bias), if any: logit[token] += bias for each entry in order
//      (fp32 additions; a bias of -inf bans the token for this step); the bias is consumed;
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

// One entry of a step bias (Sampler::set_step_bias).
struct StepBias {
  int32_t token;
  float bias;  // added to the token's logit; -inf bans it for the step
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

  // Steps 0-5 on the model's logits for this position (modified in place:
  // the step bias, bans and penalties are written into them). Throws rwkv::Error,
  // before changing anything, for a step bias token outside [0, n).
  Result next(float* logits, size_t n);

  // Steps 0-2 alone (the step bias is applied, not consumed).
  void adjust_logits(float* logits, size_t n) const;

  // A sparse additive logit adjustment for the next draw only (step 0 above), e.g. a chat's
  // length-dependent newline bias and a token banned because it was just drawn. At most
  // kMaxStepBias entries (the device sampler's fixed capacity); a token must be >= 0 (and below
  // the vocabulary size when the draw happens); a bias must not be NaN or +inf. Throws
  // rwkv::Error otherwise, leaving the previous bias in place. Replaces any bias not yet
  // consumed. The next draw (next(), or Backend::forward_sample with this sampler) applies and
  // consumes it; unlike the penalty state, it may be set while a backend holds the sampler
  // (Backend::forward_sample reads it from the host object at each call).
  static constexpr size_t kMaxStepBias = 16;
  void set_step_bias(std::vector<StepBias> entries);
  const std::vector<StepBias>& step_bias() const { return step_bias_; }
  void clear_step_bias() { step_bias_.clear(); }
  // Throws rwkv::Error when an entry's token is outside [0, n_vocab).
  void check_step_bias(size_t n_vocab) const;

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
  std::vector<StepBias> step_bias_;  // for the next draw only
};

}  // namespace rwkv
