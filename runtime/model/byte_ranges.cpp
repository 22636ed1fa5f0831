// runtime/model/byte_ranges.cpp: see byte_ranges.h.
#include "runtime/model/byte_ranges.h"

#include <algorithm>

#include "runtime/core/error.h"

namespace rwkv {

void check_disjoint(std::vector<ByteRange>& ranges, const std::string& what) {
  ranges.erase(std::remove_if(ranges.begin(), ranges.end(), [](const ByteRange& r) { return r.end <= r.begin; }),
               ranges.end());
  std::sort(ranges.begin(), ranges.end(), [](const ByteRange& a, const ByteRange& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.name < b.name;
  });
  // After sorting by start, a range overlaps an earlier one exactly when it
  // starts before the furthest end seen so far.
  size_t furthest = 0;
  for (size_t i = 1; i < ranges.size(); ++i) {
    const ByteRange& prev = ranges[furthest];
    const ByteRange& cur = ranges[i];
    if (cur.begin < prev.end)
      throw Error(what + ": tensors '" + prev.name + "' and '" + cur.name + "' share bytes " +
                  std::to_string(cur.begin) + ".." + std::to_string(std::min(prev.end, cur.end)) +
                  " of the file (aliased or overlapping tensor data is refused: each tensor needs its own bytes)");
    if (cur.end > prev.end) furthest = i;
  }
}

}  // namespace rwkv
