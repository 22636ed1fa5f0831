// Tests of rwkv_generate: the same tokens and text as the C++ loop it wraps,
// streamed pieces of valid UTF-8, stop strings/tokens/callback, the token
// output buffer, prefill-only runs, penalties kept or reset, continuation,
// and several threads generating on one model at once.
#include <cstring>
#include <thread>

#include "capi_test_util.h"
#include "cpu_golden_util.h"
#include "runtime/cpu/cpu_backend.h"
#include "runtime/generate/generate.h"
#include "runtime/sampler/penalty_weight.h"
#include "runtime/tokenizer/unicode_text.h"

using namespace capi_test;

namespace {

const char kPrompt[] = "\"In the beginning,\" she said, \"";

struct Collected {
  std::vector<std::string> pieces;
  int stop_after = -1;  // return non-zero after this many pieces
  bool nul_terminated = true;
};

int collect(const char* text, size_t len, void* user) {
  auto* c = static_cast<Collected*>(user);
  c->pieces.emplace_back(text, len);
  c->nul_terminated &= text[len] == '\0';  // documented
  return c->stop_after >= 0 && int(c->pieces.size()) >= c->stop_after;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += x;
  return s;
}

struct Gen {
  rwkv_status status;
  rwkv_generate_result result;
  std::vector<int32_t> tokens;
  Collected text;
};

Gen generate(rwkv_model* m, int32_t slot, rwkv_tokenizer* t, rwkv_sampler* s, int32_t max_tokens,
             std::vector<const char*> stops = {}, int stop_after = -1, int32_t keep = 0) {
  Gen g;
  g.tokens.assign(size_t(std::max(max_tokens, 0)) + 1, -1);
  g.text.stop_after = stop_after;
  rwkv_generate_params p = rwkv_generate_default_params();
  p.max_tokens = max_tokens;
  p.stop_strings = stops.empty() ? nullptr : stops.data();
  p.n_stop_strings = stops.size();
  p.on_text = collect;
  p.user_data = &g.text;
  p.tokens_out = g.tokens.data();
  p.tokens_out_capacity = g.tokens.size();
  p.keep_penalties = keep;
  g.status = rwkv_generate(m, slot, t, s, kPrompt, std::strlen(kPrompt), &p, &g.result);
  g.tokens.resize(g.status == RWKV_OK ? g.result.n_tokens : 0);
  return g;
}

void make_sampler(Sampler& s, rwkv_tokenizer* t, uint64_t seed, double temperature = 1.0) {
  rwkv_sampler_params p = rwkv_sampler_default_params();
  p.seed = seed;
  p.temperature = temperature;
  p.tokenizer = t;
  char err[256];
  REQUIRE(rwkv_sampler_init(&p, &s.h, err, sizeof err) == RWKV_OK);
}

}  // namespace

TEST_CASE("C API: rwkv_generate gives the C++ generation loop's tokens and text", "[capi][generate]") {
  const std::string file = GENERATE(as<std::string>{}, "tiny-rwkv-5v2-730K.pth", "tiny-rwkv-7v0-834K.pth");
  CAPTURE(file);
  Model m;
  load(m, file);
  Tokenizer t;
  load(t, "bytes");
  Sampler s;
  make_sampler(s, t, 2024);
  const Gen g = generate(m, 0, t, s, 64);
  INFO(rwkv_model_last_error(m));
  REQUIRE(g.status == RWKV_OK);
  CHECK(g.result.n_tokens == 64);
  CHECK(g.result.stop_reason == RWKV_STOP_MAX_TOKENS);
  CHECK(g.result.n_prompt_tokens == std::strlen(kPrompt));
  CHECK(g.text.nul_terminated);
  for (const auto& p : g.text.pieces) {
    CHECK(!p.empty());
    CHECK(rwkv::is_valid_utf8(p));
  }

  // Reference: the C++ loop with the C++ backend, sampler and tokenizer.
  auto model = rwkv::load_model(model_path(file));
  rwkv::CpuBackend be(*model, rwkv::CpuOptions{2});
  auto tok = rwkv::load_tokenizer("bytes");
  rwkv::SamplerParams sp;
  sp.seed = 2024;
  rwkv::Sampler sampler(sp, rwkv::official_penalty_weight_fn(*tok));
  std::vector<float> st(be.state_layout().size());
  be.init_state(st.data());
  rwkv::GenerateOptions o;
  o.max_tokens = 64;
  const rwkv::GenerateResult r = rwkv::generate(be, st.data(), st.size(), *tok, sampler, tok->encode(kPrompt), o, nullptr);
  CHECK(g.tokens == r.tokens);
  CHECK(join(g.text.pieces) == r.text);
  CHECK(read_state(m, 0) == st);
}

TEST_CASE("C API: rwkv_generate stops at stop strings, stop tokens and the callback", "[capi][generate]") {
  Model m;
  load(m, "tiny-rwkv-7v0-834K.pth");
  Tokenizer t;
  load(t, "bytes");
  auto fresh = [&](Sampler& s) {
    REQUIRE(rwkv_state_reset(m, 0) == RWKV_OK);
    make_sampler(s, t, 1, 0.0);  // greedy
  };
  Sampler s0;
  fresh(s0);
  const Gen full = generate(m, 0, t, s0, 40);
  REQUIRE(full.status == RWKV_OK);
  const std::string text = join(full.text.pieces);
  REQUIRE(text.size() == 40);

  // A stop string spanning tokens: the text ends just before it.
  const std::string stop = text.substr(25, 4);
  Sampler s1;
  fresh(s1);
  const Gen cut = generate(m, 0, t, s1, 40, {"\x01never", stop.c_str()});
  REQUIRE(cut.status == RWKV_OK);
  CHECK(cut.result.stop_reason == RWKV_STOP_STRING);
  CHECK(join(cut.text.pieces) == text.substr(0, text.find(stop)));
  CHECK(cut.result.n_tokens == text.find(stop) + 4);

  // The callback stops generation after 5 pieces.
  Sampler s2;
  fresh(s2);
  const Gen cb = generate(m, 0, t, s2, 40, {}, 5);
  CHECK(cb.result.stop_reason == RWKV_STOP_CALLBACK);
  CHECK(cb.text.pieces.size() == 5);
  CHECK(cb.result.n_tokens == 5);

  // A stop token: the 10th greedy token, not kept.
  Sampler s3;
  REQUIRE(rwkv_state_reset(m, 0) == RWKV_OK);
  rwkv_sampler_params sp = rwkv_sampler_default_params();
  sp.temperature = 0;
  sp.tokenizer = t;
  const int32_t stop_tok = full.tokens[9];
  sp.stop_tokens = &stop_tok;
  sp.n_stop_tokens = 1;
  char err[128];
  REQUIRE(rwkv_sampler_init(&sp, &s3.h, err, sizeof err) == RWKV_OK);
  const Gen st = generate(m, 0, t, s3, 40);
  CHECK(st.result.stop_reason == RWKV_STOP_TOKEN);
  CHECK(st.result.stop_token == stop_tok);
  const size_t first = size_t(std::find(full.tokens.begin(), full.tokens.end(), stop_tok) - full.tokens.begin());
  CHECK(st.tokens == std::vector<int32_t>(full.tokens.begin(), full.tokens.begin() + long(first)));
}

TEST_CASE("C API: rwkv_generate token buffer, prefill-only runs and continuation", "[capi][generate]") {
  Model m;
  load(m, "tiny-rwkv-6v0-1m.pth", 2);
  Tokenizer t;
  load(t, "bytes");
  Sampler s;
  make_sampler(s, t, 9, 0.0);
  // Prefill only: the state is the prompt's.
  const Gen pre = generate(m, 0, t, s, 0);
  REQUIRE(pre.status == RWKV_OK);
  CHECK(pre.result.n_tokens == 0);
  CHECK(pre.text.pieces.empty());
  std::vector<int32_t> prompt;
  for (const char* c = kPrompt; *c; ++c) prompt.push_back((unsigned char)*c);
  REQUIRE(rwkv_eval(m, 1, prompt.data(), prompt.size(), nullptr, 0) == RWKV_OK);
  CHECK(read_state(m, 0) == read_state(m, 1));

  // A token buffer smaller than the output: filled, n_tokens tells the total.
  REQUIRE(rwkv_state_reset(m, 0) == RWKV_OK);
  std::vector<int32_t> small(3, -1);
  rwkv_generate_params p = rwkv_generate_default_params();
  p.max_tokens = 8;
  p.tokens_out = small.data();
  p.tokens_out_capacity = small.size();
  rwkv_generate_result r;
  REQUIRE(rwkv_generate(m, 0, t, s, kPrompt, std::strlen(kPrompt), &p, &r) == RWKV_OK);
  CHECK(r.n_tokens == 8);
  REQUIRE(rwkv_state_reset(m, 1) == RWKV_OK);
  const Gen full = generate(m, 1, t, s, 8);
  CHECK(std::vector<int32_t>(full.tokens.begin(), full.tokens.begin() + 3) == small);

  // The state after generate is the state of prompt + generated tokens.
  std::vector<int32_t> all = prompt;
  all.insert(all.end(), full.tokens.begin(), full.tokens.end());
  REQUIRE(rwkv_state_reset(m, 0) == RWKV_OK);
  for (int32_t tok : all) REQUIRE(rwkv_eval(m, 0, &tok, 1, nullptr, 0) == RWKV_OK);
  const std::vector<float> a = read_state(m, 0), b = read_state(m, 1);
  CHECK(golden::max_rel_diff(b.data(), a.data(), a.size()) <= 1e-4);  // CPU fp32 tolerance
}

TEST_CASE("C API: rwkv_generate resets the penalties unless asked to keep them", "[capi][generate]") {
  const std::string file = "tiny-rwkv-5v2-730K.pth";
  // Reference: the C++ loop twice from fresh states, with and without reset_penalties() between.
  auto model = rwkv::load_model(model_path(file));
  rwkv::CpuBackend be(*model, rwkv::CpuOptions{2});
  auto tok = rwkv::load_tokenizer("bytes");
  rwkv::SamplerParams sp;
  sp.temperature = 0;
  sp.alpha_presence = 1.0;  // strong penalties so that kept counts matter
  sp.alpha_frequency = 1.0;
  rwkv::GenerateOptions o;
  o.max_tokens = 16;
  auto second_run = [&](bool reset) {
    rwkv::Sampler sampler(sp, rwkv::official_penalty_weight_fn(*tok));
    std::vector<float> st(be.state_layout().size());
    for (int run = 0; run < 2; ++run) {
      be.init_state(st.data());
      if (reset) sampler.reset_penalties();
      const rwkv::GenerateResult r = rwkv::generate(be, st.data(), st.size(), *tok, sampler, tok->encode(kPrompt), o, nullptr);
      if (run == 1) return r.tokens;
    }
    return std::vector<int32_t>();
  };
  const std::vector<int32_t> with_reset = second_run(true), kept_counts = second_run(false);

  Model m;
  load(m, file);
  Tokenizer t;
  load(t, "bytes");
  for (int32_t keep = 0; keep <= 1; ++keep) {
    CAPTURE(keep);
    rwkv_sampler_params p = rwkv_sampler_default_params();
    p.temperature = 0;
    p.alpha_presence = 1.0;
    p.alpha_frequency = 1.0;
    p.tokenizer = t;
    Sampler s;
    char err[128];
    REQUIRE(rwkv_sampler_init(&p, &s.h, err, sizeof err) == RWKV_OK);
    REQUIRE(rwkv_state_reset(m, 0) == RWKV_OK);
    generate(m, 0, t, s, 16, {}, -1, keep);
    REQUIRE(rwkv_state_reset(m, 0) == RWKV_OK);
    const Gen second = generate(m, 0, t, s, 16, {}, -1, keep);
    CHECK(second.tokens == (keep ? kept_counts : with_reset));
  }
}

TEST_CASE("C API: threads generating on different slots of one model get their own results", "[capi][generate][threads]") {
  Model m;
  load(m, "tiny-rwkv-7v0-834K.pth", 3);
  Tokenizer t;
  load(t, "bytes");
  // Sequential reference, one seed per slot.
  std::vector<std::vector<int32_t>> ref(3);
  for (int32_t slot = 0; slot < 3; ++slot) {
    Sampler s;
    make_sampler(s, t, 100 + uint64_t(slot));
    ref[size_t(slot)] = generate(m, slot, t, s, 24).tokens;
    REQUIRE(rwkv_state_reset(m, slot) == RWKV_OK);
  }
  std::vector<std::vector<int32_t>> got(3);
  std::vector<rwkv_status> status(3, RWKV_ERR_INTERNAL);
  std::vector<std::thread> threads;
  std::vector<Sampler> samplers(3);
  for (int32_t slot = 0; slot < 3; ++slot) make_sampler(samplers[size_t(slot)], t, 100 + uint64_t(slot));
  for (int32_t slot = 0; slot < 3; ++slot)
    threads.emplace_back([&, slot] {
      const Gen g = generate(m, slot, t, samplers[size_t(slot)], 24);
      status[size_t(slot)] = g.status;
      got[size_t(slot)] = g.tokens;
    });
  for (auto& th : threads) th.join();
  for (size_t i = 0; i < 3; ++i) {
    CHECK(status[i] == RWKV_OK);
    CHECK(got[i] == ref[i]);
  }
}
