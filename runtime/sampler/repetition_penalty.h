// runtime/sampler/repetition_penalty.h: the presence / frequency penalties of
// pip's PIPELINE.generate (docs/rwkv-math.md section 8.2).
//
// occ maps token -> weight, empty at the start; prompt tokens are not counted.
// Before sampling: logit[t] -= alpha_presence + occ[t] * alpha_frequency for
// every t in occ (the amount is computed in double and subtracted from the
// fp32 logit, as torch does with a Python float). After a token is accepted:
// every occ value is multiplied by alpha_decay, then occ[token] += weight.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <utility>

namespace rwkv {

class RepetitionPenalty {
 public:
  RepetitionPenalty(double alpha_presence, double alpha_frequency, double alpha_decay)
      : presence_(alpha_presence), frequency_(alpha_frequency), decay_(alpha_decay) {}

  // Subtracts the penalties from logits[0..n); tokens >= n are ignored.
  void apply(float* logits, size_t n) const;

  // Decay, then add `weight` for `token` (inserting it, even with weight 0).
  void accept(int32_t token, double weight);

  void clear() { occ_.clear(); }
  const std::map<int32_t, double>& occurrences() const { return occ_; }
  // Replaces the counts (e.g. with those a GPU sampler kept).
  void set_occurrences(std::map<int32_t, double> occ) { occ_ = std::move(occ); }

 private:
  double presence_, frequency_, decay_;
  std::map<int32_t, double> occ_;
};

}  // namespace rwkv
