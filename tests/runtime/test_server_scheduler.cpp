// tests/runtime/test_server_scheduler.cpp: the server's continuous batching
// (server/scheduler.h) on the CPU engine and a tiny model: every request gives
// rwkv::generate's text for its prompt, options and seed, alone or among
// others; cancellation and shutdown free slots; the queue bound; the prefix
// cache.
#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

#include "server/scheduler.h"
#include "server_test_util.h"

using rwkv::server::FinishReason;
using rwkv::server::Scheduler;
using rwkv::server::SchedulerOptions;
using rwkv::server::SequenceHandle;
using namespace server_test;

namespace {

std::shared_ptr<SequenceHandle> submit(Scheduler& s, rwkv::server::GenerationRequest r) {
  std::shared_ptr<SequenceHandle> h;
  REQUIRE(s.submit(std::move(r), &h) == Scheduler::Submit::accepted);
  return h;
}

bool wait_until(const std::function<bool()>& done, double seconds = 20) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds((long long)(seconds * 1000));
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace

TEST_CASE("server scheduler: one request gives rwkv::generate's text", "[server]") {
  TinyModel m;
  auto engine = m.engine(2);
  rwkv::server::Metrics metrics;
  Scheduler s(*engine, *m.tokenizer, SchedulerOptions{}, &metrics);
  auto r = request(*m.tokenizer, "The quick brown fox", 7, 40);
  const std::string want = reference_text(m, r);
  const Outcome got = collect(*submit(s, r));
  REQUIRE(got.finished);
  CHECK(got.text == want);
  CHECK(got.final.reason == FinishReason::length);
  CHECK(got.final.prompt_tokens == r.prompt.size());
  CHECK(got.final.completion_tokens == 40);
}

TEST_CASE("server scheduler: 12 requests on 3 slots, long prompts in small steps, each as alone", "[server]") {
  TinyModel m;
  auto engine = m.engine(3);
  SchedulerOptions o;
  o.chunk_len = 16;  // prompts of up to 90 tokens in several chunks, fed 24 tokens a step
  o.step_prefill_tokens = 24;
  Scheduler s(*engine, *m.tokenizer, o, nullptr);
  std::vector<rwkv::server::GenerationRequest> reqs;
  for (int i = 0; i < 12; ++i) {
    std::string prompt = "Request " + std::to_string(i) + ": ";
    for (int k = 0; k < i * 7; ++k) prompt += char('a' + (k * 5 + i) % 26);
    reqs.push_back(request(*m.tokenizer, prompt, 100 + i, 10 + 3 * i, i % 3 == 0 ? 0.0 : 1.0));
    if (i % 4 == 1) reqs.back().stop_strings = {"e"};
  }
  std::vector<std::shared_ptr<SequenceHandle>> handles;
  for (auto& r : reqs) handles.push_back(submit(s, r));
  for (size_t i = 0; i < reqs.size(); ++i) {
    INFO("request " << i);
    auto engine1 = m.engine(1);
    rwkv::Sampler sampler(reqs[i].sampling, rwkv::official_penalty_weight_fn(*m.tokenizer));
    rwkv::GenerateOptions go;
    go.max_tokens = reqs[i].max_tokens;
    go.chunk_len = o.chunk_len;
    go.stop_strings = reqs[i].stop_strings;
    const auto want = rwkv::generate(engine1->backend(), engine1->slot(0), engine1->state_floats(), *m.tokenizer,
                                     sampler, reqs[i].prompt, go, nullptr);
    const Outcome got = collect(*handles[i]);
    REQUIRE(got.finished);
    CHECK(got.text == want.text);
    CHECK(got.final.completion_tokens == want.tokens.size());
    CHECK(got.final.reason ==
          (want.reason == rwkv::StopReason::max_tokens ? FinishReason::length : FinishReason::stop));
  }
  CHECK(s.stats().active == 0);
}

TEST_CASE("server scheduler: a cancelled sequence frees its slot, the queue is bounded, shutdown cancels", "[server]") {
  TinyModel m;
  auto engine = m.engine(1);
  SchedulerOptions o;
  o.queue_limit = 1;
  Scheduler s(*engine, *m.tokenizer, o, nullptr);
  auto long_one = submit(s, request(*m.tokenizer, "a", 1, 1000000));
  REQUIRE(wait_until([&] { return s.stats().active == 1 && s.stats().queued == 0; }));
  auto queued = submit(s, request(*m.tokenizer, "b", 2, 5));
  std::shared_ptr<SequenceHandle> refused;
  CHECK(s.submit(request(*m.tokenizer, "c", 3, 5), &refused) == Scheduler::Submit::queue_full);
  CHECK(refused == nullptr);
  long_one->cancel();
  const Outcome cancelled = collect(*long_one);
  REQUIRE(cancelled.finished);
  CHECK(cancelled.final.reason == FinishReason::cancelled);
  const Outcome next = collect(*queued);  // took the freed slot
  REQUIRE(next.finished);
  CHECK(next.final.reason == FinishReason::length);
  CHECK(next.final.completion_tokens == 5);

  auto running = submit(s, request(*m.tokenizer, "d", 4, 1000000));
  REQUIRE(wait_until([&] { return s.stats().active == 1; }));
  s.shutdown(std::chrono::milliseconds(50));
  const Outcome stopped = collect(*running, 5);
  REQUIRE(stopped.finished);
  CHECK(stopped.final.reason == FinishReason::cancelled);
  std::shared_ptr<SequenceHandle> late;
  CHECK(s.submit(request(*m.tokenizer, "e", 5, 5), &late) == Scheduler::Submit::shutting_down);
}

TEST_CASE("server scheduler: shutdown lets running sequences finish within the grace period", "[server]") {
  TinyModel m;
  auto engine = m.engine(2);
  Scheduler s(*engine, *m.tokenizer, SchedulerOptions{}, nullptr);
  auto r = request(*m.tokenizer, "Grace", 9, 30);
  const std::string want = reference_text(m, r);
  auto h = submit(s, r);
  s.shutdown(std::chrono::seconds(30));  // returns once the sequence is done
  const Outcome got = collect(*h, 1);
  REQUIRE(got.finished);
  CHECK(got.final.reason == FinishReason::length);
  CHECK(got.text == want);
}

TEST_CASE("server scheduler: a prompt extending a cached one prefills only its new tokens", "[server]") {
  TinyModel m;
  auto engine = m.engine(1);
  SchedulerOptions o;
  o.cache_bytes = 64 << 20;
  rwkv::server::Metrics metrics;
  Scheduler s(*engine, *m.tokenizer, o, &metrics);
  auto first = request(*m.tokenizer, "System: be brief.\n\nUser: hi\n\n", 3, 8, 0.0);
  const Outcome a = collect(*submit(s, first));
  REQUIRE(a.finished);
  CHECK(a.final.cached_tokens == 0);
  auto second = request(*m.tokenizer, "System: be brief.\n\nUser: hi\n\nAssistant: ok", 3, 8, 0.0);
  const Outcome b = collect(*submit(s, second));
  REQUIRE(b.finished);
  CHECK(b.final.cached_tokens == first.prompt.size());
  CHECK(b.text == reference_text(m, second));  // greedy: the cached state is the state
  const auto c = s.cache_stats();
  CHECK(c.hits == 1);
  CHECK(c.misses == 1);
  CHECK(c.tokens_saved == first.prompt.size());
  CHECK(c.entries == 2);
  const std::string text = metrics.prometheus(s.stats(), c);
  CHECK(text.find("rwkv_prefix_cache_hits_total 1\n") != std::string::npos);
  CHECK(text.find("rwkv_completion_tokens_total 16\n") != std::string::npos);
}
