// runtime/tokenizer/merge_table.h: BPE merges keyed by the pair of token ids
// (left, right) -> (rank, merged id). Open addressing with linear probing on a
// power-of-two table: the merge lookup is the BPE inner loop.
#pragma once

#include <cstdint>
#include <vector>

namespace rwkv {

class MergeTable {
 public:
  struct Merge {
    int32_t rank;
    int32_t new_id;
  };

  // Sets the merge of (left, right), replacing an earlier one. Ids are >= 0.
  void set(int32_t left, int32_t right, Merge m) {
    if ((count_ + 1) * 2 > slots_.size()) grow();
    Slot& s = slots_[find_slot(key(left, right))];
    if (s.key == kEmpty) ++count_;
    s.key = key(left, right);
    s.merge = m;
  }

  const Merge* find(int32_t left, int32_t right) const {
    if (slots_.empty()) return nullptr;
    const Slot& s = slots_[find_slot(key(left, right))];
    return s.key == kEmpty ? nullptr : &s.merge;
  }

 private:
  struct Slot {
    uint64_t key;
    Merge merge;
  };
  static constexpr uint64_t kEmpty = ~uint64_t(0);  // no (id >= 0, id >= 0) pair has this key

  static uint64_t key(int32_t l, int32_t r) { return (uint64_t(uint32_t(l)) << 32) | uint32_t(r); }

  size_t find_slot(uint64_t k) const {
    const size_t mask = slots_.size() - 1;
    size_t i = size_t((k * 0x9E3779B97F4A7C15ull) >> 32) & mask;
    while (slots_[i].key != kEmpty && slots_[i].key != k) i = (i + 1) & mask;
    return i;
  }

  void grow() {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(old.empty() ? 1024 : old.size() * 2, Slot{kEmpty, {0, 0}});
    for (const Slot& s : old) {
      if (s.key != kEmpty) slots_[find_slot(s.key)] = s;
    }
  }

  std::vector<Slot> slots_;
  size_t count_ = 0;
};

}  // namespace rwkv
