// runtime/model/json.cpp: strict recursive-descent JSON parser.
#include "runtime/model/json.h"

#include <charconv>
#include <set>

namespace rwkv {

const JsonValue* JsonValue::find(const std::string& key) const {
  if (kind != Object) return nullptr;
  for (const auto& kv : object)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

const JsonValue& JsonValue::at(const std::string& key) const {
  const JsonValue* v = find(key);
  if (!v) throw Error("JSON: missing key '" + key + "'");
  return *v;
}

namespace {

constexpr int kMaxDepth = 64;

class Parser {
 public:
  Parser(const char* p, size_t n, const std::string& what) : p_(p), n_(n), what_(what) {}

  JsonValue document() {
    JsonValue v = value(0);
    skip_ws();
    if (i_ != n_) fail("trailing characters after the JSON value");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& msg) const {
    throw Error(what_ + ": invalid JSON: " + msg + " at byte " + std::to_string(i_));
  }
  void skip_ws() {
    while (i_ < n_ && (p_[i_] == ' ' || p_[i_] == '\t' || p_[i_] == '\n' || p_[i_] == '\r')) i_++;
  }
  char peek() {
    skip_ws();
    if (i_ >= n_) fail("unexpected end of input");
    return p_[i_];
  }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    i_++;
  }
  void literal(const char* word) {
    for (const char* w = word; *w; w++, i_++)
      if (i_ >= n_ || p_[i_] != *w) fail(std::string("bad literal (expected ") + word + ")");
  }

  JsonValue value(int depth) {
    if (depth > kMaxDepth) fail("nesting deeper than 64");
    JsonValue v;
    char c = peek();
    if (c == '{') {
      v.kind = JsonValue::Object;
      i_++;
      std::set<std::string> seen;
      if (peek() == '}') {
        i_++;
        return v;
      }
      for (;;) {
        if (peek() != '"') fail("expected a string key");
        std::string key = string();
        if (!seen.insert(key).second) fail("duplicate key '" + key + "'");
        expect(':');
        v.object.emplace_back(std::move(key), value(depth + 1));
        char d = peek();
        i_++;
        if (d == '}') return v;
        if (d != ',') fail("expected ',' or '}'");
      }
    }
    if (c == '[') {
      v.kind = JsonValue::Array;
      i_++;
      if (peek() == ']') {
        i_++;
        return v;
      }
      for (;;) {
        v.array.push_back(value(depth + 1));
        char d = peek();
        i_++;
        if (d == ']') return v;
        if (d != ',') fail("expected ',' or ']'");
      }
    }
    if (c == '"') {
      v.kind = JsonValue::String;
      v.string = string();
      return v;
    }
    if (c == 't') { literal("true"); v.kind = JsonValue::Bool; v.boolean = true; return v; }
    if (c == 'f') { literal("false"); v.kind = JsonValue::Bool; return v; }
    if (c == 'n') { literal("null"); return v; }
    if (c == '-' || (c >= '0' && c <= '9')) return number();
    fail(std::string("unexpected character"));
  }

  JsonValue number() {
    size_t start = i_;
    bool integral = true;
    if (p_[i_] == '-') i_++;
    if (i_ >= n_) fail("bad number");
    if (p_[i_] == '0') {
      i_++;
    } else if (p_[i_] >= '1' && p_[i_] <= '9') {
      while (i_ < n_ && p_[i_] >= '0' && p_[i_] <= '9') i_++;
    } else {
      fail("bad number");
    }
    if (i_ < n_ && p_[i_] == '.') {
      integral = false;
      i_++;
      if (i_ >= n_ || p_[i_] < '0' || p_[i_] > '9') fail("bad number fraction");
      while (i_ < n_ && p_[i_] >= '0' && p_[i_] <= '9') i_++;
    }
    if (i_ < n_ && (p_[i_] == 'e' || p_[i_] == 'E')) {
      integral = false;
      i_++;
      if (i_ < n_ && (p_[i_] == '+' || p_[i_] == '-')) i_++;
      if (i_ >= n_ || p_[i_] < '0' || p_[i_] > '9') fail("bad number exponent");
      while (i_ < n_ && p_[i_] >= '0' && p_[i_] <= '9') i_++;
    }
    JsonValue v;
    v.kind = JsonValue::Number;
    auto r = std::from_chars(p_ + start, p_ + i_, v.number);
    if (r.ec == std::errc::invalid_argument) fail("bad number");
    // out of range: from_chars leaves the value unset; treat as +-inf / 0 is not
    // wanted for a strict reader
    if (r.ec == std::errc::result_out_of_range) fail("number out of range");
    if (integral) {
      auto ri = std::from_chars(p_ + start, p_ + i_, v.integer);
      v.is_integer = ri.ec == std::errc() && ri.ptr == p_ + i_;
    }
    return v;
  }

  unsigned hex4() {
    if (n_ - i_ < 4) fail("short \\u escape");
    unsigned u = 0;
    for (int k = 0; k < 4; k++) {
      char h = p_[i_++];
      u <<= 4;
      if (h >= '0' && h <= '9') u |= unsigned(h - '0');
      else if (h >= 'a' && h <= 'f') u |= unsigned(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') u |= unsigned(h - 'A' + 10);
      else fail("bad hex digit in \\u escape");
    }
    return u;
  }
  static void put_utf8(std::string& s, uint32_t cp) {
    if (cp < 0x80) {
      s += char(cp);
    } else if (cp < 0x800) {
      s += char(0xc0 | (cp >> 6));
      s += char(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      s += char(0xe0 | (cp >> 12));
      s += char(0x80 | ((cp >> 6) & 0x3f));
      s += char(0x80 | (cp & 0x3f));
    } else {
      s += char(0xf0 | (cp >> 18));
      s += char(0x80 | ((cp >> 12) & 0x3f));
      s += char(0x80 | ((cp >> 6) & 0x3f));
      s += char(0x80 | (cp & 0x3f));
    }
  }
  // One UTF-8 sequence starting at i_, validated (no overlongs, no surrogates).
  void utf8_char(std::string& s) {
    unsigned char c = static_cast<unsigned char>(p_[i_]);
    int len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
    if (len == 0 || c > 0xf4 || c == 0xc0 || c == 0xc1) fail("invalid UTF-8");
    if (n_ - i_ < size_t(len)) fail("truncated UTF-8");
    uint32_t cp = c & (0x7f >> len);
    for (int k = 1; k < len; k++) {
      unsigned char cc = static_cast<unsigned char>(p_[i_ + size_t(k)]);
      if ((cc & 0xc0) != 0x80) fail("invalid UTF-8");
      cp = (cp << 6) | (cc & 0x3f);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) fail("invalid UTF-8");
    s.append(p_ + i_, size_t(len));
    i_ += size_t(len);
  }

  std::string string() {
    i_++;  // opening quote
    std::string s;
    for (;;) {
      if (i_ >= n_) fail("unterminated string");
      unsigned char c = static_cast<unsigned char>(p_[i_]);
      if (c == '"') {
        i_++;
        return s;
      }
      if (c < 0x20) fail("control character in string");
      if (c >= 0x80) {
        utf8_char(s);
        continue;
      }
      i_++;
      if (c != '\\') {
        s += char(c);
        continue;
      }
      if (i_ >= n_) fail("unterminated escape");
      char e = p_[i_++];
      switch (e) {
        case '"': s += '"'; break;
        case '\\': s += '\\'; break;
        case '/': s += '/'; break;
        case 'b': s += '\b'; break;
        case 'f': s += '\f'; break;
        case 'n': s += '\n'; break;
        case 'r': s += '\r'; break;
        case 't': s += '\t'; break;
        case 'u': {
          uint32_t cp = hex4();
          if (cp >= 0xdc00 && cp <= 0xdfff) fail("lone low surrogate");
          if (cp >= 0xd800 && cp <= 0xdbff) {
            if (n_ - i_ < 2 || p_[i_] != '\\' || p_[i_ + 1] != 'u') fail("lone high surrogate");
            i_ += 2;
            uint32_t lo = hex4();
            if (lo < 0xdc00 || lo > 0xdfff) fail("bad surrogate pair");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          }
          put_utf8(s, cp);
          break;
        }
        default: fail("bad escape");
      }
    }
  }

  const char* p_;
  size_t n_;
  std::string what_;
  size_t i_ = 0;
};

}  // namespace

JsonValue parse_json(const char* text, size_t size, const std::string& what) {
  return Parser(text, size, what).document();
}

}  // namespace rwkv
