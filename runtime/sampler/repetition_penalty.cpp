// runtime/sampler/repetition_penalty.cpp: see repetition_penalty.h.
#include "runtime/sampler/repetition_penalty.h"

namespace rwkv {

void RepetitionPenalty::apply(float* logits, size_t n) const {
  for (const auto& [token, count] : occ_) {
    if (token < 0 || size_t(token) >= n) continue;
    logits[token] -= float(presence_ + count * frequency_);
  }
}

void RepetitionPenalty::accept(int32_t token, double weight) {
  for (auto& kv : occ_) kv.second *= decay_;
  occ_[token] += weight;
}

}  // namespace rwkv
