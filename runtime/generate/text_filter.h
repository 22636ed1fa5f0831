// runtime/generate/text_filter.h: a generation's token bytes on their way to
// the user: complete UTF-8 characters only (Utf8Stream), then the stop strings
// (StopStringFilter). One per generation; used by rwkv::generate and by the
// server's scheduler (server/scheduler.cpp), so both emit the same text.
#pragma once

#include <string>
#include <vector>

#include "runtime/generate/stop_strings.h"
#include "runtime/generate/utf8_stream.h"

namespace rwkv {

class TextFilter {
 public:
  // Throws rwkv::Error for a stop string that is not well-formed UTF-8.
  explicit TextFilter(std::vector<std::string> stops) : stops_(std::move(stops)) {}

  // A token's bytes in; the text that can be emitted now out. *stopped: a stop
  // string completed (the text is what precedes it; the filter is done).
  std::string push(const std::string& bytes, bool* stopped) { return stops_.push(utf8_.push(bytes), stopped); }

  // End of generation: what was held back (an incomplete character as U+FFFD,
  // which may still complete a stop string: *stopped says so; else a partial stop
  // string as text).
  std::string finish(bool* stopped) {
    std::string piece = stops_.push(utf8_.finish(), stopped);
    if (!*stopped) piece += stops_.finish();
    return piece;
  }

 private:
  Utf8Stream utf8_;
  StopStringFilter stops_;
};

}  // namespace rwkv
