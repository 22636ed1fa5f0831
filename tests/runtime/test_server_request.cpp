// tests/runtime/test_server_request.cpp: the server's request parsing
// (server/api_request.h), chat rendering (server/chat_format.h) and prefix
// cache (server/prefix_cache.h).
#include <catch2/catch.hpp>

#include "server/api_request.h"
#include "server/chat_format.h"
#include "server/prefix_cache.h"

using rwkv::server::ApiError;
using rwkv::server::ApiRequest;
using rwkv::server::parse_api_request;
using rwkv::server::RequestDefaults;

namespace {

ApiRequest parse(const std::string& body, bool chat = false, const std::string& kind = "world") {
  return parse_api_request(body, chat, kind, RequestDefaults{});
}

// The status and param of the ApiError `body` raises.
std::pair<int, std::string> refusal(const std::string& body, bool chat = false) {
  try {
    parse(body, chat);
  } catch (const ApiError& e) {
    CHECK(std::string(e.what()).size() > 10);
    return {e.status, e.param};
  }
  FAIL("accepted: " << body);
  return {0, ""};
}

}  // namespace

TEST_CASE("server request: completions fields, defaults and OpenAI names", "[server]") {
  const ApiRequest r = parse(R"({"model":"m","prompt":"Hi","max_tokens":5,"temperature":0.5,"top_p":0.9,
    "top_k":4,"presence_penalty":1,"frequency_penalty":-1,"seed":-1,"stop":["a","b"],"logit_bias":{"7":-100,"9":2.5},
    "stream":true,"stream_options":{"include_usage":true},"user":"ignored","n":1})");
  CHECK(r.model == "m");
  CHECK(r.pieces == std::vector<std::string>{"Hi"});
  CHECK(r.max_tokens == 5);
  CHECK(r.temperature == 0.5);
  CHECK(r.top_p == Approx(0.9));
  CHECK(r.top_k == 4);
  CHECK(r.presence_penalty == 1);
  CHECK(r.frequency_penalty == -1);
  REQUIRE(r.seed);
  CHECK(*r.seed == UINT64_MAX);
  CHECK(r.stop == std::vector<std::string>{"a", "b"});
  REQUIRE(r.logit_bias.size() == 2);
  CHECK(r.logit_bias[0] == std::make_pair(int32_t(7), -100.f));
  CHECK(r.stream);
  CHECK(r.include_usage);
  const ApiRequest d = parse(R"({"prompt":["x"]})");
  const RequestDefaults defaults;
  CHECK(d.max_tokens == defaults.completion_max_tokens);
  CHECK(d.temperature == defaults.temperature);
  CHECK(d.top_p == defaults.top_p);
  CHECK(!d.seed);
  CHECK(!d.stream);
  CHECK(parse(R"({"prompt":[1,2,3]})").prompt_ids == std::vector<int32_t>{1, 2, 3});
  CHECK(parse(R"({"prompt":"x","stop":"\n"})").stop == std::vector<std::string>{"\n"});
}

TEST_CASE("server request: chat messages rendered per model family", "[server]") {
  const std::string body = R"({"messages":[{"role":"system","content":"Be brief."},
    {"role":"user","content":"  Hi\r\n\r\nthere "},{"role":"assistant","content":"Hello!"},
    {"role":"user","content":[{"type":"text","text":"Why?"}]}]})";
  const ApiRequest w = parse(body, true, "world");
  CHECK(w.pieces == std::vector<std::string>{"System: Be brief.\n\n", "User: Hi\nthere\n\n", "Assistant: Hello!\n\n",
                                             "User: Why?\n\n", "Assistant:"});
  CHECK(w.max_tokens == RequestDefaults{}.chat_max_tokens);
  const ApiRequest p = parse(body, true, "20b");
  CHECK(p.pieces == std::vector<std::string>{"Be brief.\n\n", "Bob: Hi\nthere\n\n", "Alice: Hello!\n\n",
                                             "Bob: Why?\n\n", "Alice:"});
  CHECK(rwkv::server::normalize_message("\n\na\n\n\n\nb  ") == "a\nb");
}

TEST_CASE("server request: every malformed field is a 400 naming it", "[server]") {
  CHECK(refusal("{") == std::make_pair(400, std::string()));
  CHECK(refusal("[1]") == std::make_pair(400, std::string()));
  CHECK(refusal("{\"prompt\":\"\xff\"}").first == 400);  // invalid UTF-8
  CHECK(refusal(R"({})").second == "prompt");
  CHECK(refusal(R"({"prompt":""})").second == "prompt");
  CHECK(refusal(R"({"prompt":{"a":1}})").second == "prompt");
  CHECK(refusal(R"({"prompt":[1,-2]})").second == "prompt");
  CHECK(refusal(R"({"prompt":"x","max_tokens":0})").second == "max_tokens");
  CHECK(refusal(R"({"prompt":"x","max_tokens":1e30})").second == "max_tokens");
  CHECK(refusal(R"({"prompt":"x","max_tokens":99999999})").second == "max_tokens");
  CHECK(refusal(R"({"prompt":"x","temperature":3})").second == "temperature");
  CHECK(refusal(R"({"prompt":"x","temperature":"hot"})").second == "temperature");
  CHECK(refusal(R"({"prompt":"x","top_p":-0.1})").second == "top_p");
  CHECK(refusal(R"({"prompt":"x","top_k":1.5})").second == "top_k");
  CHECK(refusal(R"({"prompt":"x","seed":"1"})").second == "seed");
  CHECK(refusal(R"({"prompt":"x","n":2})").second == "n");
  CHECK(refusal(R"({"prompt":"x","logprobs":3})").second == "logprobs");
  CHECK(refusal(R"({"prompt":"x","stop":[1]})").second == "stop");
  CHECK(refusal(R"({"prompt":"x","logit_bias":{"x":1}})").second == "logit_bias");
  CHECK(refusal(R"({"prompt":"x","logit_bias":{"1":101}})").second == "logit_bias");
  CHECK(refusal(R"({"prompt":"x","stream":"yes"})").second == "stream");
  CHECK(refusal(R"({"prompt":"x","model":7})").second == "model");
  CHECK(refusal(R"({"messages":[]})", true).second == "messages");
  CHECK(refusal(R"({"messages":[{"role":"robot","content":"x"}]})", true).second == "messages[0].role");
  CHECK(refusal(R"({"messages":[{"role":"user"}]})", true).second == "messages[0].content");
  CHECK(refusal(R"({"messages":[{"role":"user","content":[{"type":"image_url"}]}]})", true).second ==
        "messages[0].content");
}

TEST_CASE("server prefix cache: longest prefix, bounded lookups, LRU eviction by bytes", "[server]") {
  using rwkv::server::PrefixCache;
  const std::vector<float> s1(100, 1.f), s2(100, 2.f), s3(100, 3.f);
  const size_t entry = 100 * sizeof(float);
  PrefixCache cache(3 * entry + 100);  // three entries and their keys (8 to 24 bytes each)
  const std::vector<int32_t> t = {1, 2, 3, 4, 5, 6};
  cache.insert(t.data(), 2, s1.data(), s1.size());
  cache.insert(t.data(), 4, s2.data(), s2.size());
  std::vector<float> got;
  CHECK(cache.lookup(t.data(), 6, &got) == 4);
  CHECK(got == s2);
  CHECK(cache.lookup(t.data(), 3, &got) == 2);  // the 4-token entry is longer than allowed
  CHECK(got == s1);
  const std::vector<int32_t> other = {1, 9, 9};
  CHECK(cache.lookup(other.data(), 3, &got) == 0);
  CHECK(cache.stats().hits == 2);
  CHECK(cache.stats().misses == 1);
  CHECK(cache.stats().tokens_saved == 6);
  // Entry 2 was used last, entry 4 before: a third and fourth insert evict the 4-token one first.
  cache.insert(other.data(), 3, s3.data(), s3.size());
  CHECK(cache.stats().entries == 3);
  cache.insert(t.data(), 6, s3.data(), s3.size());
  CHECK(cache.stats().entries == 3);
  CHECK(cache.stats().evictions == 1);
  CHECK(cache.lookup(t.data(), 5, &got) == 2);
  CHECK(cache.stats().bytes <= cache.stats().capacity);
  PrefixCache tiny(10);
  tiny.insert(t.data(), 2, s1.data(), s1.size());  // larger than the whole cache: not kept
  CHECK(tiny.stats().entries == 0);
}
