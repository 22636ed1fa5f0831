// runtime/generate/stop_strings.h: text-level stop strings.
//
// Generation ends as soon as the generated text contains one of the stop
// strings: at the first position where one ends (if several end there, the
// longest counts). The text before it is emitted, the stop string itself and
// anything after it are not. The result does not depend on how the text is
// split into pieces. A stop string may span several tokens, so text that could still be
// the beginning of a stop string is held back until it is known not to be.
#pragma once

#include <string>
#include <vector>

namespace rwkv {

class StopStringFilter {
 public:
  // Empty strings are ignored. Throws rwkv::Error for a string that is not
  // well-formed UTF-8 (it could never match the stream's text).
  explicit StopStringFilter(std::vector<std::string> stops);

  // Appends complete UTF-8 text; returns the text that can be emitted now. Sets
  // *stopped when a stop string is complete: the returned text is then what
  // precedes it, and the filter must not be used further.
  std::string push(const std::string& text, bool* stopped);

  // Ends the stream: the text held back (a partial stop string that never completed).
  std::string finish();

 private:
  std::vector<std::string> stops_;
  std::string held_;
};

}  // namespace rwkv
