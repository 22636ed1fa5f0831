// runtime/tokenizer/world_vocab.cpp: see world_vocab.h.
#include "runtime/tokenizer/world_vocab.h"

#include <cstdint>
#include <cstdio>

#include "runtime/core/error.h"
#include "runtime/tokenizer/unicode_text.h"

namespace rwkv {
namespace {

constexpr int64_t kMaxWorldId = 1 << 24;  // refuse absurd ids instead of allocating for them

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads exactly `n` hex digits at lit[i]; advances i.
uint32_t read_hex(const std::string& lit, size_t& i, int n, size_t end) {
  uint32_t v = 0;
  for (int k = 0; k < n; ++k, ++i) {
    if (i >= end || hex_value(lit[i]) < 0) throw Error("truncated \\x, \\u or \\U escape");
    v = v * 16 + uint32_t(hex_value(lit[i]));
  }
  return v;
}

// Parses a decimal integer filling all of `s` (no sign); -1 if not one.
int64_t parse_count(const std::string& s) {
  if (s.empty() || s.size() > 12) return -1;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

std::string trim(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && (s[a] == ' ' || s[a] == '\t')) ++a;
  while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t')) --b;
  return s.substr(a, b - a);
}

}  // namespace

std::string decode_python_literal(const std::string& lit) {
  size_t i = 0;
  bool is_bytes = false;
  if (i < lit.size() && (lit[i] == 'b' || lit[i] == 'B')) {
    is_bytes = true;
    ++i;
  } else if (i < lit.size() && (lit[i] == 'u' || lit[i] == 'U')) {
    ++i;
  }
  if (i >= lit.size() || (lit[i] != '\'' && lit[i] != '"')) throw Error("expected a quoted string literal");
  const char quote = lit[i++];
  if (lit.size() < i + 1 || lit.back() != quote) throw Error("unterminated string literal");
  if (lit.compare(i - 1, 3, std::string(3, quote)) == 0 && lit.size() >= i + 2) {
    throw Error("triple-quoted literals are not supported");
  }
  const size_t end = lit.size() - 1;  // index of the closing quote
  std::string out;
  while (i < end) {
    const unsigned char c = static_cast<unsigned char>(lit[i]);
    if (c == quote) throw Error("unescaped quote inside the literal");
    if (c != '\\') {
      if (is_bytes && c >= 0x80) throw Error("non-ASCII character in a bytes literal");
      out += char(c);
      ++i;
      continue;
    }
    if (++i >= end) throw Error("literal ends with a backslash");
    const char e = lit[i++];
    switch (e) {
      case '\\': out += '\\'; break;
      case '\'': out += '\''; break;
      case '"': out += '"'; break;
      case 'a': out += '\a'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'v': out += '\v'; break;
      case 'x': {
        const uint32_t v = read_hex(lit, i, 2, end);
        if (is_bytes) out += char(v);
        else append_utf8(out, v);  // a str code point, encoded as UTF-8
        break;
      }
      case 'u':
      case 'U': {
        if (is_bytes) {  // not an escape in bytes literals: kept as written
          out += '\\';
          out += e;
          break;
        }
        const uint32_t v = read_hex(lit, i, e == 'u' ? 4 : 8, end);
        if (v > 0x10FFFF) throw Error("\\U escape beyond U+10FFFF");
        if (v >= 0xD800 && v <= 0xDFFF) throw Error("surrogate code point cannot be encoded as UTF-8");
        append_utf8(out, v);
        break;
      }
      case 'N':
        if (!is_bytes) throw Error("\\N{...} escapes are not supported");
        out += "\\N";
        break;
      default:
        if (e >= '0' && e <= '7') {
          uint32_t v = uint32_t(e - '0');
          for (int k = 0; k < 2 && i < end && lit[i] >= '0' && lit[i] <= '7'; ++k) v = v * 8 + uint32_t(lit[i++] - '0');
          if (is_bytes) {
            if (v > 0xFF) throw Error("octal escape above \\377 in a bytes literal");
            out += char(v);
          } else {
            append_utf8(out, v);
          }
        } else {  // unknown escape: Python keeps the backslash
          out += '\\';
          out += e;
        }
    }
  }
  return out;
}

std::vector<std::string> parse_world_vocab(const std::string& content, const std::string& source) {
  std::vector<std::string> tokens(65536);
  std::vector<bool> seen(65536, false);
  size_t line_no = 0, pos = 0;
  int64_t max_id = 0;
  while (pos < content.size()) {
    size_t nl = content.find('\n', pos);
    if (nl == std::string::npos) nl = content.size();
    std::string line = content.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;  // e.g. a final blank line
    const std::string where = source + ":" + std::to_string(line_no) + ": ";
    try {
      if (!is_valid_utf8(line)) throw Error("line is not valid UTF-8");
      const size_t first = line.find(' ');
      const size_t last = line.rfind(' ');
      if (first == std::string::npos || last == first) {
        throw Error("expected '<id> <literal> <byte length>'");
      }
      const int64_t id = parse_count(line.substr(0, first));
      if (id < 0) throw Error("bad token id '" + line.substr(0, first) + "'");
      if (id >= kMaxWorldId) throw Error("token id " + std::to_string(id) + " is too large");
      const int64_t len = parse_count(trim(line.substr(last + 1)));
      if (len < 0) throw Error("bad byte length '" + line.substr(last + 1) + "'");
      std::string bytes = decode_python_literal(trim(line.substr(first + 1, last - first - 1)));
      if (int64_t(bytes.size()) != len) {
        throw Error("literal has " + std::to_string(bytes.size()) + " bytes, the line says " + std::to_string(len));
      }
      if (bytes.empty()) throw Error("empty token");
      if (size_t(id) >= tokens.size()) {
        tokens.resize(size_t(id) + 1);
        seen.resize(size_t(id) + 1, false);
      }
      if (seen[size_t(id)]) throw Error("duplicate token id " + std::to_string(id));
      seen[size_t(id)] = true;
      tokens[size_t(id)] = std::move(bytes);
      if (id > max_id) max_id = id;
    } catch (const Error& e) {
      throw Error(where + e.what());
    }
  }
  // The greedy match needs every single byte to be a token.
  std::vector<bool> have_byte(256, false);
  for (const auto& t : tokens) {
    if (t.size() == 1) have_byte[static_cast<unsigned char>(t[0])] = true;
  }
  for (int b = 0; b < 256; ++b) {
    if (!have_byte[size_t(b)]) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02x", b);
      throw Error(source + ": not a World vocabulary: no token for the single byte " + hex);
    }
  }
  return tokens;
}

}  // namespace rwkv
