// runtime/sampler/sampler.cpp: see sampler.h.
#include "runtime/sampler/sampler.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "runtime/core/error.h"

namespace rwkv {

Sampler::Sampler(SamplerParams params, PenaltyWeightFn weight)
    : params_(std::move(params)),
      weight_(std::move(weight)),
      penalty_(params_.alpha_presence, params_.alpha_frequency, params_.alpha_decay),
      rng_(params_.seed) {}

void Sampler::set_step_bias(std::vector<StepBias> entries) {
  if (entries.size() > kMaxStepBias)
    throw Error("sampler: a step bias of " + std::to_string(entries.size()) + " entries; at most " +
                std::to_string(kMaxStepBias) + " are allowed");
  for (const StepBias& e : entries) {
    if (e.token < 0) throw Error("sampler: step bias for the negative token " + std::to_string(e.token));
    if (std::isnan(e.bias) || e.bias == INFINITY)
      throw Error("sampler: the step bias of token " + std::to_string(e.token) + " is NaN or +inf");
  }
  step_bias_ = std::move(entries);
}

void Sampler::check_step_bias(size_t n_vocab) const {
  for (const StepBias& e : step_bias_)
    if (size_t(e.token) >= n_vocab)
      throw Error("sampler: step bias for token " + std::to_string(e.token) + ", outside the vocabulary [0, " +
                  std::to_string(n_vocab) + ")");
}

void Sampler::adjust_logits(float* logits, size_t n) const {
  check_step_bias(n);
  for (const StepBias& e : step_bias_) logits[e.token] += e.bias;  // in order, fp32
  for (int32_t t : params_.token_ban) {
    if (t >= 0 && size_t(t) < n) logits[t] = -INFINITY;
  }
  penalty_.apply(logits, n);
}

Sampler::Result Sampler::next(float* logits, size_t n) {
  adjust_logits(logits, n);
  step_bias_.clear();  // consumed by this draw
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
