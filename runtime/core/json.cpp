// runtime/core/json.cpp: see json.h.
#include "runtime/core/json.h"

#include <set>
#include <vector>

namespace rwkv {

namespace {

// A rule broken inside the parser callback (carries the message out of nlohmann).
struct RuleBroken {
  std::string message;
};

// "line L, column C" of byte offset `at` (1-based, as editors count).
std::string line_and_column(const char* text, size_t size, size_t at) {
  size_t line = 1, column = 1;
  for (size_t i = 0; i < at && i < size; ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return std::to_string(line) + ":" + std::to_string(column);
}

// nlohmann's message without its "[json.exception.<kind>.N] " and "parse error at line L, column C: " prefixes.
std::string problem_of(const nlohmann::json::exception& e) {
  std::string s = e.what();
  const size_t tag_end = s.find("] ");
  if (tag_end != std::string::npos) s = s.substr(tag_end + 2);
  const size_t colon = s.find(": ");
  if (s.rfind("parse error", 0) == 0 && colon != std::string::npos) s = s.substr(colon + 2);
  return s;
}

}  // namespace

Json parse_json(const char* text, size_t size, const std::string& what, const JsonRules& rules) {
  // One set of seen keys per open object (duplicate check), innermost last.
  std::vector<std::set<std::string>> open_objects;
  auto check = [&](int depth, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
      case Json::parse_event_t::array_start:
        if (depth >= rules.max_depth + 1)
          throw RuleBroken{"nesting deeper than " + std::to_string(rules.max_depth)};
        if (event == Json::parse_event_t::object_start && !rules.allow_duplicate_keys) open_objects.emplace_back();
        break;
      case Json::parse_event_t::object_end:
        if (!rules.allow_duplicate_keys) open_objects.pop_back();
        break;
      case Json::parse_event_t::key:
        if (!rules.allow_duplicate_keys && !open_objects.back().insert(parsed.get<std::string>()).second)
          throw RuleBroken{"duplicate key '" + parsed.get<std::string>() + "'"};
        break;
      default:
        break;
    }
    return true;
  };
  try {
    return Json::parse(text, text + size, check, /*allow_exceptions=*/true, /*ignore_comments=*/false);
  } catch (const RuleBroken& b) {
    throw Error(what + ": invalid JSON: " + b.message);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(what + ":" + line_and_column(text, size, e.byte ? e.byte - 1 : 0) + ": invalid JSON: " +
                problem_of(e));
  } catch (const nlohmann::json::exception& e) {  // out_of_range: a number too large for a double
    throw Error(what + ": invalid JSON: " + problem_of(e));
  }
}

const Json* json_find(const Json& obj, const std::string& key) {
  if (!obj.is_object()) return nullptr;
  const auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

const Json& json_member(const Json& obj, const std::string& key, const std::string& what) {
  const Json* v = json_find(obj, key);
  if (!v) throw Error(what + ": missing key '" + key + "'");
  return *v;
}

}  // namespace rwkv
