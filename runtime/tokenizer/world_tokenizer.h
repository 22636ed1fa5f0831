// runtime/tokenizer/world_tokenizer.h: the RWKV World tokenizer (pip's
// TRIE_TOKENIZER): at each position take the longest vocabulary entry that
// prefixes the remaining bytes. No normalisation, no special tokens.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "runtime/tokenizer/byte_trie.h"
#include "runtime/tokenizer/tokenizer.h"

namespace rwkv {

class WorldTokenizer : public Tokenizer {
 public:
  // `tokens` as parse_world_vocab() returns them.
  WorldTokenizer(std::vector<std::string> tokens, std::string source);

  std::vector<int32_t> encode(const std::string& text) const override;
  int32_t vocab_size() const override { return int32_t(tokens_.size()); }
  const char* kind() const override { return "world"; }
  const std::string& token_bytes(int32_t id) const override;
  bool is_special(int32_t id) const override { return id == 0; }

 private:
  std::vector<std::string> tokens_;
  ByteTrie trie_;
};

// A World tokenizer from a vocabulary file's content; `source` names the file
// (a file named like the official vocabulary must hold it:
// runtime/tokenizer/world_vocab_check.h).
std::unique_ptr<Tokenizer> make_world_tokenizer(const std::string& content, const std::string& source);

// Reads and parses a World vocabulary file.
std::unique_ptr<Tokenizer> load_world_tokenizer(const std::string& path);

}  // namespace rwkv
