// Tests of the generation loop (runtime/generate/generate.h) on the real tiny
// byte-level models with the CPU backend: fixed seeds repeat, chunked prefill
// continues like one chunk, stop strings end the text at the right byte, and
// the state after generate() is the state of prompt + generated tokens.
#include <catch2/catch.hpp>

#include <memory>

#include "cpu_golden_util.h"
#include "runtime/cpu/cpu_backend.h"
#include "runtime/generate/generate.h"
#include "runtime/sampler/penalty_weight.h"
#include "runtime/tokenizer/tokenizer.h"
#include "testdata.h"

namespace {

// The golden prompt of the tiny models (docs/testdata.md section 2).
const std::string kPrompt = "\"In the beginning,\" she said, \"there was only the silent river.\"";

struct Run {
  rwkv::GenerateResult result;
  std::vector<float> state;
};

Run run(rwkv::Backend& be, const rwkv::Tokenizer& tok, const rwkv::SamplerParams& sp,
        const rwkv::GenerateOptions& o, const std::string& prompt = kPrompt) {
  Run r;
  r.state.resize(be.state_layout().size());
  be.init_state(r.state.data());
  rwkv::Sampler sampler(sp, rwkv::official_penalty_weight_fn(tok));
  r.result = rwkv::generate(be, r.state.data(), r.state.size(), tok, sampler, tok.encode(prompt), o, nullptr);
  return r;
}

rwkv::SamplerParams greedy() {
  rwkv::SamplerParams p;
  p.temperature = 0;
  return p;
}

}  // namespace

TEST_CASE("generate with a fixed seed repeats exactly, another seed differs", "[generate][cpu]") {
  const std::string file = GENERATE(as<std::string>{}, "tiny-rwkv-5v2-730K.pth", "tiny-rwkv-7v0-834K.pth");
  CAPTURE(file);
  auto model = rwkv::load_model(testdata_path("models/" + file));
  rwkv::CpuBackend be(*model, rwkv::CpuOptions{2});
  auto tok = rwkv::load_tokenizer("bytes");
  rwkv::SamplerParams sp;  // pip defaults: temperature 1, top_p 0.85, penalties
  sp.seed = 1234;
  rwkv::GenerateOptions o;
  o.max_tokens = 64;
  const Run a = run(be, *tok, sp, o);
  const Run b = run(be, *tok, sp, o);
  REQUIRE(a.result.tokens.size() == 64);
  CHECK(a.result.tokens == b.result.tokens);
  CHECK(a.result.text == b.result.text);
  CHECK(a.state == b.state);  // same computation, bit for bit
  sp.seed = 99;
  const Run c = run(be, *tok, sp, o);
  CHECK(c.result.tokens != a.result.tokens);
}

TEST_CASE("generate: chunked prefill (chunk_len 7) continues like one chunk", "[generate][cpu]") {
  const std::string file = GENERATE(as<std::string>{}, "tiny-rwkv-4v0-660K.pth", "tiny-rwkv-5v2-730K.pth",
                                    "tiny-rwkv-6v0-1m.pth", "tiny-rwkv-7v0-834K.pth");
  CAPTURE(file);
  auto model = rwkv::load_model(testdata_path("models/" + file));
  rwkv::CpuBackend be(*model, rwkv::CpuOptions{2});
  auto tok = rwkv::load_tokenizer("bytes");
  rwkv::GenerateOptions one, chunked;
  one.max_tokens = chunked.max_tokens = 32;
  chunked.chunk_len = 7;
  const Run a = run(be, *tok, greedy(), one);
  const Run b = run(be, *tok, greedy(), chunked);
  CHECK(a.result.tokens == b.result.tokens);
  CHECK(a.result.text == b.result.text);
  // States agree to the CPU backend's fp32 tolerance (test_cpu_golden.cpp: 1e-4 relative).
  CHECK(golden::max_rel_diff(b.state.data(), a.state.data(), a.state.size()) <= 1e-4);
}

TEST_CASE("generate leaves the state of prompt + generated tokens", "[generate][cpu]") {
  auto model = rwkv::load_model(testdata_path("models/tiny-rwkv-6v0-1m.pth"));
  rwkv::CpuBackend be(*model, rwkv::CpuOptions{2});
  auto tok = rwkv::load_tokenizer("bytes");
  rwkv::GenerateOptions o;
  o.max_tokens = 24;
  const Run a = run(be, *tok, greedy(), o);
  REQUIRE(a.result.tokens.size() == 24);
  // Reference: feed prompt + tokens one token at a time from the initial state.
  std::vector<int32_t> all = tok->encode(kPrompt);
  all.insert(all.end(), a.result.tokens.begin(), a.result.tokens.end());
  std::vector<float> st(be.state_layout().size());
  be.init_state(st.data());
  for (int32_t t : all) rwkv::prefill(be, st.data(), st.size(), &t, 1, 1, nullptr);
  CHECK(golden::max_rel_diff(a.state.data(), st.data(), st.size()) <= 1e-4);
}

TEST_CASE("generate stops at a stop string of the model's own text, spanning tokens", "[generate][cpu][stop]") {
  auto model = rwkv::load_model(testdata_path("models/tiny-rwkv-5v2-730K.pth"));
  rwkv::CpuBackend be(*model, rwkv::CpuOptions{2});
  auto tok = rwkv::load_tokenizer("bytes");
  rwkv::GenerateOptions o;
  o.max_tokens = 48;
  const Run full = run(be, *tok, greedy(), o);
  const std::string& text = full.result.text;
  REQUIRE(text.size() == 48);  // byte tokens, ASCII text: one byte per token
  // A 3-byte stop string (three tokens) taken from the middle of the text.
  const std::string stop = text.substr(20, 3);
  const size_t first = text.find(stop);
  CAPTURE(text, stop, first);
  o.stop_strings = {stop};
  const Run cut = run(be, *tok, greedy(), o);
  CHECK(cut.result.reason == rwkv::StopReason::stop_string);
  CHECK(cut.result.text == text.substr(0, first));
  // Tokens up to and including the one that completed the stop string.
  CHECK(cut.result.tokens ==
        std::vector<int32_t>(full.result.tokens.begin(), full.result.tokens.begin() + long(first + 3)));
}

TEST_CASE("Backend::forward_sample (host default) == forward + Sampler::next per sequence, stop tokens not counted",
          "[generate][cpu][sample]") {
  auto model = rwkv::load_model(testdata_path("models/tiny-rwkv-7v0-834K.pth"));
  rwkv::CpuBackend cpu(*model, rwkv::CpuOptions{2});
  const size_t V = size_t(model->info.n_vocab), S = cpu.state_layout().size();
  const std::vector<int32_t> a = {72, 101, 108}, b = {87};
  std::vector<float> s1(S), s2(S), r1(S), r2(S);
  for (float* s : {s1.data(), s2.data(), r1.data(), r2.data()}) cpu.init_state(s);
  rwkv::SamplerParams pa, pb;
  pa.seed = 5;
  pb.temperature = 0;  // greedy: its token, made a stop token, is drawn and must not be counted
  rwkv::Sampler ref_a(pa), ref_b(pb);

  rwkv::Batch ref;
  ref.logits = rwkv::LogitsMode::last;
  ref.seqs = {{a.data(), a.size(), r1.data(), S}, {b.data(), b.size(), r2.data(), S}};
  std::vector<float> logits(2 * V);
  cpu.forward(ref, logits.data());
  const int32_t want_a = ref_a.next(logits.data(), V).token;
  const int32_t want_b = ref_b.next(logits.data() + V, V).token;

  pb.token_stop = {want_b};
  rwkv::Sampler sa(pa), sb(pb);
  rwkv::Batch batch = ref;
  batch.logits = rwkv::LogitsMode::none;  // forward_sample asks for ::last itself
  batch.seqs[0].state = s1.data();
  batch.seqs[1].state = s2.data();
  rwkv::Sampler* samplers[2] = {&sa, &sb};
  int32_t got[2] = {-1, -1};
  cpu.forward_sample(batch, samplers, got);
  cpu.finish_sampling(samplers, 2);
  CHECK(got[0] == want_a);
  CHECK(got[1] == want_b);
  CHECK(sb.is_stop(got[1]));
  CHECK(sa.penalty().occurrences() == ref_a.penalty().occurrences());
  CHECK(sa.rng().state() == ref_a.rng().state());
  CHECK(sb.penalty().occurrences().empty());  // the stop token was not counted
  CHECK(s1 == r1);
  CHECK(s2 == r2);
}
