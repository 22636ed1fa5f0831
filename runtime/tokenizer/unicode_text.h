// runtime/tokenizer/unicode_text.h: the UTF-8 and Unicode helpers the
// tokenizers need. Character data (categories, NFC) comes from utf8proc.
#pragma once

#include <cstdint>
#include <string>

namespace rwkv {

// True when `s` is well-formed UTF-8 (no surrogates, no overlongs, <= U+10FFFF).
bool is_valid_utf8(const std::string& s);

// `s` with every maximal invalid subpart replaced by U+FFFD (the Unicode
// "substitution of maximal subparts" practice that Python's errors='replace'
// and Rust's String::from_utf8_lossy follow). Valid input is returned as is.
std::string utf8_lossy(const std::string& s);

// The number of bytes of `s` that utf8_lossy() replaces (the bytes of its
// invalid subparts); 0 for valid UTF-8.
size_t utf8_invalid_bytes(const std::string& s);

// Decodes the code point at s[i] of a string known to be valid UTF-8 and
// advances i past it.
uint32_t utf8_next(const std::string& s, size_t& i);

void append_utf8(std::string& out, uint32_t cp);

// Canonical composition (NFC) of valid UTF-8 text.
std::string nfc(const std::string& valid_utf8);

// The classes the GPT-2 split pattern distinguishes: \p{L}, \p{N}, \s
// (the Unicode White_Space property, as Oniguruma's \s) and everything else.
enum class CharClass : uint8_t { letter, number, space, other };
CharClass char_class(uint32_t cp);

}  // namespace rwkv
