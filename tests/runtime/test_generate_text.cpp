// Tests of the text side of generation (runtime/generate/): UTF-8 hold-back
// (Utf8Stream), stop strings (StopStringFilter), and the loop's streaming,
// stopping and feeding rules on a scripted token stream (generate_test_util.h).
// References: utf8_lossy() (the tokenizers' lossy decoder, Python's
// errors='replace' rule) and std::string::find on the whole text.
#include <catch2/catch.hpp>

#include <random>

#include "generate_test_util.h"
#include "runtime/generate/generate.h"
#include "runtime/generate/stop_strings.h"
#include "runtime/generate/utf8_stream.h"
#include "runtime/tokenizer/unicode_text.h"

namespace {

const std::string kFFFD = "\xEF\xBF\xBD";

// Pushes `bytes` split at the given cut points; returns the pieces (finish() last).
std::vector<std::string> stream(const std::string& bytes, const std::vector<size_t>& cuts) {
  rwkv::Utf8Stream s;
  std::vector<std::string> out;
  size_t prev = 0;
  for (size_t c : cuts) {
    out.push_back(s.push(std::string_view(bytes).substr(prev, c - prev)));
    prev = c;
  }
  out.push_back(s.push(std::string_view(bytes).substr(prev)));
  out.push_back(s.finish());
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += x;
  return s;
}

}  // namespace

TEST_CASE("Utf8Stream holds a 3-byte character split over tokens until it is complete", "[generate][utf8]") {
  const std::string euro = "\xE2\x82\xAC";  // U+20AC
  for (size_t cut = 1; cut < 3; ++cut) {
    CAPTURE(cut);
    rwkv::Utf8Stream s;
    CHECK(s.push("a" + euro.substr(0, cut)) == "a");
    CHECK(s.held() == cut);
    CHECK(s.push(euro.substr(cut) + "b") == euro + "b");
    CHECK(s.held() == 0);
    CHECK(s.finish().empty());
  }
}

TEST_CASE("Utf8Stream holds a 4-byte character fed one byte per token", "[generate][utf8]") {
  const std::string grin = "\xF0\x9F\x98\x80";  // U+1F600
  rwkv::Utf8Stream s;
  for (int i = 0; i < 3; ++i) {
    CHECK(s.push(grin.substr(size_t(i), 1)).empty());
    CHECK(s.held() == size_t(i + 1));
  }
  CHECK(s.push(grin.substr(3)) == grin);
  CHECK(s.finish().empty());
}

TEST_CASE("Utf8Stream turns invalid bytes into U+FFFD as utf8_lossy does", "[generate][utf8]") {
  // Each case: invalid as soon as a byte proves it, or at the end at the latest.
  const std::vector<std::string> cases = {
      "\xFF",              // never valid
      "a\x80z",            // stray continuation byte
      "\xC0\xAF",          // overlong lead byte
      "\xE2\x82" "A",      // 3-byte sequence cut short by an ASCII byte
      "\xED\xA0\x80",      // surrogate
      "\xF4\x90\x80\x80",  // above U+10FFFF
      "\xF0\x9F\x98",      // incomplete at the end: flushed by finish()
      "x\xE2",             // the same, 1 byte
  };
  for (const std::string& c : cases) {
    CAPTURE(c);
    const std::vector<std::string> pieces = stream(c, {});
    CHECK(join(pieces) == rwkv::utf8_lossy(c));
    CHECK(join(pieces).find(kFFFD) != std::string::npos);
  }
  // A byte known to be invalid is replaced at once, not at the end.
  rwkv::Utf8Stream s;
  CHECK(s.push("\xE2\x82") == "");
  CHECK(s.push("A") == kFFFD + "A");
  CHECK(s.push("\xFF") == kFFFD);
}

TEST_CASE("Utf8Stream over random bytes and random splits equals utf8_lossy of the whole", "[generate][utf8]") {
  const uint32_t seed = 20240607;
  CAPTURE(seed);
  std::mt19937 rng(seed);
  // Bytes biased toward UTF-8 structure: ASCII, lead bytes, continuation bytes.
  const std::vector<uint8_t> alphabet = {'a', ' ', 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xDF,
                                         0xE0, 0xE2, 0xED, 0xEF, 0xF0, 0xF3, 0xF4, 0xF5, 0xFF};
  for (int trial = 0; trial < 2000; ++trial) {
    std::string bytes;
    const int n = int(rng() % 24);
    for (int i = 0; i < n; ++i) bytes += char(alphabet[rng() % alphabet.size()]);
    std::vector<size_t> cuts;
    for (size_t i = 1; i < bytes.size(); ++i)
      if (rng() % 3 == 0) cuts.push_back(i);
    CAPTURE(trial, bytes.size());
    const std::vector<std::string> pieces = stream(bytes, cuts);
    for (const std::string& p : pieces) REQUIRE(rwkv::is_valid_utf8(p));
    REQUIRE(join(pieces) == rwkv::utf8_lossy(bytes));
  }
}

TEST_CASE("StopStringFilter emits exactly the text before the first completed stop string, whatever the split",
          "[generate][stop]") {
  const uint32_t seed = 77;
  CAPTURE(seed);
  std::mt19937 rng(seed);
  const std::string letters = "ab\n:";
  for (int trial = 0; trial < 3000; ++trial) {
    std::string text;
    for (int i = int(rng() % 20); i > 0; --i) text += letters[rng() % letters.size()];
    std::vector<std::string> stops;
    for (int k = int(rng() % 3) + 1; k > 0; --k) {
      std::string s;
      for (int i = int(rng() % 3) + 1; i > 0; --i) s += letters[rng() % letters.size()];
      stops.push_back(s);
    }
    // Reference: scan the whole text by end position; at the first position
    // where stop strings end, cut before the one that starts first.
    size_t first = std::string::npos;
    for (size_t end = 1; end <= text.size() && first == std::string::npos; ++end)
      for (const auto& s : stops)
        if (s.size() <= end && text.compare(end - s.size(), s.size(), s) == 0)
          first = std::min(first, end - s.size());
    rwkv::StopStringFilter f(stops);
    std::string out;
    bool stopped = false;
    size_t i = 0;
    while (i < text.size() && !stopped) {
      const size_t n = std::min(text.size() - i, size_t(rng() % 4));
      out += f.push(text.substr(i, n), &stopped);
      i += n;
    }
    if (!stopped) out += f.finish();
    CAPTURE(trial, text, stops);
    REQUIRE(stopped == (first != std::string::npos));
    REQUIRE(out == (stopped ? text.substr(0, first) : text));
  }
}

TEST_CASE("StopStringFilter refuses a stop string that is not UTF-8", "[generate][stop]") {
  CHECK_THROWS_AS(rwkv::StopStringFilter({"ok", "\xFF"}), rwkv::Error);
}

TEST_CASE("generate streams complete characters and U+FFFD over a scripted token stream", "[generate]") {
  // Tokens: 0 "<prompt>", then characters split across tokens.
  gen_test::FakeTokenizer tok({"P", "He", "llo \xE2\x82", "\xAC", "!\xF0\x9F", "\x98", "\x80", "\xFF", "z\xE2"});
  const std::vector<int32_t> script = {1, 2, 3, 4, 5, 6, 7, 8};
  gen_test::ScriptedBackend be(tok.vocab_size(), script, 1);
  rwkv::Sampler sampler(gen_test::greedy());
  rwkv::GenerateOptions o;
  o.max_tokens = script.size();
  float state = 0;
  std::string all_bytes;
  for (int32_t t : script) all_bytes += tok.token_bytes(t);
  std::vector<std::string> texts;
  const rwkv::GenerateResult r = rwkv::generate(be, &state, 1, tok, sampler, {0}, o, [&](const std::string& p) {
    texts.push_back(p);
    return true;
  });
  CHECK(r.tokens == script);
  CHECK(r.reason == rwkv::StopReason::max_tokens);
  CHECK(r.text == rwkv::utf8_lossy(all_bytes));
  for (const auto& p : texts) CHECK(rwkv::is_valid_utf8(p));
  // The piece after "llo \xE2\x82" stops before the incomplete euro sign, which
  // arrives with the next token; the 4-byte emoji arrives with its last byte;
  // 0xFF is replaced when it arrives; the trailing 0xE2 is flushed as U+FFFD.
  const std::vector<std::string> expected = {"He", "llo ", "\xE2\x82\xAC", "!", "\xF0\x9F\x98\x80", kFFFD, "z",
                                             kFFFD};
  CHECK(texts == expected);
}

TEST_CASE("generate prefills in chunks: none for all chunks but the last, then one token per step",
          "[generate]") {
  gen_test::FakeTokenizer tok({"a", "b", "c"});
  std::vector<int32_t> prompt(20);
  for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = int32_t(i % 3);
  const std::vector<int32_t> script = {1, 2, 1};
  gen_test::ScriptedBackend be(3, script, prompt.size());
  rwkv::Sampler sampler(gen_test::greedy());
  rwkv::GenerateOptions o;
  o.chunk_len = 7;
  o.max_tokens = 3;
  float state = 0;
  const rwkv::GenerateResult r = rwkv::generate(be, &state, 1, tok, sampler, prompt, o, nullptr);
  CHECK(r.tokens == script);
  const auto& c = be.calls();
  REQUIRE(c.size() == 6);
  const std::vector<size_t> sizes = {7, 7, 6, 1, 1, 1};
  const std::vector<rwkv::LogitsMode> modes = {rwkv::LogitsMode::none, rwkv::LogitsMode::none,
                                               rwkv::LogitsMode::last, rwkv::LogitsMode::last,
                                               rwkv::LogitsMode::last, rwkv::LogitsMode::none};
  for (size_t i = 0; i < c.size(); ++i) {
    CAPTURE(i);
    CHECK(c[i].tokens.size() == sizes[i]);
    CHECK(c[i].mode == modes[i]);
  }
  // The state consumed the prompt and every generated token, in order.
  std::vector<int32_t> expect_fed = prompt;
  expect_fed.insert(expect_fed.end(), script.begin(), script.end());
  CHECK(be.fed() == expect_fed);
  CHECK(state == float(expect_fed.size()));
}

TEST_CASE("generate stops at a stop string spanning tokens and does not emit it", "[generate][stop]") {
  gen_test::FakeTokenizer tok({"P", "ab", "c\n", "\nUs", "er", ":x", "more"});
  const std::vector<int32_t> script = {1, 2, 3, 4, 5, 6, 6};
  gen_test::ScriptedBackend be(tok.vocab_size(), script, 1);
  rwkv::Sampler sampler(gen_test::greedy());
  rwkv::GenerateOptions o;
  o.max_tokens = 100;
  o.stop_strings = {"\n\nUser:"};
  float state = 0;
  std::string seen;
  const rwkv::GenerateResult r = rwkv::generate(be, &state, 1, tok, sampler, {0}, o, [&](const std::string& p) {
    seen += p;
    return true;
  });
  CHECK(r.reason == rwkv::StopReason::stop_string);
  CHECK(r.text == "abc");
  CHECK(seen == "abc");
  // The token that completed the stop string was kept and fed.
  CHECK(r.tokens == std::vector<int32_t>{1, 2, 3, 4, 5});
  CHECK(be.fed() == std::vector<int32_t>{0, 1, 2, 3, 4, 5});
}

TEST_CASE("generate releases a partial stop string that never completes", "[generate][stop]") {
  gen_test::FakeTokenizer tok({"P", "a\n", "\nU", "b", "\n"});
  const std::vector<int32_t> script = {1, 2, 3, 4};
  gen_test::ScriptedBackend be(tok.vocab_size(), script, 1);
  rwkv::Sampler sampler(gen_test::greedy());
  rwkv::GenerateOptions o;
  o.max_tokens = 4;
  o.stop_strings = {"\n\nUser:"};
  float state = 0;
  std::vector<std::string> pieces;
  const rwkv::GenerateResult r = rwkv::generate(be, &state, 1, tok, sampler, {0}, o, [&](const std::string& p) {
    pieces.push_back(p);
    return true;
  });
  CHECK(r.reason == rwkv::StopReason::max_tokens);
  CHECK(r.text == "a\n\nUb\n");
  // "\n" and "\n\nU" were held back while they could start the stop string.
  CHECK(pieces == std::vector<std::string>{"a", "\n\nUb", "\n"});
}

TEST_CASE("generate ends at a stop token, which is neither kept nor fed", "[generate]") {
  gen_test::FakeTokenizer tok({"P", "x", "y", "<stop>"});
  const std::vector<int32_t> script = {1, 2, 3, 1};
  gen_test::ScriptedBackend be(tok.vocab_size(), script, 1);
  rwkv::Sampler sampler(gen_test::greedy({3}));
  rwkv::GenerateOptions o;
  o.max_tokens = 10;
  float state = 0;
  const rwkv::GenerateResult r = rwkv::generate(be, &state, 1, tok, sampler, {0}, o, nullptr);
  CHECK(r.reason == rwkv::StopReason::stop_token);
  CHECK(r.stop_token == 3);
  CHECK(r.tokens == std::vector<int32_t>{1, 2});
  CHECK(r.text == "xy");
  CHECK(be.fed() == std::vector<int32_t>{0, 1, 2});
  // The stop token was not counted by the penalties either.
  CHECK(sampler.penalty().occurrences().count(3) == 0);
}

TEST_CASE("generate stops when the callback returns false", "[generate]") {
  gen_test::FakeTokenizer tok({"P", "one ", "two ", "three "});
  const std::vector<int32_t> script = {1, 2, 3, 1, 2};
  gen_test::ScriptedBackend be(tok.vocab_size(), script, 1);
  rwkv::Sampler sampler(gen_test::greedy());
  rwkv::GenerateOptions o;
  o.max_tokens = 10;
  float state = 0;
  int calls = 0;
  const rwkv::GenerateResult r = rwkv::generate(be, &state, 1, tok, sampler, {0}, o, [&](const std::string&) {
    return ++calls < 2;
  });
  CHECK(calls == 2);
  CHECK(r.reason == rwkv::StopReason::callback);
  CHECK(r.tokens == std::vector<int32_t>{1, 2});
  CHECK(r.text == "one two ");
  CHECK(be.fed() == std::vector<int32_t>{0, 1, 2});
}

TEST_CASE("generate with max_tokens 0 only prefills, bad input throws before any forward", "[generate]") {
  gen_test::FakeTokenizer tok({"P", "x"});
  gen_test::ScriptedBackend be(2, {1}, 3);
  rwkv::Sampler sampler(gen_test::greedy());
  rwkv::GenerateOptions o;
  o.max_tokens = 0;
  float state = 0;
  const rwkv::GenerateResult r = rwkv::generate(be, &state, 1, tok, sampler, {0, 1, 0}, o, nullptr);
  CHECK(r.tokens.empty());
  REQUIRE(be.calls().size() == 1);
  CHECK(be.calls()[0].mode == rwkv::LogitsMode::none);

  gen_test::ScriptedBackend fresh(2, {1}, 1);
  o.max_tokens = 5;
  CHECK_THROWS_AS(rwkv::generate(fresh, &state, 1, tok, sampler, {}, o, nullptr), rwkv::Error);
  CHECK_THROWS_AS(rwkv::generate(fresh, &state, 1, tok, sampler, {2}, o, nullptr), rwkv::Error);
  o.chunk_len = 0;
  CHECK_THROWS_AS(rwkv::generate(fresh, &state, 1, tok, sampler, {0}, o, nullptr), rwkv::Error);
  o.chunk_len = 4;
  o.stop_strings = {"\xC3"};
  CHECK_THROWS_AS(rwkv::generate(fresh, &state, 1, tok, sampler, {0}, o, nullptr), rwkv::Error);
  gen_test::FakeTokenizer wrong({"a", "b", "c"});
  o.stop_strings.clear();
  CHECK_THROWS_AS(rwkv::generate(fresh, &state, 1, wrong, sampler, {0}, o, nullptr), rwkv::Error);
  CHECK(fresh.calls().empty());
}
