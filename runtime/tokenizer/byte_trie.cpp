// runtime/tokenizer/byte_trie.cpp: see byte_trie.h.
#include "runtime/tokenizer/byte_trie.h"

#include <algorithm>
#include <utility>

namespace rwkv {

ByteTrie::ByteTrie(const std::vector<std::string>& keys) {
  // Build with plain child lists, then pack them.
  std::vector<std::vector<std::pair<uint8_t, int32_t>>> kids(1);
  std::vector<int32_t> values(1, -1);
  for (size_t id = 0; id < keys.size(); ++id) {
    const std::string& key = keys[id];
    if (key.empty()) continue;
    int32_t node = 0;
    for (unsigned char b : key) {
      int32_t next = -1;
      for (const auto& e : kids[size_t(node)]) {
        if (e.first == b) {
          next = e.second;
          break;
        }
      }
      if (next < 0) {
        next = int32_t(kids.size());
        kids[size_t(node)].emplace_back(b, next);
        kids.emplace_back();
        values.push_back(-1);
      }
      node = next;
    }
    values[size_t(node)] = int32_t(id);
  }

  nodes_.resize(kids.size());
  for (size_t n = 0; n < kids.size(); ++n) {
    auto& list = kids[n];
    std::sort(list.begin(), list.end());
    Node& node = nodes_[n];
    node.value = values[n];
    node.count = uint16_t(list.size());
    if (list.size() >= kDenseFrom) {
      node.dense = true;
      node.first = uint32_t(dense_.size() / 256);
      dense_.resize(dense_.size() + 256, -1);
      for (const auto& e : list) dense_[size_t(node.first) * 256 + e.first] = e.second;
    } else {
      node.first = uint32_t(edge_byte_.size());
      for (const auto& e : list) {
        edge_byte_.push_back(e.first);
        edge_child_.push_back(e.second);
      }
    }
  }
}

}  // namespace rwkv
