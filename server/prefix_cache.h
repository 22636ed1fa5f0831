// server/prefix_cache.h: states after token prefixes, kept for requests that
// extend them (docs/server.md, "Prefix cache").
//
// An entry is (the exact token ids of a prefix, the state after them in the
// runtime's external fp32 layout, runtime/backend/state_layout.h). A lookup
// finds the longest entry whose key is a prefix of a new prompt, so the server
// prefills only the tokens after it. Entries are evicted least recently used
// first when the bytes held would exceed the capacity. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <vector>

namespace rwkv {
namespace server {

struct PrefixCacheStats {
  size_t entries = 0, bytes = 0, capacity = 0;
  uint64_t hits = 0, misses = 0, tokens_saved = 0, inserts = 0, evictions = 0;
};

class PrefixCache {
 public:
  explicit PrefixCache(size_t capacity_bytes) : capacity_(capacity_bytes) {}

  // The longest key that is a prefix of tokens[0, max_len) (an entry of 1..max_len tokens):
  // its state is copied to *state and its length returned; 0 (a miss) when none. Counts a
  // hit or a miss.
  size_t lookup(const int32_t* tokens, size_t max_len, std::vector<float>* state);

  // Keeps the state after tokens[0, len). An existing key is refreshed (moved to the
  // front); an entry larger than the capacity is not kept.
  void insert(const int32_t* tokens, size_t len, const float* state, size_t floats);

  PrefixCacheStats stats() const;

 private:
  struct Entry {
    std::vector<int32_t> key;
    std::vector<float> state;
    size_t bytes() const { return key.size() * sizeof(int32_t) + state.size() * sizeof(float); }
  };
  void evict_to(size_t limit);  // caller holds mu_

  mutable std::mutex mu_;
  std::list<Entry> lru_;  // most recently used first
  size_t capacity_ = 0, bytes_ = 0;
  PrefixCacheStats counts_;
};

}  // namespace server
}  // namespace rwkv
