// runtime/generate/utf8_stream.h: token bytes in, complete UTF-8 text out.
//
// A multi-byte character can be split over several tokens (World and 20B
// tokens are byte strings, not characters). Utf8Stream holds back the bytes of
// a character that is still incomplete and releases it once its last byte
// arrives. Bytes that cannot be (part of) well-formed UTF-8 become U+FFFD, one
// per maximal invalid subpart (the Unicode "substitution of maximal subparts"
// practice, as Python's errors='replace'), as soon as they are known to be
// invalid; an incomplete character still held at finish() becomes one U+FFFD.
// So the concatenation of every push() and finish() equals utf8_lossy() of all
// the bytes (runtime/tokenizer/unicode_text.h), whatever the split.
#pragma once

#include <string>
#include <string_view>

namespace rwkv {

class Utf8Stream {
 public:
  // Appends bytes; returns the text that became complete (valid UTF-8, maybe empty).
  std::string push(std::string_view bytes);

  // Ends the stream: the held-back bytes as U+FFFD ("" when none); empties the buffer.
  std::string finish();

  // Number of bytes held back (0..3).
  size_t held() const { return held_.size(); }

 private:
  std::string held_;
};

}  // namespace rwkv
