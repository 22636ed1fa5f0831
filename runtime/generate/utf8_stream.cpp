// runtime/generate/utf8_stream.cpp: see utf8_stream.h.
#include "runtime/generate/utf8_stream.h"

#include <cstdint>

namespace rwkv {
namespace {

constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD

// Well-formed UTF-8 (Unicode 15, table 3-7): for a lead byte, the sequence
// length and the allowed range of the second byte (later bytes: 80..BF).
// Returns 0 for a byte that cannot start a sequence.
int sequence_length(uint8_t b, uint8_t* lo, uint8_t* hi) {
  *lo = 0x80;
  *hi = 0xBF;
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) return 2;
  if (b == 0xE0) { *lo = 0xA0; return 3; }
  if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) return 3;
  if (b == 0xED) { *hi = 0x9F; return 3; }  // no surrogates
  if (b == 0xF0) { *lo = 0x90; return 4; }  // no overlongs
  if (b >= 0xF1 && b <= 0xF3) return 4;
  if (b == 0xF4) { *hi = 0x8F; return 4; }  // <= U+10FFFF
  return 0;
}

}  // namespace

std::string Utf8Stream::push(std::string_view bytes) {
  held_.append(bytes.data(), bytes.size());
  std::string out;
  const auto* p = reinterpret_cast<const uint8_t*>(held_.data());
  const size_t n = held_.size();
  size_t i = 0;
  while (i < n) {
    uint8_t lo, hi;
    const int len = sequence_length(p[i], &lo, &hi);
    if (len == 0) {  // stray continuation byte, C0/C1, F5..FF
      out += kReplacement;
      ++i;
      continue;
    }
    // Count the valid bytes of this sequence that are present.
    int k = 1;
    while (k < len && i + k < n) {
      const uint8_t c = p[i + k];
      const bool ok = k == 1 ? (c >= lo && c <= hi) : (c >= 0x80 && c <= 0xBF);
      if (!ok) break;
      ++k;
    }
    if (k == len) {
      out.append(held_, i, size_t(len));
      i += size_t(len);
    } else if (i + k == n) {
      break;  // a valid but incomplete prefix at the end: hold it back
    } else {
      out += kReplacement;  // maximal invalid subpart p[i, i+k)
      i += size_t(k);
    }
  }
  held_.erase(0, i);
  return out;
}

std::string Utf8Stream::finish() {
  const bool any = !held_.empty();
  held_.clear();
  return any ? std::string(kReplacement) : std::string();
}

}  // namespace rwkv
