// Tests of the generation-step sampler (docs/rwkv-math.md section 8.2): bans, presence and
// frequency penalties with decay, stop tokens, the weight exemption, seeding.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <map>

#include "runtime/core/error.h"
#include "runtime/sampler/penalty_weight.h"
#include "runtime/sampler/sampler.h"
#include "runtime/tokenizer/tokenizer.h"
#include "test_tokenizer_vectors.h"

namespace {

// Logits whose greedy choice is `winner`.
std::vector<float> pick(size_t n, int32_t winner) {
  std::vector<float> l(n, 0.f);
  l[size_t(winner)] = 50.f;
  return l;
}

}  // namespace

TEST_CASE("Penalties change logits by exactly presence + occ * frequency, with decay", "[sampler]") {
  rwkv::SamplerParams p;
  p.alpha_presence = 0.3;
  p.alpha_frequency = 0.15;
  p.alpha_decay = 0.97;
  p.temperature = 0;  // greedy, so the accepted tokens are known
  // Weight 0 for token 7 (as a space or digit token would be), 1 otherwise.
  rwkv::Sampler sampler(p, [](int32_t t) { return t == 7 ? 0.0 : 1.0; });
  const size_t n = 16;
  const std::vector<int32_t> sequence = {5, 3, 5, 7, 5, 9, 3};
  std::map<int32_t, double> occ;  // the test's own bookkeeping, in Python's doubles
  TestRandom rnd(11);
  for (int32_t t : sequence) {
    // Before this step: check the adjustment on random logits.
    std::vector<float> logits(n);
    for (auto& x : logits) x = float(rnd.uniform() * 10 - 5);
    std::vector<float> adjusted = logits;
    sampler.adjust_logits(adjusted.data(), n);
    for (size_t i = 0; i < n; ++i) {
      auto it = occ.find(int32_t(i));
      const float expect = it == occ.end() ? logits[i] : logits[i] - float(p.alpha_presence + it->second * p.alpha_frequency);
      CHECK(adjusted[i] == expect);  // bit-exact
    }
    // Step: greedy picks t (its logit dwarfs the penalties).
    auto l = pick(n, t);
    const auto r = sampler.next(l.data(), n);
    REQUIRE(r.token == t);
    REQUIRE_FALSE(r.stop);
    for (auto& kv : occ) kv.second *= p.alpha_decay;
    occ[t] += t == 7 ? 0.0 : 1.0;
    CHECK(sampler.penalty().occurrences() == occ);
  }
  CHECK(occ.count(7) == 1);  // a weight-0 token still gets the presence penalty
}

TEST_CASE("Banned tokens are never drawn and stop tokens are reported uncounted", "[sampler]") {
  rwkv::SamplerParams p;
  p.token_ban = {2};
  p.token_stop = {4};
  p.temperature = 0;
  rwkv::Sampler sampler(p);
  auto l = pick(8, 2);  // the banned token has the largest logit
  l[6] = 10.f;
  auto r = sampler.next(l.data(), 8);
  CHECK(r.token == 6);
  CHECK(std::isinf(l[2]));
  const auto before = sampler.penalty().occurrences();
  l = pick(8, 4);
  r = sampler.next(l.data(), 8);
  CHECK(r.token == 4);
  CHECK(r.stop);
  CHECK(sampler.penalty().occurrences() == before);
}

TEST_CASE("A seed makes a sampling run repeatable", "[sampler]") {
  rwkv::SamplerParams p;
  p.temperature = 1.2;
  p.top_p = 0.95;
  auto run = [&](uint64_t seed) {
    p.seed = seed;
    rwkv::Sampler s(p);
    TestRandom rnd(3);  // same logits every run
    std::vector<int32_t> out;
    for (int i = 0; i < 200; ++i) {
      std::vector<float> l(100);
      for (auto& x : l) x = float(rnd.uniform() * 4);
      out.push_back(s.next(l.data(), l.size()).token);
    }
    return out;
  };
  CHECK(run(123) == run(123));
  CHECK(run(123) != run(124));
}

TEST_CASE("A step bias is added before bans and penalties, in order, for one draw only", "[sampler]") {
  rwkv::SamplerParams p;
  p.temperature = 1.0;
  p.top_p = 0.9;
  p.token_ban = {3};
  p.seed = 77;
  const size_t n = 40;
  rwkv::Sampler biased(p), manual(p);  // the same seed: the same draws for the same logits
  TestRandom rnd(5);
  for (int step = 0; step < 60; ++step) {
    std::vector<float> logits(n);
    for (auto& x : logits) x = float(rnd.uniform() * 6 - 3);
    // Entries in order: a repeated token adds twice, -inf bans for this step only.
    const std::vector<rwkv::StepBias> bias = {
        {int32_t(step % 7), 1.25f}, {10, -0.5f}, {int32_t(step % 7), 0.75f}, {int32_t(20 + step % 5), -INFINITY}};
    std::vector<float> expect = logits;
    for (const rwkv::StepBias& e : bias) expect[size_t(e.token)] += e.bias;
    std::vector<float> adjusted = logits;
    biased.set_step_bias(bias);
    biased.adjust_logits(adjusted.data(), n);  // applies, does not consume
    std::vector<float> by_hand = expect;
    manual.adjust_logits(by_hand.data(), n);   // bans and the same penalties on the biased logits
    CHECK(std::memcmp(adjusted.data(), by_hand.data(), n * sizeof(float)) == 0);
    REQUIRE(biased.step_bias().size() == bias.size());
    const auto got = biased.next(logits.data(), n);
    const auto want = manual.next(expect.data(), n);
    CAPTURE(step);
    REQUIRE(got.token == want.token);
    CHECK(got.token != 20 + step % 5);
    CHECK(biased.step_bias().empty());  // consumed
    CHECK(biased.penalty().occurrences() == manual.penalty().occurrences());
  }
  // Without a new bias the next draw is unbiased.
  std::vector<float> a(n, 0.f), b(n, 0.f);
  a[4] = b[4] = 3.f;
  CHECK(biased.next(a.data(), n).token == manual.next(b.data(), n).token);
}

TEST_CASE("A bad step bias is refused and leaves the sampler unchanged", "[sampler]") {
  rwkv::Sampler s{rwkv::SamplerParams{}};
  s.set_step_bias({{1, 2.f}});
  std::vector<rwkv::StepBias> many(rwkv::Sampler::kMaxStepBias + 1, rwkv::StepBias{0, 1.f});
  CHECK_THROWS_WITH(s.set_step_bias(many), Catch::Contains("at most 16"));
  CHECK_THROWS_AS(s.set_step_bias({{-1, 1.f}}), rwkv::Error);
  CHECK_THROWS_AS(s.set_step_bias({{2, NAN}}), rwkv::Error);
  CHECK_THROWS_AS(s.set_step_bias({{2, INFINITY}}), rwkv::Error);
  REQUIRE(s.step_bias().size() == 1);
  CHECK(s.step_bias()[0].token == 1);
  many.pop_back();
  s.set_step_bias(many);  // 16 entries fit
  // A token outside the logits: refused by the draw, before anything changes.
  s.set_step_bias({{9, 1.f}});
  std::vector<float> l(8, 1.f);
  const auto rng = s.rng().state();
  CHECK_THROWS_WITH(s.next(l.data(), l.size()), Catch::Contains("outside the vocabulary"));
  CHECK(s.rng().state() == rng);
  CHECK(l == std::vector<float>(8, 1.f));
  CHECK(s.step_bias().size() == 1);
}

TEST_CASE("Penalty weight exempts tokens whose text is inside the space-tab-digits string", "[sampler][tokenizer]") {
  auto world = rwkv::load_tokenizer(testdata_path("tokenizer/rwkv_vocab_v20230424.txt"));
  auto neox = rwkv::load_tokenizer(testdata_path("tokenizer/20B_tokenizer.json"));
  for (const rwkv::Tokenizer* tok : {world.get(), neox.get()}) {
    INFO(tok->kind());
    for (const std::string text : {" ", "\t", "0", "7", "45"}) {
      const auto ids = tok->encode(text);
      REQUIRE(ids.size() == 1);
      CHECK(rwkv::official_penalty_weight(*tok, ids[0]) == 0.0);
    }
    for (const std::string text : {"  ", "a", "\n", "54", " 1"}) {
      const auto ids = tok->encode(text);
      REQUIRE(ids.size() == 1);
      CHECK(rwkv::official_penalty_weight(*tok, ids[0]) == 1.0);
    }
    CHECK(rwkv::official_penalty_weight(*tok, 0) == 0.0);  // end of text decodes to ""
  }
  // A token that is not valid UTF-8 on its own decodes to U+FFFD: weight 1.
  CHECK(rwkv::official_penalty_weight(*world, world->encode("\xFF")[0]) == 1.0);
}
