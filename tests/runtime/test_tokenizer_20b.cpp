// Tests of the GPT-NeoX 20B tokenizer against the Hugging Face tokenizers ids,
// plus independent checks of its split pattern and BPE merge loop.
#include <catch2/catch.hpp>

#include <utf8proc.h>

#include <cstdlib>
#include <map>
#include <regex>

#include "runtime/model/model.h"
#include "runtime/tokenizer/byte_level.h"
#include "runtime/tokenizer/gpt2_split.h"
#include "runtime/tokenizer/tokenizer.h"
#include "runtime/tokenizer/unicode_text.h"
#include "test_tokenizer_vectors.h"
#include "error_of.h"

using test_util::error_of;

namespace {

std::string neox_file() { return testdata_path("tokenizer/20B_tokenizer.json"); }

std::string utf8proc_nfc(const std::string& s) {
  utf8proc_uint8_t* out = utf8proc_NFC(reinterpret_cast<const utf8proc_uint8_t*>(s.c_str()));
  std::string r(reinterpret_cast<const char*>(out));
  std::free(out);
  return r;
}

}  // namespace

TEST_CASE("20B tokenizer gives the reference ids on every test vector", "[tokenizer][20b]") {
  auto tok = rwkv::load_tokenizer(neox_file());
  REQUIRE(std::string(tok->kind()) == "20b");
  REQUIRE(tok->vocab_size() == 50277);
  const auto vectors = load_tokenizer_vectors("tokenizer_20B_");
  REQUIRE(vectors.size() >= 30);
  for (const auto& v : vectors) {
    INFO(v.file << ": " << v.input);
    CHECK(tok->encode(v.input) == v.ids);
    // Decoding gives the text back, NFC-normalised where the reference said so.
    CHECK(tok->decode(v.ids) == (v.decode_roundtrip ? v.input : utf8proc_nfc(v.input)));
  }
}

TEST_CASE("20B special tokens are matched before normalisation and marked special", "[tokenizer][20b]") {
  auto tok = rwkv::load_tokenizer(neox_file());
  CHECK(tok->is_special(0));
  CHECK(tok->is_special(1));
  CHECK_FALSE(tok->is_special(50254));  // runs of spaces are added but not special
  CHECK(tok->token_bytes(0) == "<|endoftext|>");
  CHECK(tok->token_bytes(50276) == "  ");
  CHECK_THROWS_AS(tok->token_bytes(50277), rwkv::Error);
}

TEST_CASE("20B tokenises invalid UTF-8 as its U+FFFD replacement", "[tokenizer][20b]") {
  // Documented behaviour: the reference only accepts valid text; ill-formed
  // bytes are replaced per maximal subpart (Python errors='replace').
  auto tok = rwkv::load_tokenizer(neox_file());
  const std::string fffd = "\xEF\xBF\xBD";
  CHECK(tok->encode("ab\xFF" "cd") == tok->encode("ab" + fffd + "cd"));
  CHECK(tok->encode("\xE6\xAA" " x") == tok->encode(fffd + " x"));       // truncated 3-byte sequence: one U+FFFD
  CHECK(tok->encode("\xED\xA0\x80") == tok->encode(fffd + fffd + fffd));  // surrogate: three
  CHECK(tok->encode("\xF0\x9F\x98") == tok->encode(fffd));
  CHECK(rwkv::utf8_lossy("\xC3\xA9\xC3") == "\xC3\xA9" + fffd);
}

TEST_CASE("20B encode takes arbitrary bytes and decodes back to their NFC text", "[tokenizer][20b]") {
  auto tok = rwkv::load_tokenizer(neox_file());
  TestRandom rnd(31);
  // Mixed pieces: ASCII, combining accents, Hangul jamo and syllables, CJK,
  // kana and the combining voiced mark, full-width forms, emoji, raw bytes.
  const std::vector<std::string> parts = {
      "a", "Z", " ", "  ", "\n", "9", "'s", "e\xCC\x81", "\xCC\x81", "\xE1\x84\x80", "\xE1\x85\xA1",
      "\xE1\x86\xA8", "\xEA\xB0\x80", "\xE4\xB8\xAD", "\xE3\x81\x8B", "\xE3\x82\x99", "\xE3\x80\xAA",
      "\xEF\xBC\xA1", "\xEF\xBE\x9E", "\xF0\x9F\x98\x80", "\xC3\xA9", "\xCB\xBF", "\xE2\x84\xAB"};
  for (int trial = 0; trial < 3000; ++trial) {
    std::string s;
    const size_t len = rnd.below(40);
    for (size_t i = 0; i < len; ++i) {
      if (rnd.below(5) == 0) s += char(1 + rnd.below(255));  // no NUL: utf8proc_NFC stops there
      else s += parts[rnd.below(parts.size())];
    }
    INFO("input bytes: " << s);
    const auto ids = tok->encode(s);
    CHECK(tok->decode(ids) == utf8proc_nfc(rwkv::utf8_lossy(s)));
  }
}

TEST_CASE("Code points on the NFC fast path are left unchanged by utf8proc", "[tokenizer][20b]") {
  // The ranges of unicode_text.cpp nfc_inert(): each code point alone, and
  // after a base letter, must be NFC already in utf8proc's Unicode data.
  const std::vector<std::pair<uint32_t, uint32_t>> ranges = {
      {0x4E00, 0x9FFF}, {0x3000, 0x3029}, {0x3030, 0x3096}, {0x309B, 0x30FF}, {0xAC00, 0xD7A3}, {0xFF00, 0xFFEF}};
  for (const auto& r : ranges) {
    for (uint32_t cp = r.first; cp <= r.second; ++cp) {
      std::string s = "a";
      rwkv::append_utf8(s, cp);
      INFO("U+" << std::hex << cp);
      REQUIRE(utf8proc_nfc(s) == s);
      REQUIRE(utf8proc_get_property(utf8proc_int32_t(cp))->combining_class == 0);
    }
  }
}

TEST_CASE("GPT-2 split equals std::regex on ASCII text", "[tokenizer][20b]") {
  // On ASCII, \p{L} = [A-Za-z], \p{N} = [0-9] and \s matches the same
  // characters in ECMAScript, which has the (?!\S) lookahead too.
  const std::regex pattern(R"('s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+)");
  const std::string alphabet = "ab's tdlmrevZ09 .,!-\t\n\r\x0b\x0c";
  TestRandom rnd(7);
  for (int trial = 0; trial < 2000; ++trial) {
    std::string s;
    const size_t len = rnd.below(24);
    for (size_t i = 0; i < len; ++i) s += alphabet[rnd.below(alphabet.size())];
    std::vector<std::pair<size_t, size_t>> expect, got;
    for (auto it = std::sregex_iterator(s.begin(), s.end(), pattern); it != std::sregex_iterator(); ++it) {
      expect.emplace_back(size_t(it->position()), size_t(it->position() + it->length()));
    }
    rwkv::gpt2_split(s, got);
    INFO("text: [" << s << "]");
    CHECK(got == expect);
  }
}

TEST_CASE("GPT-2 split uses Unicode letters, numbers and White_Space", "[tokenizer][20b]") {
  // U+00E9 letter, U+0661 Arabic-Indic digit (Nd), U+3000 ideographic space (Zs).
  std::vector<std::pair<size_t, size_t>> got;
  const std::string s = "x \xC3\xA9t\xD9\xA1 \xD9\xA1\xE3\x80\x80y";
  rwkv::gpt2_split(s, got);
  // "x" | " ét" | "١" | " ١" | "　" | "y": byte offsets of the matches of the same
  // pattern in Python's `regex` module (2026.5.9), which supports \p{..}.
  const std::vector<std::pair<size_t, size_t>> expect = {{0, 1}, {1, 5}, {5, 7}, {7, 10}, {10, 13}, {13, 14}};
  CHECK(got == expect);
}

TEST_CASE("20B BPE equals a naive lowest-rank merge loop on random words", "[tokenizer][20b]") {
  auto tok = rwkv::load_tokenizer(neox_file());
  // Independent reference: the original GPT-2 bpe() loop over symbol strings,
  // with ranks and vocabulary read straight from the file.
  const auto doc = rwkv::parse_json(rwkv::read_tokenizer_file(neox_file()), "20B", {256, true});
  std::map<std::pair<std::string, std::string>, size_t> rank;
  const auto& merges = doc.at("model").at("merges");
  for (size_t r = 0; r < merges.size(); ++r) {
    const std::string m = merges[r].get<std::string>();
    const size_t sp = m.find(' ');
    rank.emplace(std::make_pair(m.substr(0, sp), m.substr(sp + 1)), r);
  }
  std::map<std::string, int32_t> vocab;
  for (const auto& kv : doc.at("model").at("vocab").items()) vocab[kv.key()] = kv.value().get<int32_t>();
  auto naive = [&](const std::string& word) {
    std::vector<std::string> sym;
    for (unsigned char b : word) {
      std::string ch;
      rwkv::append_utf8(ch, rwkv::byte_level_char(b));
      sym.push_back(ch);
    }
    for (;;) {
      size_t best = SIZE_MAX, at = 0;
      for (size_t i = 0; i + 1 < sym.size(); ++i) {
        auto it = rank.find({sym[i], sym[i + 1]});
        if (it != rank.end() && it->second < best) best = it->second, at = i;
      }
      if (best == SIZE_MAX) break;
      sym[at] += sym[at + 1];
      sym.erase(sym.begin() + long(at) + 1);
    }
    std::vector<int32_t> ids;
    for (const auto& s : sym) ids.push_back(vocab.at(s));
    return ids;
  };
  TestRandom rnd(99);
  const std::string letters = "etaoinshrdlucmfwypvbgkqjxzETAOIN";
  for (int trial = 0; trial < 500; ++trial) {
    std::string w = trial % 2 ? " " : "";
    const size_t len = 1 + rnd.below(trial < 450 ? 12 : 300);  // some long words
    for (size_t i = 0; i < len; ++i) w += letters[rnd.below(letters.size())];
    INFO("word: [" << w << "]");
    CHECK(tok->encode(w) == naive(w));
  }
}

TEST_CASE("Malformed or unsupported 20B tokenizer files are refused with file and place", "[tokenizer][20b]") {
  TempFile broken("{\n  \"model\": {\n    \"vocab\": {\"a\": 0,,}\n  }\n}\n", ".json");
  std::string msg = error_of([&] { rwkv::load_tokenizer(broken.path); });
  INFO(msg);
  CHECK(msg.find(broken.path + ":3:") != std::string::npos);

  TempFile unsupported(
      "{\"normalizer\": {\"type\": \"NFKC\"},\n \"pre_tokenizer\": {\"type\": \"ByteLevel\"},\n"
      " \"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}\n",
      ".json");
  msg = error_of([&] { rwkv::load_tokenizer(unsupported.path); });
  INFO(msg);
  // Syntax errors give the line (above); a member we cannot use is named instead.
  CHECK(msg.find(unsupported.path + ": normalizer \"NFKC\" is not supported") != std::string::npos);
}
