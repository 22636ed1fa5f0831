// server/prefix_cache.cpp: see prefix_cache.h.
#include "server/prefix_cache.h"

#include <algorithm>

namespace rwkv {
namespace server {

size_t PrefixCache::lookup(const int32_t* tokens, size_t max_len, std::vector<float>* state) {
  std::lock_guard<std::mutex> lock(mu_);
  auto best = lru_.end();
  for (auto it = lru_.begin(); it != lru_.end(); ++it) {
    const size_t n = it->key.size();
    if (n > max_len || (best != lru_.end() && n <= best->key.size())) continue;
    if (std::equal(it->key.begin(), it->key.end(), tokens)) best = it;
  }
  if (best == lru_.end()) {
    ++counts_.misses;
    return 0;
  }
  lru_.splice(lru_.begin(), lru_, best);  // most recently used
  ++counts_.hits;
  counts_.tokens_saved += best->key.size();
  *state = best->state;
  return best->key.size();
}

void PrefixCache::insert(const int32_t* tokens, size_t len, const float* state, size_t floats) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = lru_.begin(); it != lru_.end(); ++it)
    if (it->key.size() == len && std::equal(it->key.begin(), it->key.end(), tokens)) {
      it->state.assign(state, state + floats);  // the same prefix gives the same state: refresh
      lru_.splice(lru_.begin(), lru_, it);
      return;
    }
  Entry e;
  e.key.assign(tokens, tokens + len);
  e.state.assign(state, state + floats);
  const size_t bytes = e.bytes();
  if (bytes > capacity_) return;
  evict_to(capacity_ - bytes);
  lru_.push_front(std::move(e));
  bytes_ += bytes;
  ++counts_.inserts;
}

void PrefixCache::evict_to(size_t limit) {
  while (bytes_ > limit && !lru_.empty()) {
    bytes_ -= lru_.back().bytes();
    lru_.pop_back();
    ++counts_.evictions;
  }
}

PrefixCacheStats PrefixCache::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  PrefixCacheStats s = counts_;
  s.entries = lru_.size();
  s.bytes = bytes_;
  s.capacity = capacity_;
  return s;
}

}  // namespace server
}  // namespace rwkv
