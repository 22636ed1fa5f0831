// runtime/tokenizer/gpt2_split.cpp: see gpt2_split.h.
//
// At each position the alternatives are tried in order, as a backtracking
// regex engine does:
//   1. an apostrophe followed by s, t, re, ve, m, ll or d (case-sensitive);
//   2-4. an optional U+0020 then a run of letters / numbers / other characters
//        (the space is taken only if the run can start right after it);
//   5. \s+(?!\S): a whitespace run of length R ending the text matches whole;
//      followed by a non-space it gives back its last character, which
//      fails when R == 1, and then
//   6. \s+ takes the single whitespace character.
#include "runtime/tokenizer/gpt2_split.h"

#include <cstdint>

#include "runtime/tokenizer/unicode_text.h"

namespace rwkv {

namespace {

struct Char {
  uint32_t cp;
  CharClass cls;
  size_t next;  // byte offset of the following character
};

Char char_at(const std::string& text, size_t i) {
  Char c;
  c.next = i;
  c.cp = utf8_next(text, c.next);
  c.cls = char_class(c.cp);
  return c;
}

// End of the run of class `cls` that starts at byte offset j.
size_t run_end(const std::string& text, size_t j, CharClass cls) {
  while (j < text.size()) {
    const Char c = char_at(text, j);
    if (c.cls != cls) break;
    j = c.next;
  }
  return j;
}

}  // namespace

void gpt2_split(const std::string& text, std::vector<std::pair<size_t, size_t>>& pieces) {
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const Char c0 = char_at(text, i);
    size_t end = 0;
    // 1. contractions (ASCII bytes never occur inside a multi-byte character)
    if (c0.cp == '\'' && c0.next < n) {
      const char a = text[c0.next];
      const char b = c0.next + 1 < n ? text[c0.next + 1] : '\0';
      if (a == 's' || a == 't' || a == 'm' || a == 'd') {
        end = c0.next + 1;
      } else if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) {
        end = c0.next + 2;
      }
    }
    // 2-4. optional space, then a run of one class (letters, numbers, other)
    if (!end && c0.cp == ' ' && c0.next < n) {
      const Char c1 = char_at(text, c0.next);
      if (c1.cls != CharClass::space) end = run_end(text, c1.next, c1.cls);
    }
    if (!end && c0.cls != CharClass::space) end = run_end(text, c0.next, c0.cls);
    // 5-6. whitespace
    if (!end) {
      size_t j = i, last = i, count = 0;
      while (j < n) {
        const Char c = char_at(text, j);
        if (c.cls != CharClass::space) break;
        last = j;
        j = c.next;
        ++count;
      }
      if (j == n) {
        end = n;  // the run ends the text
      } else if (count >= 2) {
        end = last;  // give back the last whitespace character
      } else {
        end = j;  // \s+ alone
      }
    }
    pieces.emplace_back(i, end);
    i = end;
  }
}

}  // namespace rwkv
