// runtime/tokenizer/json_value.h: a small JSON reader (RFC 8259) for tokenizer
// files and test vectors. Strings are kept as UTF-8 (\uXXXX escapes, surrogate
// pairs included, are decoded). Object members keep file order; duplicates are
// kept and find() returns the last, as most JSON readers do.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace rwkv {
namespace tokjson {

struct Value {
  enum class Type { null, boolean, number, string, array, object };
  Type type = Type::null;
  int line = 0;  // line of the file where the value starts (1-based)
  bool boolean = false;
  double number = 0;
  std::string str;  // string value; for a number, its text as written
  std::vector<Value> items;                            // array
  std::vector<std::pair<std::string, Value>> members;  // object

  bool is_null() const { return type == Type::null; }
  bool is_string() const { return type == Type::string; }
  bool is_number() const { return type == Type::number; }
  bool is_array() const { return type == Type::array; }
  bool is_object() const { return type == Type::object; }
  bool is_bool() const { return type == Type::boolean; }

  // Object member by key (the last one of that name), or nullptr.
  const Value* find(const std::string& key) const;
  // True when the number is an integer that fits in int64_t.
  bool is_integer() const;
  int64_t as_int() const;  // is_integer() must hold
};

// Parses a whole JSON document. Throws rwkv::Error "<source>:<line>:<col>: ..."
// on malformed input; nesting deeper than 256 levels is refused.
Value parse(const std::string& text, const std::string& source);

// Appends `s` to `out` as a JSON string literal (quotes included). Invalid
// UTF-8 bytes are written as U+FFFD.
void write_string(std::string& out, const std::string& s);

}  // namespace tokjson
}  // namespace rwkv
