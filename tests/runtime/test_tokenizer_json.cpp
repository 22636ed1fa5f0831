// Tests of the small JSON reader used for tokenizer files.
#include <catch2/catch.hpp>

#include <utf8proc.h>

#include "runtime/model/model.h"
#include "runtime/tokenizer/json_value.h"
#include "test_tokenizer_vectors.h"

namespace {

// UTF-8 of one code point, by utf8proc (an independent encoder).
std::string utf8_of(int32_t cp) {
  utf8proc_uint8_t buf[4];
  const auto n = utf8proc_encode_char(cp, buf);
  return std::string(reinterpret_cast<const char*>(buf), size_t(n));
}

}  // namespace

TEST_CASE("JSON reader decodes values, escapes and surrogate pairs", "[tokenizer][json]") {
  const auto v = rwkv::tokjson::parse(
      R"({"a": [1, -2.5e3, true, false, null], "s": "q\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00", "a": 7})", "t");
  REQUIRE(v.is_object());
  CHECK(v.find("a")->as_int() == 7);  // the last of repeated keys
  const auto& arr = v.members[0].second.items;
  REQUIRE(arr.size() == 5);
  CHECK(arr[0].is_integer());
  CHECK(arr[1].number == -2500.0);
  CHECK_FALSE(arr[1].is_integer());
  CHECK((arr[2].boolean && !arr[3].boolean && arr[4].is_null()));
  CHECK(v.find("s")->str == "q\"\\/\b\f\n\r\t" + utf8_of(0xE9) + utf8_of(0x1F600));
}

TEST_CASE("JSON reader refuses malformed documents with line and column", "[tokenizer][json]") {
  const std::vector<std::string> bad = {
      "{\"a\": 1,}",       "[1 2]",          "{\"a\" 1}",       "\"\\ud800\"",      "\"\\u12\"",
      "\"a\nb\"",          "01",             "[1] x",           "{\"a\": tru}",     "",
      "\"\\q\"",           "[-]",            "\"\xff\"",        "{",                "[1.]",
  };
  for (const auto& b : bad) {
    INFO("input: " << b);
    CHECK_THROWS_AS(rwkv::tokjson::parse(b, "doc.json"), rwkv::Error);
  }
  try {
    rwkv::tokjson::parse("{\n  \"a\": [1,\n  2,,\n]}", "doc.json");
    FAIL("no error");
  } catch (const rwkv::Error& e) {
    CHECK(std::string(e.what()).find("doc.json:3:") == 0);
  }
  // Deep nesting is refused instead of exhausting the stack.
  CHECK_THROWS_AS(rwkv::tokjson::parse(std::string(100000, '['), "deep.json"), rwkv::Error);
}

TEST_CASE("JSON reader survives truncated and corrupted tokenizer files", "[tokenizer][json]") {
  const std::string full = rwkv::read_tokenizer_file(testdata_path("tokenizer/20B_tokenizer.json"));
  TestRandom rnd(17);
  for (int trial = 0; trial < 60; ++trial) {
    std::string doc = full.substr(0, 1 + rnd.below(300000));
    if (trial % 2) {
      for (int k = 0; k < 5; ++k) doc[rnd.below(doc.size())] = char(rnd.below(256));
    }
    CHECK_THROWS_AS(rwkv::tokjson::parse(doc, "cut.json"), rwkv::Error);
  }
}
