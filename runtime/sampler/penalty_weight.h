// runtime/sampler/penalty_weight.h: pip's weight for the frequency count
// (docs/rwkv-math.md section 8.2 step 6): 0 when the token's decoded text is a substring of
// " \t0123456789" (one space, one tab, a run of consecutive digits, or the
// empty text), else 1. The decoded text is pip's decode([token]): special
// tokens give "" (the HF decoder skips them; World id 0 has no text), and
// bytes that are not valid UTF-8 give U+FFFD, which weighs 1.
#pragma once

#include <cstdint>

#include "runtime/sampler/sampler.h"
#include "runtime/tokenizer/tokenizer.h"

namespace rwkv {

double official_penalty_weight(const Tokenizer& tokenizer, int32_t token);

// A PenaltyWeightFn calling official_penalty_weight; `tokenizer` must outlive it.
PenaltyWeightFn official_penalty_weight_fn(const Tokenizer& tokenizer);

}  // namespace rwkv
