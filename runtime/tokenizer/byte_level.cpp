// runtime/tokenizer/byte_level.cpp: see byte_level.h.
#include "runtime/tokenizer/byte_level.h"

#include "runtime/tokenizer/unicode_text.h"

namespace rwkv {
namespace {

bool printable(unsigned b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); }

// Byte for character c, or -1 when c is not in the map.
int byte_of_char(uint32_t c) {
  if (c < 0x100) return printable(c) ? int(c) : -1;
  if (c >= 0x100 + 68) return -1;
  // c - 0x100 counts the non-printable bytes below the one it stands for.
  struct Table {
    uint8_t byte[68];
    Table() {
      unsigned k = 0;
      for (unsigned b = 0; b < 256; ++b) {
        if (!printable(b)) byte[k++] = uint8_t(b);
      }
    }
  };
  static const Table table;  // immutable after its thread-safe initialisation
  return table.byte[c - 0x100];
}

}  // namespace

uint32_t byte_level_char(uint8_t b) {
  if (printable(b)) return b;
  uint32_t k = 0;
  for (unsigned x = 0; x < b; ++x) {
    if (!printable(x)) ++k;
  }
  return 0x100 + k;
}

std::string byte_level_token_bytes(const std::string& token) {
  if (!is_valid_utf8(token)) return token;
  std::string out;
  for (size_t i = 0; i < token.size();) {
    const int b = byte_of_char(utf8_next(token, i));
    if (b < 0) return token;
    out += char(b);
  }
  return out;
}

}  // namespace rwkv
