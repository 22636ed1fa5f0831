// Tests of the World tokenizer against the official trie tokenizer's ids.
#include <catch2/catch.hpp>

#include <map>

#include "runtime/model/model.h"
#include "runtime/tokenizer/tokenizer.h"
#include "runtime/tokenizer/world_vocab.h"
#include "test_tokenizer_vectors.h"
#include "error_of.h"

using test_util::error_of;

namespace {

std::string world_file() { return testdata_path("tokenizer/rwkv_vocab_v20230424.txt"); }

std::string hex_bytes(const std::string& s) {
  std::string out;
  char buf[4];
  for (unsigned char c : s) {
    std::snprintf(buf, sizeof buf, "%02x", c);
    out += buf;
  }
  return out;
}

// The error message of what `f` throws (or "" when it throws nothing).
}  // namespace

TEST_CASE("World tokenizer gives the official ids on every test vector", "[tokenizer][world]") {
  auto tok = rwkv::load_tokenizer(world_file());
  REQUIRE(std::string(tok->kind()) == "world");
  REQUIRE(tok->vocab_size() == 65536);
  const auto vectors = load_tokenizer_vectors("tokenizer_world_");
  REQUIRE(vectors.size() >= 25);
  for (const auto& v : vectors) {
    INFO(v.file << ": input bytes " << hex_bytes(v.input));
    CHECK(tok->encode(v.input) == v.ids);
    CHECK(tok->decode(v.ids) == v.input);  // byte-exact, invalid UTF-8 included
  }
}

TEST_CASE("World greedy match equals a brute-force longest match on random byte strings", "[tokenizer][world]") {
  auto tok = rwkv::load_tokenizer(world_file());
  // Independent reference: a map from token bytes to id, tried longest first.
  std::map<std::string, int32_t> by_bytes;
  size_t max_len = 0;
  for (int32_t id = 0; id < tok->vocab_size(); ++id) {
    const std::string& b = tok->token_bytes(id);
    if (b.empty()) continue;
    by_bytes[b] = id;
    max_len = std::max(max_len, b.size());
  }
  auto reference = [&](const std::string& s) {
    std::vector<int32_t> ids;
    for (size_t i = 0; i < s.size();) {
      for (size_t len = std::min(max_len, s.size() - i); len > 0; --len) {
        auto it = by_bytes.find(s.substr(i, len));
        if (it != by_bytes.end()) {
          ids.push_back(it->second);
          i += len;
          break;
        }
      }
    }
    return ids;
  };
  // Random strings drawn from pieces of real tokens plus arbitrary bytes.
  TestRandom rnd(12345);
  for (int trial = 0; trial < 300; ++trial) {
    std::string s;
    const size_t parts = 1 + rnd.below(20);
    for (size_t k = 0; k < parts; ++k) {
      if (rnd.below(4) == 0) {
        s += char(rnd.below(256));
      } else {
        const std::string& t = tok->token_bytes(int32_t(1 + rnd.below(65529)));
        s += t.substr(0, 1 + rnd.below(t.size()));
      }
    }
    INFO("input " << hex_bytes(s));
    const auto ids = tok->encode(s);
    CHECK(ids == reference(s));
    CHECK(tok->decode(ids) == s);
  }
}

TEST_CASE("World vocabulary reads the same with CRLF line ends", "[tokenizer][world]") {
  const std::string lf = rwkv::read_tokenizer_file(world_file());
  std::string crlf;
  crlf.reserve(lf.size() + 70000);
  for (char c : lf) {
    if (c == '\n') crlf += '\r';
    crlf += c;
  }
  TempFile f(crlf);
  auto a = rwkv::load_tokenizer(world_file());
  auto b = rwkv::load_tokenizer(f.path);
  REQUIRE(b->vocab_size() == a->vocab_size());
  for (int32_t id = 0; id < a->vocab_size(); ++id) REQUIRE(a->token_bytes(id) == b->token_bytes(id));
}

TEST_CASE("Python literals of the vocabulary decode as Python's eval does", "[tokenizer][world]") {
  // Expected bytes: Python 3 eval(literal), str results encoded as UTF-8.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"('\x41\n\t\\')", "410a095c"}, {R"(b'\xff\x00')", "ff00"},   {R"('\xe9')", "c3a9"},
      {R"("it\'s")", "69742773"},       {R"('\u4e2d')", "e4b8ad"},   {R"(b'\u4e2d')", "5c7534653264"},
      {R"('\101\7')", "4107"},          {R"('\q')", "5c71"},         {"'\xC3\xA9'", "c3a9"},
      {R"(B'\r\a\v\f\b')", "0d070b0c08"}, {R"('\U0001F600')", "f09f9880"}, {R"("\"")", "22"},
  };
  for (const auto& c : cases) {
    INFO(c.first);
    CHECK(hex_bytes(rwkv::decode_python_literal(c.first)) == c.second);
  }
}

TEST_CASE("Malformed World vocabularies are refused with file and line", "[tokenizer][world]") {
  // A valid head (all single bytes, as in the real file) and one bad line after it.
  const std::string full = rwkv::read_tokenizer_file(world_file());
  size_t cut = 0;
  for (int line = 0; line < 256; ++line) cut = full.find('\n', cut) + 1;
  const std::string head = full.substr(0, cut);  // ids 1..256
  const std::vector<std::string> bad_lines = {
      "257 'ab' 3",          // length does not match
      "x57 'ab' 2",          // bad id
      "257 ab 2",            // not a literal
      "257 'ab 2",           // unterminated
      "256 'ab' 2",          // duplicate id
      "257 b'\xC3\xA9' 2",   // non-ASCII in bytes literal
      "257 '\\xZZ' 1",       // bad escape
      "257",                 // no fields
  };
  for (const auto& bad : bad_lines) {
    TempFile f(head + bad + "\n");
    const std::string msg = error_of([&] { rwkv::load_tokenizer(f.path); });
    INFO("line: " << bad << "\nmessage: " << msg);
    CHECK(msg.find(f.path + ":257:") != std::string::npos);
  }
  // A vocabulary without some single byte cannot tokenise every input.
  TempFile missing(full.substr(full.find('\n') + 1));  // drops id 1 = byte 0x00
  CHECK(error_of([&] { rwkv::load_tokenizer(missing.path); }).find(missing.path) != std::string::npos);
  // A missing file is named.
  CHECK(error_of([] { rwkv::load_tokenizer("/nonexistent/vocab.txt"); }).find("/nonexistent/vocab.txt") !=
        std::string::npos);
}

TEST_CASE("World decode refuses ids outside the vocabulary", "[tokenizer][world]") {
  auto tok = rwkv::load_tokenizer(world_file());
  CHECK_THROWS_AS(tok->decode({65536}), rwkv::Error);
  CHECK_THROWS_AS(tok->decode({-1}), rwkv::Error);
  CHECK(tok->decode({0, 65535}).empty());  // in range, no vocabulary entry
  CHECK(tok->is_special(0));
}
