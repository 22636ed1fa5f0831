// runtime/sampler/sampler.cpp: see sampler.h.
#include "runtime/sampler/sampler.h"

#include <algorithm>
#include <cmath>

namespace rwkv {

Sampler::Sampler(SamplerParams params, PenaltyWeightFn weight)
    : params_(std::move(params)),
      weight_(std::move(weight)),
      penalty_(params_.alpha_presence, params_.alpha_frequency, params_.alpha_decay),
      rng_(params_.seed) {}

void Sampler::adjust_logits(float* logits, size_t n) const {
  for (int32_t t : params_.token_ban) {
    if (t >= 0 && size_t(t) < n) logits[t] = -INFINITY;
  }
  penalty_.apply(logits, n);
}

Sampler::Result Sampler::next(float* logits, size_t n) {
  adjust_logits(logits, n);
  SampleSettings s;
  s.temperature = params_.temperature;
  s.top_p = params_.top_p;
  s.top_k = params_.top_k;
  const int32_t token = sample_logits(logits, n, s, rng_);
  if (is_stop(token)) return {token, true};
  penalty_.accept(token, penalty_weight(token));
  return {token, false};
}

bool Sampler::is_stop(int32_t token) const {
  const auto& stop = params_.token_stop;
  return std::find(stop.begin(), stop.end(), token) != stop.end();
}

}  // namespace rwkv
