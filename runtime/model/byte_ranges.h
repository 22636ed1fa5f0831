// runtime/model/byte_ranges.h: the check that no two tensors of a file share
// bytes.
//
// A header may point several tensors at the same bytes (safetensors offsets,
// .pth views of one storage, overlapping zip entries). Such a file is not a
// checkpoint any trainer writes, and it lets a small file claim a huge model
// (every layer one shared block), so the readers refuse it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rwkv {

// Bytes [begin, end) of a file held by the tensor `name`.
struct ByteRange {
  uint64_t begin = 0, end = 0;
  std::string name;
};

// Throws rwkv::Error "<what>: tensors 'a' and 'b' share bytes X..Y of the file
// (...)" when two non-empty ranges overlap. O(n log n); reorders `ranges`.
void check_disjoint(std::vector<ByteRange>& ranges, const std::string& what);

}  // namespace rwkv
