// runtime/tokenizer/bpe_tokenizer.cpp: see bpe_tokenizer.h.
#include "runtime/tokenizer/bpe_tokenizer.h"

#include <algorithm>
#include <queue>
#include <string_view>
#include <unordered_map>

#include "runtime/core/error.h"
#include "runtime/core/json.h"
#include "runtime/tokenizer/byte_level.h"
#include "runtime/tokenizer/gpt2_split.h"
#include "runtime/tokenizer/read_file.h"
#include "runtime/tokenizer/unicode_text.h"

namespace rwkv {
namespace {

using Value = Json;

// Tokenizer files are read as most JSON readers do: a repeated key keeps its last value.
const JsonRules kTokenizerJsonRules{256, true};

constexpr int64_t kMaxBpeId = 1 << 20;  // refuse absurd ids instead of allocating for them
constexpr size_t kCacheWordMax = 64;     // longest word (bytes) kept in the per-call cache
constexpr size_t kCacheEntriesMax = 1 << 16;  // per cache

// A tokenizer.json that parses but that we cannot use; `what` names the member.
[[noreturn]] void bad(const std::string& source, const std::string& what) { throw Error(source + ": " + what); }

const Value& member(const std::string& source, const Value& obj, const char* key, const char* ctx) {
  const Value* v = json_find(obj, key);
  if (!v) bad(source, std::string(ctx) + ": missing \"" + key + "\"");
  return *v;
}

bool is_true(const Value* v) { return v && v->is_boolean() && v->get<bool>(); }


// A flag that must be absent, null or false (features we do not implement).
void require_off(const std::string& source, const Value& obj, const char* key, const char* ctx) {
  const Value* v = json_find(obj, key);
  if (!v || v->is_null() || (v->is_boolean() && !v->get<bool>())) return;
  if (v->is_string() && v->get_ref<const std::string&>().empty()) return;
  bad(source, std::string(ctx) + " \"" + key + "\" is not supported");
}

std::string type_of(const Value& v) {
  const Value* t = json_find(v, "type");
  return t && t->is_string() ? t->get<std::string>() : "";
}

// A vocabulary id: a non-negative integer below kMaxBpeId, or -1.
int64_t token_id(const Value& v) {
  if (!v.is_number_unsigned() || v.get<uint64_t>() >= uint64_t(kMaxBpeId)) return -1;
  return int64_t(v.get<uint64_t>());
}

// Cuts the matches of `trie` out of `s`: leftmost match, longest at that
// position (aho-corasick's LeftmostLongest, as tokenizers uses).
template <class OnText, class OnToken>
void split_added(const std::string& s, const ByteTrie& trie, OnText on_text, OnToken on_token) {
  const auto* base = reinterpret_cast<const uint8_t*>(s.data());
  const auto* end = base + s.size();
  size_t text_from = 0;
  for (const uint8_t* p = base; p < end;) {
    int32_t id = -1;
    const size_t n = trie.longest_match(p, end, &id);
    if (n == 0) {
      ++p;
      continue;
    }
    const size_t at = size_t(p - base);
    if (at > text_from) on_text(s.substr(text_from, at - text_from));
    on_token(id);
    p += n;
    text_from = size_t(p - base);
  }
  if (text_from < s.size()) on_text(s.substr(text_from));
}

// One merge: "left right" or ["left", "right"].
std::pair<std::string, std::string> merge_pair(const std::string& source, const Value& m) {
  if (m.is_string()) {
    const std::string& s = m.get_ref<const std::string&>();
    const size_t sp = s.find(' ');
    if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos) {
      bad(source, "model.merges: merge \"" + s + "\" is not two tokens separated by one space");
    }
    return {s.substr(0, sp), s.substr(sp + 1)};
  }
  if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string())
    return {m[0].get<std::string>(), m[1].get<std::string>()};
  bad(source, "model.merges: merge is neither \"a b\" nor [\"a\", \"b\"]");
}

}  // namespace

struct BpeTokenizer::Scratch {
  struct Sym {
    int32_t id, prev, next;
    bool alive;
  };
  struct Cand {
    int32_t rank, pos, new_id;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::vector<Sym> syms;
  std::vector<Cand> heap;
  std::vector<std::pair<size_t, size_t>> pieces;
  std::unordered_map<std::string, std::vector<int32_t>> cache;
};

BpeTokenizer::BpeTokenizer(const std::string& json_text, const std::string& source) {
  source_ = source;
  const Value root = parse_json(json_text, source, kTokenizerJsonRules);
  if (!root.is_object()) bad(source, "not a tokenizer.json object");
  const Value& model = member(source, root, "model", "tokenizer.json");
  check_pipeline(source, root, model);
  if (const Value* n = json_find(root, "normalizer"); n && !n->is_null()) nfc_ = true;  // NFC (checked)

  // --- vocabulary
  const Value& vocab = member(source, model, "vocab", "model");
  if (!vocab.is_object()) bad(source, "model.vocab is not an object");
  std::unordered_map<std::string, int32_t> id_of;
  id_of.reserve(vocab.size() * 2);
  std::vector<std::string> token_str;
  for (const auto& m : vocab.items()) {
    const int64_t id = token_id(m.value());
    if (id < 0) bad(source, "model.vocab: bad id for vocabulary entry \"" + m.key() + "\"");
    if (size_t(id) >= token_str.size()) token_str.resize(size_t(id) + 1);
    token_str[size_t(id)] = m.key();
    id_of[m.key()] = int32_t(id);
  }
  read_added_tokens(source, root, token_str);

  token_bytes_.resize(token_str.size());
  for (size_t id = 0; id < token_str.size(); ++id) token_bytes_[id] = byte_level_token_bytes(token_str[id]);
  special_.resize(token_str.size(), false);

  // Every byte that valid UTF-8 can contain needs a symbol (the input is made
  // valid first; 0xC0, 0xC1 and 0xF5..0xFF never occur and may be missing).
  for (int b = 0; b < 256; ++b) {
    std::string ch;
    append_utf8(ch, byte_level_char(uint8_t(b)));
    auto it = id_of.find(ch);
    byte_id_[b] = it == id_of.end() ? -1 : it->second;
    const bool in_utf8 = b < 0xC0 || (b >= 0xC2 && b <= 0xF4);
    if (byte_id_[b] < 0 && in_utf8) {
      throw Error(source + ": model.vocab has no token for the byte-level character of byte " + std::to_string(b));
    }
  }

  // --- merges: "left right" strings or [left, right] pairs; rank = position
  const Value& merges = member(source, model, "merges", "model");
  if (!merges.is_array()) bad(source, "model.merges is not an array");
  for (size_t r = 0; r < merges.size(); ++r) {
    const auto [left, right] = merge_pair(source, merges[r]);
    auto a = id_of.find(left), b = id_of.find(right), ab = id_of.find(left + right);
    if (a == id_of.end() || b == id_of.end() || ab == id_of.end()) {
      bad(source, "model.merges: merge \"" + left + " " + right + "\" uses a token missing from model.vocab");
    }
    merges_.set(a->second, b->second, Merge{int32_t(r), ab->second});  // a repeated pair: the later rank wins, as in tokenizers
  }
}

// The pipeline stages: only what byte-level BPE files like 20B_tokenizer.json use.
void BpeTokenizer::check_pipeline(const std::string& source, const Json& root, const Json& model) {
  if (!model.is_object()) bad(source, "\"model\" is not an object");
  if (json_find(model, "type") && type_of(model) != "BPE") {
    bad(source, "model type \"" + type_of(model) + "\" is not supported (only BPE)");
  }
  for (const char* key : {"dropout", "continuing_subword_prefix", "end_of_word_suffix", "byte_fallback", "ignore_merges"})
    require_off(source, model, key, "model");
  if (const Value* n = json_find(root, "normalizer"); n && !n->is_null() && type_of(*n) != "NFC") {
    bad(source, "normalizer \"" + type_of(*n) + "\" is not supported (only NFC)");
  }
  const Value& pre = member(source, root, "pre_tokenizer", "tokenizer.json");
  if (type_of(pre) != "ByteLevel") bad(source, "pre_tokenizer must be ByteLevel");
  require_off(source, pre, "add_prefix_space", "pre_tokenizer");
  if (const Value* r = json_find(pre, "use_regex"); r && !is_true(r)) {
    bad(source, "pre_tokenizer \"use_regex\": false is not supported");
  }
  if (const Value* d = json_find(root, "decoder"); d && !d->is_null() && type_of(*d) != "ByteLevel") {
    bad(source, "decoder \"" + type_of(*d) + "\" is not supported (only ByteLevel)");
  }
}

// Added tokens: into token_str, the two tries and special_.
void BpeTokenizer::read_added_tokens(const std::string& source, const Json& root, std::vector<std::string>& token_str) {
  std::vector<std::string> raw_keys, norm_keys;
  if (const Value* added = json_find(root, "added_tokens"); added && !added->is_null()) {
    if (!added->is_array()) bad(source, "added_tokens is not an array");
    for (const Value& t : *added) {
      if (!t.is_object()) bad(source, "added_tokens: an added token is not an object");
      const int64_t id = token_id(member(source, t, "id", "added token"));
      const Value& content = member(source, t, "content", "added token");
      if (id < 0) bad(source, "added_tokens: bad added token id");
      if (!content.is_string() || content.get_ref<const std::string&>().empty())
        bad(source, "added_tokens: bad added token content");
      require_off(source, t, "single_word", "added token");
      require_off(source, t, "lstrip", "added token");
      require_off(source, t, "rstrip", "added token");
      const std::string& text = content.get_ref<const std::string&>();
      const bool is_normalized = is_true(json_find(t, "normalized"));
      if (size_t(id) >= token_str.size()) token_str.resize(size_t(id) + 1);
      token_str[size_t(id)] = text;
      auto& keys = is_normalized ? norm_keys : raw_keys;
      if (size_t(id) >= keys.size()) keys.resize(size_t(id) + 1);
      keys[size_t(id)] = is_normalized && nfc_ ? nfc(text) : text;
      (is_normalized ? has_normalized_added_ : has_raw_added_) = true;
      if (size_t(id) >= special_.size()) special_.resize(size_t(id) + 1, false);
      special_[size_t(id)] = is_true(json_find(t, "special"));
    }
  }
  raw_added_ = std::make_unique<ByteTrie>(raw_keys);
  normalized_added_ = std::make_unique<ByteTrie>(norm_keys);
}

const std::string& BpeTokenizer::token_bytes(int32_t id) const {
  if (id < 0 || id >= vocab_size()) {
    throw Error("token id " + std::to_string(id) + " is outside the 20B vocabulary (0.." +
                std::to_string(vocab_size() - 1) + ")");
  }
  return token_bytes_[size_t(id)];
}

bool BpeTokenizer::is_special(int32_t id) const {
  return id >= 0 && size_t(id) < special_.size() && special_[size_t(id)];
}

std::vector<int32_t> BpeTokenizer::encode(const std::string& text) const {
  std::vector<int32_t> ids;
  Scratch scratch;
  auto on_token = [&](int32_t id) { ids.push_back(id); };
  auto on_raw_piece = [&](const std::string& piece) {
    const std::string normalized = nfc_ ? nfc(piece) : piece;
    if (!has_normalized_added_) {
      encode_piece(normalized, ids, scratch);
      return;
    }
    split_added(
        normalized, *normalized_added_, [&](const std::string& sub) { encode_piece(sub, ids, scratch); }, on_token);
  };
  const std::string valid = utf8_lossy(text);
  if (has_raw_added_) {
    split_added(valid, *raw_added_, on_raw_piece, on_token);
  } else {
    on_raw_piece(valid);
  }
  return ids;
}

size_t BpeTokenizer::replaced_bytes(const std::string& text) const { return utf8_invalid_bytes(text); }

void BpeTokenizer::encode_piece(const std::string& normalized, std::vector<int32_t>& ids, Scratch& scratch) const {
  scratch.pieces.clear();
  gpt2_split(normalized, scratch.pieces);
  const auto* base = reinterpret_cast<const uint8_t*>(normalized.data());
  for (const auto& piece : scratch.pieces) {
    const size_t n = piece.second - piece.first;
    const uint8_t* p = base + piece.first;
    if (n > kCacheWordMax) {
      bpe_word(p, n, ids, scratch);
      continue;
    }
    std::string key(reinterpret_cast<const char*>(p), n);
    auto it = scratch.cache.find(key);
    if (it != scratch.cache.end()) {
      ids.insert(ids.end(), it->second.begin(), it->second.end());
      continue;
    }
    const size_t from = ids.size();
    bool found = false;
    {
      std::lock_guard<std::mutex> lock(cache_mutex_);
      auto shared = shared_cache_.find(key);
      if (shared != shared_cache_.end()) {
        ids.insert(ids.end(), shared->second.begin(), shared->second.end());
        found = true;
      }
    }
    if (!found) {
      bpe_word(p, n, ids, scratch);
      std::lock_guard<std::mutex> lock(cache_mutex_);
      if (shared_cache_.size() < kCacheEntriesMax) {
        shared_cache_.emplace(key, std::vector<int32_t>(ids.begin() + long(from), ids.end()));
      }
    }
    if (scratch.cache.size() < kCacheEntriesMax) {
      scratch.cache.emplace(std::move(key), std::vector<int32_t>(ids.begin() + long(from), ids.end()));
    }
  }
}

void BpeTokenizer::bpe_word(const uint8_t* p, size_t n, std::vector<int32_t>& ids, Scratch& scratch) const {
  if (n == 0) return;
  auto& syms = scratch.syms;
  auto& heap = scratch.heap;
  syms.resize(n);
  for (size_t i = 0; i < n; ++i) {
    syms[i] = {byte_id_[p[i]], int32_t(i) - 1, i + 1 < n ? int32_t(i + 1) : -1, true};
  }
  heap.clear();
  const auto cmp = std::greater<Scratch::Cand>();
  auto push = [&](int32_t pos) {
    const int32_t next = syms[size_t(pos)].next;
    if (next < 0) return;
    if (const Merge* m = find_merge(syms[size_t(pos)].id, syms[size_t(next)].id)) {
      heap.push_back({m->rank, pos, m->new_id});
      std::push_heap(heap.begin(), heap.end(), cmp);
    }
  };
  for (size_t i = 0; i + 1 < n; ++i) push(int32_t(i));
  // Lowest rank first, leftmost on ties; entries made stale by earlier merges
  // are recognised and skipped (the pair at pos no longer gives new_id).
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), cmp);
    const Scratch::Cand c = heap.back();
    heap.pop_back();
    auto& s = syms[size_t(c.pos)];
    if (!s.alive || s.next < 0) continue;
    const Merge* m = find_merge(s.id, syms[size_t(s.next)].id);
    if (!m || m->new_id != c.new_id) continue;
    auto& right = syms[size_t(s.next)];
    right.alive = false;
    s.id = c.new_id;
    s.next = right.next;
    if (s.next >= 0) syms[size_t(s.next)].prev = c.pos;
    if (s.prev >= 0) push(s.prev);
    push(c.pos);
  }
  for (int32_t i = 0; i >= 0; i = syms[size_t(i)].next) ids.push_back(syms[size_t(i)].id);
}

std::unique_ptr<Tokenizer> load_bpe_tokenizer(const std::string& path) {
  return std::make_unique<BpeTokenizer>(read_tokenizer_file(path), path);
}

}  // namespace rwkv
