// runtime/sampler/penalty_weight.cpp: see penalty_weight.h.
#include "runtime/sampler/penalty_weight.h"

#include <string>
#include <string_view>

#include "runtime/tokenizer/unicode_text.h"

namespace rwkv {

double official_penalty_weight(const Tokenizer& tokenizer, int32_t token) {
  if (token < 0 || token >= tokenizer.vocab_size()) return 1.0;
  if (tokenizer.is_special(token)) return 0.0;  // decodes to ""
  const std::string& text = tokenizer.token_bytes(token);
  if (!is_valid_utf8(text)) return 1.0;  // decodes to U+FFFD
  constexpr std::string_view kExempt = " \t0123456789";
  return kExempt.find(std::string_view(text)) != std::string_view::npos ? 0.0 : 1.0;
}

PenaltyWeightFn official_penalty_weight_fn(const Tokenizer& tokenizer) {
  return [&tokenizer](int32_t token) { return official_penalty_weight(tokenizer, token); };
}

}  // namespace rwkv
