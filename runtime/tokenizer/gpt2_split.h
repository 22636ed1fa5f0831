// runtime/tokenizer/gpt2_split.h: the GPT-2 pre-tokenisation pattern
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// (the ByteLevel pre-tokenizer of Hugging Face tokenizers, run by Oniguruma),
// written out as a scanner with the same leftmost-alternative semantics.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace rwkv {

// Appends to `pieces` the [begin, end) byte ranges of the matches in `text`
// (valid UTF-8). The matches cover the text without gaps.
void gpt2_split(const std::string& text, std::vector<std::pair<size_t, size_t>>& pieces);

}  // namespace rwkv
