// Tests of the JSON rules for tokenizer files (runtime/core/json.h with
// repeated keys allowed and nesting up to 256, as bpe_tokenizer.cpp reads them).
#include <catch2/catch.hpp>

#include <utf8proc.h>

#include "runtime/core/json.h"
#include "runtime/model/model.h"
#include "test_tokenizer_vectors.h"

namespace {

const rwkv::JsonRules kTokenizerRules{256, true};

// UTF-8 of one code point, by utf8proc (an independent encoder).
std::string utf8_of(int32_t cp) {
  utf8proc_uint8_t buf[4];
  const auto n = utf8proc_encode_char(cp, buf);
  return std::string(reinterpret_cast<const char*>(buf), size_t(n));
}

}  // namespace

TEST_CASE("JSON reader decodes values, escapes and surrogate pairs", "[tokenizer][json]") {
  const auto v = rwkv::parse_json(
      R"({"a": [1, -2.5e3, true, false, null], "s": "q\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00", "a": 7})", "t",
      kTokenizerRules);
  REQUIRE(v.is_object());
  CHECK(v.at("a") == 7);  // the last of repeated keys
  const auto w = rwkv::parse_json(R"([1, -2.5e3, true, false, null])", "t", kTokenizerRules);
  REQUIRE(w.size() == 5);
  CHECK(w[0].is_number_integer());
  CHECK(w[1].get<double>() == -2500.0);
  CHECK_FALSE(w[1].is_number_integer());
  CHECK((w[2].get<bool>() && !w[3].get<bool>() && w[4].is_null()));
  CHECK(v.at("s").get<std::string>() == "q\"\\/\b\f\n\r\t" + utf8_of(0xE9) + utf8_of(0x1F600));
}

TEST_CASE("JSON reader refuses malformed documents with line and column", "[tokenizer][json]") {
  const std::vector<std::string> bad = {
      "{\"a\": 1,}",       "[1 2]",          "{\"a\" 1}",       "\"\\ud800\"",      "\"\\u12\"",
      "\"a\nb\"",          "01",             "[1] x",           "{\"a\": tru}",     "",
      "\"\\q\"",           "[-]",            "\"\xff\"",        "{",                "[1.]",
  };
  for (const auto& b : bad) {
    INFO("input: " << b);
    CHECK_THROWS_AS(rwkv::parse_json(b, "doc.json", kTokenizerRules), rwkv::Error);
  }
  try {
    rwkv::parse_json("{\n  \"a\": [1,\n  2,,\n]}", "doc.json", kTokenizerRules);
    FAIL("no error");
  } catch (const rwkv::Error& e) {
    CHECK(std::string(e.what()).find("doc.json:3:") == 0);
  }
  // Deep nesting is refused (the limit bounds memory).
  CHECK_THROWS_WITH(rwkv::parse_json(std::string(100000, '['), "deep.json", kTokenizerRules),
                    Catch::Contains("nesting deeper than 256"));
  CHECK_NOTHROW(rwkv::parse_json(std::string(256, '[') + std::string(256, ']'), "ok.json", kTokenizerRules));
}

TEST_CASE("JSON reader survives truncated and corrupted tokenizer files", "[tokenizer][json]") {
  const std::string full = rwkv::read_tokenizer_file(testdata_path("tokenizer/20B_tokenizer.json"));
  TestRandom rnd(17);
  for (int trial = 0; trial < 60; ++trial) {
    std::string doc = full.substr(0, 1 + rnd.below(300000));
    if (trial % 2) {
      for (int k = 0; k < 5; ++k) doc[rnd.below(doc.size())] = char(rnd.below(256));
    }
    CHECK_THROWS_AS(rwkv::parse_json(doc, "cut.json", kTokenizerRules), rwkv::Error);
  }
}
