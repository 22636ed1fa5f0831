// runtime/tokenizer/bpe_tokenizer.h: byte-level BPE as the Hugging Face
// `tokenizers` library runs a GPT-NeoX-20B style tokenizer.json:
//   1. added tokens with "normalized": false are cut out of the raw text
//      (leftmost match, longest at that position);
//   2. each remaining piece is normalised (NFC), then the added tokens with
//      "normalized": true are cut out of it the same way;
//   3. the rest is split with the GPT-2 pattern (gpt2_split.h);
//   4. each split's bytes become byte-level symbols, merged by BPE: always the
//      adjacent pair of lowest merge rank, the leftmost one on ties.
// Only what such files use is supported; anything else in the file (another
// normaliser, prefix spaces, dropout, ...) is refused with an error naming it.
#pragma once

#include <memory>
#include <mutex>
#include <unordered_map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "runtime/tokenizer/byte_trie.h"
#include "runtime/tokenizer/merge_table.h"
#include "runtime/tokenizer/tokenizer.h"

namespace rwkv {

class BpeTokenizer : public Tokenizer {
 public:
  // Parses tokenizer.json content; `source` names the file in errors.
  BpeTokenizer(const std::string& json_text, const std::string& source);

  std::vector<int32_t> encode(const std::string& text) const override;
  size_t replaced_bytes(const std::string& text) const override;  // invalid UTF-8 bytes
  int32_t vocab_size() const override { return int32_t(token_bytes_.size()); }
  const char* kind() const override { return "20b"; }
  const std::string& token_bytes(int32_t id) const override;
  bool is_special(int32_t id) const override;

 private:
  using Merge = MergeTable::Merge;
  struct Scratch;  // per-call buffers and word cache

  // Parts of the constructor (JSON values are rwkv::Json, runtime/core/json.h).
  static void check_pipeline(const std::string& source, const nlohmann::ordered_json& root,
                             const nlohmann::ordered_json& model);
  void read_added_tokens(const std::string& source, const nlohmann::ordered_json& root,
                         std::vector<std::string>& token_str);

  void encode_piece(const std::string& normalized, std::vector<int32_t>& ids, Scratch& scratch) const;
  void bpe_word(const uint8_t* p, size_t n, std::vector<int32_t>& ids, Scratch& scratch) const;
  const Merge* find_merge(int32_t a, int32_t b) const { return merges_.find(a, b); }

  std::vector<std::string> token_bytes_;  // by id
  std::vector<bool> special_;             // by id
  int32_t byte_id_[256];                  // id of each byte's single-symbol token
  MergeTable merges_;
  // Words already split, kept across calls (bounded; encode() may run on
  // several threads, hence the mutex). Each call also has its own cache.
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> shared_cache_;
  bool nfc_ = false;
  // Added tokens, indexed by id (empty where none), split into the two groups.
  std::unique_ptr<ByteTrie> raw_added_, normalized_added_;
  bool has_raw_added_ = false, has_normalized_added_ = false;
};

std::unique_ptr<Tokenizer> load_bpe_tokenizer(const std::string& path);

}  // namespace rwkv
