// runtime/core/json.h: the project's one JSON reader, nlohmann-json (Debian
// nlohmann-json3-dev) with the rules our inputs need, for safetensors headers,
// tokenizer files and test manifests. Writers use rwkv::Json directly
// (Json::dump escapes strings).
//
// Strict RFC 8259 (nlohmann's parser: no comments, no trailing commas, valid
// UTF-8 and escapes only, finite numbers), plus: nesting is limited
// (the parser is not recursive, the limit bounds memory and later walks), and
// duplicate object keys are refused unless the rules allow them (then the
// last one wins). Objects keep file order.
#pragma once

#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

#include "runtime/core/error.h"

namespace rwkv {

using Json = nlohmann::ordered_json;

struct JsonRules {
  int max_depth = 64;              // arrays/objects nested deeper are refused
  bool allow_duplicate_keys = false;  // true: the last of repeated keys wins
};

// Parses one whole document. Throws rwkv::Error naming `what` and the problem:
// "<what>:<line>:<column>: invalid JSON: ..." for a syntax error,
// "<what>: invalid JSON: duplicate key 'k'" / "nesting deeper than N" for the rules.
Json parse_json(const char* text, size_t size, const std::string& what, const JsonRules& rules = {});
inline Json parse_json(const std::string& text, const std::string& what, const JsonRules& rules = {}) {
  return parse_json(text.data(), text.size(), what, rules);
}

// The member `key` of object `obj`; throws Error naming `what` and the key when
// `obj` is not an object or has no such member.
const Json& json_member(const Json& obj, const std::string& key, const std::string& what);
// Member or nullptr (also nullptr when `obj` is not an object).
const Json* json_find(const Json& obj, const std::string& key);

}  // namespace rwkv
