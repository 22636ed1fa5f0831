// runtime/tokenizer/unicode_text.cpp: UTF-8 decoding and Unicode properties.
#include "runtime/tokenizer/unicode_text.h"

#include <utf8proc.h>

#include <cstdlib>
#include <memory>

#include "runtime/core/error.h"

namespace rwkv {
namespace {

// Length of the well-formed sequence starting at p[0] (1..4), or, when it is
// ill-formed, minus the length of its maximal invalid subpart (-1..-3).
// Table 3-7 of the Unicode standard gives the valid second-byte ranges.
int utf8_sequence(const uint8_t* p, const uint8_t* end) {
  const uint8_t b0 = p[0];
  if (b0 < 0x80) return 1;
  int need;
  uint8_t lo = 0x80, hi = 0xBF;  // range allowed for the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;  // <= U+10FFFF
  } else {
    return -1;  // 0x80..0xC1, 0xF5..0xFF never start a sequence
  }
  int got = 1;
  for (int k = 1; k <= need; ++k) {
    if (p + k >= end) return -got;
    const uint8_t b = p[k];
    const bool ok = k == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF);
    if (!ok) return -got;
    ++got;
  }
  return got;
}

}  // namespace

bool is_valid_utf8(const std::string& s) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    if (*p < 0x80) {
      ++p;
      continue;
    }
    const int n = utf8_sequence(p, end);
    if (n < 0) return false;
    p += n;
  }
  return true;
}

std::string utf8_lossy(const std::string& s) {
  if (is_valid_utf8(s)) return s;
  std::string out;
  out.reserve(s.size() + 16);
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    const int n = utf8_sequence(p, end);
    if (n > 0) {
      out.append(reinterpret_cast<const char*>(p), n);
      p += n;
    } else {
      out += "\xEF\xBF\xBD";  // U+FFFD
      p += -n;
    }
  }
  return out;
}

size_t utf8_invalid_bytes(const std::string& s) {
  size_t bad = 0;
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    const int n = utf8_sequence(p, end);
    if (n <= 0) bad += size_t(-n);
    p += n > 0 ? n : -n;
  }
  return bad;
}

uint32_t utf8_next(const std::string& s, size_t& i) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data()) + i;
  const uint8_t b0 = p[0];
  if (b0 < 0x80) {
    i += 1;
    return b0;
  }
  if (b0 < 0xE0) {
    i += 2;
    return (uint32_t(b0 & 0x1F) << 6) | (p[1] & 0x3F);
  }
  if (b0 < 0xF0) {
    i += 3;
    return (uint32_t(b0 & 0x0F) << 12) | (uint32_t(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
  }
  i += 4;
  return (uint32_t(b0 & 0x07) << 18) | (uint32_t(p[1] & 0x3F) << 12) | (uint32_t(p[2] & 0x3F) << 6) |
         (p[3] & 0x3F);
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

// Code points at or above U+0300 that NFC never changes and that never
// combine with the character before them: ccc 0, NFC_QC Yes, not the second
// element of any canonical composition (Hangul V and T jamo included).
// Checked for every code point of these ranges against the Unicode data.
bool nfc_inert(uint32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) ||  // CJK unified ideographs
         (cp >= 0x3000 && cp <= 0x3029) ||  // CJK symbols (U+302A..302F are combining)
         (cp >= 0x3030 && cp <= 0x3096) ||  // ... and Hiragana (U+3099, U+309A are combining)
         (cp >= 0x309B && cp <= 0x30FF) ||  // Katakana
         (cp >= 0xAC00 && cp <= 0xD7A3) ||  // Hangul syllables
         (cp >= 0xFF00 && cp <= 0xFFEF);    // half- and full-width forms
}

std::string nfc(const std::string& valid_utf8) {
  // Fast path: text made only of code points below U+0300 (nothing there
  // decomposes canonically, and every second element of a canonical
  // composition is U+0300 or above) and of nfc_inert() ones is already NFC.
  bool simple = true;
  for (size_t i = 0; i < valid_utf8.size();) {
    if (static_cast<unsigned char>(valid_utf8[i]) < 0xCC) {  // lead bytes below U+0300
      i += static_cast<unsigned char>(valid_utf8[i]) < 0x80 ? 1 : 2;
      continue;
    }
    if (!nfc_inert(utf8_next(valid_utf8, i))) {
      simple = false;
      break;
    }
  }
  if (simple) return valid_utf8;
  utf8proc_uint8_t* out = nullptr;
  const utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(valid_utf8.data()),
                   utf8proc_ssize_t(valid_utf8.size()), &out,
                   utf8proc_option_t(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (n < 0) {
    throw Error(std::string("NFC normalisation failed: ") + utf8proc_errmsg(n));
  }
  std::unique_ptr<utf8proc_uint8_t, void (*)(void*)> hold(out, std::free);
  return std::string(reinterpret_cast<const char*>(out), size_t(n));
}

CharClass char_class(uint32_t cp) {
  if (cp < 0x80) {
    if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')) return CharClass::letter;
    if (cp >= '0' && cp <= '9') return CharClass::number;
    if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D)) return CharClass::space;
    return CharClass::other;
  }
  if (cp == 0x85) return CharClass::space;
  switch (utf8proc_category(utf8proc_int32_t(cp))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
      return CharClass::letter;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return CharClass::number;
    // White_Space = Zs + Zl + Zp + U+0009..U+000D + U+0085.
    case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
      return CharClass::space;
    default:
      return CharClass::other;
  }
}

}  // namespace rwkv
