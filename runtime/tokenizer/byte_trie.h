// runtime/tokenizer/byte_trie.h: a read-only trie over byte strings for the
// greedy longest-match of the World tokenizer. Nodes with many children get a
// dense 256-entry table, the others a short sorted edge list.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace rwkv {

class ByteTrie {
 public:
  // keys[i] -> value i for every non-empty key; a key repeated later wins.
  explicit ByteTrie(const std::vector<std::string>& keys);

  // Longest key that is a prefix of [p, end): returns its length (0 when no
  // key matches) and stores its value in *value.
  size_t longest_match(const uint8_t* p, const uint8_t* end, int32_t* value) const {
    uint32_t node = 0;
    size_t best = 0;
    for (const uint8_t* q = p; q < end; ++q) {
      const int32_t child = child_of(node, *q);
      if (child < 0) break;
      node = uint32_t(child);
      if (nodes_[node].value >= 0) {
        best = size_t(q - p) + 1;
        *value = nodes_[node].value;
      }
    }
    return best;
  }

 private:
  struct Node {
    int32_t value = -1;  // -1: no key ends here
    uint32_t first = 0;  // dense: row in dense_; else first index in edge_byte_/edge_child_
    uint16_t count = 0;  // number of children
    bool dense = false;
  };
  static constexpr uint16_t kDenseFrom = 8;  // children count that gets a dense table

  int32_t child_of(uint32_t node, uint8_t b) const {
    const Node& n = nodes_[node];
    if (n.dense) return dense_[size_t(n.first) * 256 + b];
    const uint8_t* bytes = edge_byte_.data() + n.first;
    for (uint16_t k = 0; k < n.count; ++k) {
      if (bytes[k] == b) return edge_child_[n.first + k];
      if (bytes[k] > b) break;
    }
    return -1;
  }

  std::vector<Node> nodes_;
  std::vector<uint8_t> edge_byte_;
  std::vector<int32_t> edge_child_;
  std::vector<int32_t> dense_;
};

}  // namespace rwkv
