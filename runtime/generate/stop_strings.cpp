// runtime/generate/stop_strings.cpp: see stop_strings.h.
#include "runtime/generate/stop_strings.h"

#include <algorithm>

#include "runtime/model/model.h"
#include "runtime/tokenizer/unicode_text.h"

namespace rwkv {

StopStringFilter::StopStringFilter(std::vector<std::string> stops) {
  for (std::string& s : stops) {
    if (s.empty()) continue;
    if (!is_valid_utf8(s)) throw Error("stop string " + std::to_string(stops_.size()) + " is not valid UTF-8");
    stops_.push_back(std::move(s));
  }
}

std::string StopStringFilter::push(const std::string& text, bool* stopped) {
  *stopped = false;
  held_ += text;
  // The stop string that completes first: the smallest end position (the
  // text before this push held none), and among those ending there the one
  // that starts first. This does not depend on how the text was split.
  size_t best_end = std::string::npos, best_start = std::string::npos;
  for (const std::string& s : stops_) {
    const size_t at = held_.find(s);
    if (at == std::string::npos) continue;
    const size_t end = at + s.size();
    if (end < best_end || (end == best_end && at < best_start)) {
      best_end = end;
      best_start = at;
    }
  }
  if (best_start != std::string::npos) {
    *stopped = true;
    std::string out = held_.substr(0, best_start);
    held_.clear();
    return out;
  }
  // Hold back the longest suffix that is a proper prefix of a stop string. It
  // starts with a stop string's first byte, a lead byte, so the cut is at a
  // character boundary.
  size_t hold = 0;
  for (const std::string& s : stops_) {
    for (size_t k = std::min(s.size() - 1, held_.size()); k > hold; --k) {
      if (held_.compare(held_.size() - k, k, s, 0, k) == 0) {
        hold = k;
        break;
      }
    }
  }
  std::string out = held_.substr(0, held_.size() - hold);
  held_.erase(0, held_.size() - hold);
  return out;
}

std::string StopStringFilter::finish() {
  std::string out;
  out.swap(held_);
  return out;
}

}  // namespace rwkv
