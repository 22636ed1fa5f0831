// runtime/tokenizer/world_tokenizer.cpp: see world_tokenizer.h.
#include "runtime/tokenizer/world_tokenizer.h"

#include "runtime/core/error.h"
#include "runtime/tokenizer/read_file.h"
#include "runtime/tokenizer/world_vocab.h"
#include "runtime/tokenizer/world_vocab_check.h"

namespace rwkv {

WorldTokenizer::WorldTokenizer(std::vector<std::string> tokens, std::string source)
    : tokens_(std::move(tokens)), trie_(tokens_) {
  source_ = std::move(source);
}

std::vector<int32_t> WorldTokenizer::encode(const std::string& text) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 1);
  const auto* p = reinterpret_cast<const uint8_t*>(text.data());
  const auto* end = p + text.size();
  while (p < end) {
    int32_t id = -1;
    const size_t n = trie_.longest_match(p, end, &id);
    // Every single byte is a token (checked at load), so n >= 1.
    ids.push_back(id);
    p += n;
  }
  return ids;
}

const std::string& WorldTokenizer::token_bytes(int32_t id) const {
  if (id < 0 || id >= vocab_size()) {
    throw Error("token id " + std::to_string(id) + " is outside the World vocabulary (0.." +
                std::to_string(vocab_size() - 1) + ")");
  }
  return tokens_[size_t(id)];
}

std::unique_ptr<Tokenizer> make_world_tokenizer(const std::string& content, const std::string& source) {
  std::vector<std::string> tokens = parse_world_vocab(content, source);
  check_official_world_vocab(tokens, source);
  return std::make_unique<WorldTokenizer>(std::move(tokens), source);
}

std::unique_ptr<Tokenizer> load_world_tokenizer(const std::string& path) {
  return make_world_tokenizer(read_tokenizer_file(path), path);
}

}  // namespace rwkv
