// runtime/model/json.h: a small strict JSON parser (RFC 8259) for safetensors
// headers and test manifests.
//
// Strict: no comments, no trailing commas, no duplicate object keys, valid
// UTF-8 and escapes only, nesting depth at most 64. Errors are rwkv::Error
// naming the input and the byte offset.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "runtime/model/model.h"

namespace rwkv {

struct JsonValue {
  enum Kind { Null, Bool, Number, String, Array, Object };
  Kind kind = Null;
  bool boolean = false;
  double number = 0;
  bool is_integer = false;  // number written without fraction/exponent and fits int64
  int64_t integer = 0;
  std::string string;
  std::vector<JsonValue> array;
  std::vector<std::pair<std::string, JsonValue>> object;  // in file order

  // Object member lookup; nullptr if absent or not an object.
  const JsonValue* find(const std::string& key) const;
  // Member that must exist; throws naming the key.
  const JsonValue& at(const std::string& key) const;
};

JsonValue parse_json(const char* text, size_t size, const std::string& what);
inline JsonValue parse_json(const std::string& text, const std::string& what) {
  return parse_json(text.data(), text.size(), what);
}

}  // namespace rwkv
