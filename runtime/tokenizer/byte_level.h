// runtime/tokenizer/byte_level.h: GPT-2's reversible byte <-> character map
// (bytes_to_unicode): the printable bytes '!'..'~', 0xA1..0xAC and 0xAE..0xFF
// stand for themselves; the other 68 bytes, in increasing order, become
// U+0100, U+0101, ... (so the space 0x20 is U+0120 'Ġ').
#pragma once

#include <cstdint>
#include <string>

namespace rwkv {

// The character standing for byte b.
uint32_t byte_level_char(uint8_t b);

// Bytes of a byte-level token string, as the Hugging Face ByteLevel decoder
// does it: every character mapped back to its byte, or, if any character of
// the token is outside the map, the token's own UTF-8 bytes.
std::string byte_level_token_bytes(const std::string& token);

}  // namespace rwkv
