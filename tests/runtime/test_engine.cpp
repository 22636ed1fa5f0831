// Tests of the engine (runtime/engine/): the device parser, the one chunking
// (forward_chunked) against a recording backend, and an engine on the CPU
// backend against the backend called directly.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <optional>
#include <vector>

#include "runtime/cpu/cpu_backend.h"
#include "runtime/engine/chunked_forward.h"
#include "runtime/engine/device.h"
#include "runtime/engine/engine.h"
#include "runtime/model/synth.h"
#include "testdata.h"

namespace {

using Kind = rwkv::InputError::Kind;

// Records the token spans and logits mode of every forward() call; a state
// counts the tokens fed to it, a logits row holds its sequence's count.
class RecordingBackend final : public rwkv::Backend {
 public:
  struct Call {
    std::vector<size_t> lengths;
    rwkv::LogitsMode mode;
  };
  explicit RecordingBackend(int32_t n_vocab) { info_.n_vocab = n_vocab; }
  const char* name() const override { return "recording"; }
  const rwkv::ModelInfo& info() const override { return info_; }
  const rwkv::StateLayout& state_layout() const override { return layout_; }
  void init_state(float* state) const override { state[0] = 0; }
  void forward(const rwkv::Batch& batch, float* logits) override {
    Call c{{}, batch.logits};
    for (size_t i = 0; i < batch.seqs.size(); ++i) {
      const rwkv::SeqInput& s = batch.seqs[i];
      c.lengths.push_back(s.n_tokens);
      s.state[0] += float(s.n_tokens);
      if (batch.logits == rwkv::LogitsMode::last)
        for (int32_t v = 0; v < info_.n_vocab; ++v) logits[i * size_t(info_.n_vocab) + size_t(v)] = s.state[0];
    }
    calls.push_back(c);
  }
  std::vector<Call> calls;

 private:
  rwkv::ModelInfo info_;
  rwkv::StateLayout layout_;
};

rwkv::SynthSpec small_spec() {
  rwkv::SynthSpec s = rwkv::synth_spec("7", "0.1B");
  s.size = "engine-test";
  s.n_embd = 64;
  s.n_layer = 2;
  s.n_vocab = 97;
  s.n_ffn = 128;
  s.head_size = 32;
  s.lora_w = s.lora_a = s.lora_v = s.lora_g = 32;
  return s;
}

std::vector<int32_t> tokens(size_t n, int32_t salt) {
  std::vector<int32_t> t(n);
  for (size_t i = 0; i < n; ++i) t[i] = int32_t((i * 31 + size_t(salt) * 7 + 3) % 97);
  return t;
}

}  // namespace

TEST_CASE("engine: the device parser accepts auto, cpu, cuda and cuda:N below the limit", "[engine]") {
  CHECK(rwkv::parse_device("auto").automatic);
  CHECK_FALSE(rwkv::parse_device("cpu").automatic);
  CHECK_FALSE(rwkv::parse_device("cpu").device.is_cuda());
  CHECK(rwkv::parse_device("cuda").device.is_cuda());
  CHECK(rwkv::parse_device("cuda").device.index == 0);
  CHECK(rwkv::parse_device("cuda:7").device.index == 7);
  const std::string last = "cuda:" + std::to_string(rwkv::kMaxCudaDevices - 1);
  CHECK(rwkv::parse_device(last).device.index == rwkv::kMaxCudaDevices - 1);
  CHECK(rwkv::parse_device(last).device.name() == last);
  for (const char* bad : {"", "gpu", "CPU", "cuda:", "cuda:x", "cuda:-1", "cuda:+1", "cuda: 1", "cuda:1.0",
                          "cuda:1024", "cuda:99999", "cpu:0", "auto:0"}) {
    CAPTURE(bad);
    try {
      rwkv::parse_device(bad);
      FAIL("accepted");
    } catch (const rwkv::InputError& e) {
      CHECK(e.kind == Kind::argument);
      CHECK(std::string(e.what()).find("expected auto, cpu, cuda or cuda:N") != std::string::npos);
    }
  }
}

TEST_CASE("engine: auto resolves to one device and says which, a named device gives no note", "[engine]") {
  std::string note = "stale";
  const rwkv::Device named = rwkv::resolve_device(rwkv::parse_device("cuda:3"), &note);
  CHECK(named.name() == "cuda:3");
  CHECK(note.empty());
  const rwkv::Device picked = rwkv::resolve_device(rwkv::parse_device("auto"), &note);
  CHECK(note.rfind("device auto: " + picked.name() + " (", 0) == 0);
#if !defined(RWKV_HAVE_GPU) || defined(RWKV_CUDA_EMU)
  CHECK_FALSE(picked.is_cuda());  // no real GPU path: auto never picks the emulator
#endif
}

TEST_CASE("engine: forward_chunked cuts every span into rounds and keeps each sequence's last logits",
          "[engine]") {
  RecordingBackend be(4);
  const std::vector<int32_t> a(10, 1), b(3, 2), c(7, 3);
  float sa = 0, sb = 0, sc = 0;
  std::vector<rwkv::SeqInput> seqs = {{a.data(), a.size(), &sa, 1}, {b.data(), b.size(), &sb, 1},
                                      {c.data(), c.size(), &sc, 1}};
  std::vector<float> logits(3 * 4, -1.f);
  rwkv::forward_chunked(be, seqs, 4, logits.data());
  REQUIRE(be.calls.size() == 3);
  CHECK(be.calls[0].lengths == std::vector<size_t>{4, 3, 4});
  CHECK(be.calls[0].mode == rwkv::LogitsMode::last);  // b ends in the first round
  CHECK(be.calls[1].lengths == std::vector<size_t>{4, 3});
  CHECK(be.calls[1].mode == rwkv::LogitsMode::last);  // c ends
  CHECK(be.calls[2].lengths == std::vector<size_t>{2});
  CHECK(sa == 10.f);
  CHECK(sb == 3.f);
  CHECK(sc == 7.f);
  // Row i: the token count of sequence i when it ended.
  CHECK(logits[0] == 10.f);
  CHECK(logits[4] == 3.f);
  CHECK(logits[8] == 7.f);

  // No logits wanted: no round computes them.
  RecordingBackend quiet(4);
  sa = 0;
  rwkv::forward_chunked(quiet, {{a.data(), a.size(), &sa, 1}}, 3, nullptr);
  REQUIRE(quiet.calls.size() == 4);
  for (const auto& call : quiet.calls) CHECK(call.mode == rwkv::LogitsMode::none);
}

TEST_CASE("engine: forward_chunked checks whole spans before the first round", "[engine]") {
  RecordingBackend be(4);
  const std::vector<int32_t> late_bad = {1, 2, 3, 1, 2, 3, 4};  // token 4 in the second round
  float s = 0;
  try {
    rwkv::forward_chunked(be, {{late_bad.data(), late_bad.size(), &s, 1}}, 3, nullptr);
    FAIL("accepted");
  } catch (const rwkv::InputError& e) {
    CHECK(e.kind == Kind::argument);
    CHECK(std::string(e.what()).find("position 6") != std::string::npos);
  }
  CHECK(be.calls.empty());
  CHECK(s == 0.f);
  const std::vector<int32_t> ok = {1};
  CHECK_THROWS_AS(rwkv::forward_chunked(be, {{ok.data(), 1, &s, 1}}, 0, nullptr), rwkv::InputError);
  CHECK_THROWS_AS(rwkv::forward_chunked(be, {{ok.data(), 0, &s, 1}}, 2, nullptr), rwkv::InputError);
  CHECK_THROWS_AS(rwkv::forward_chunked(be, {{nullptr, 1, &s, 1}}, 2, nullptr), rwkv::InputError);
  CHECK_THROWS_AS(rwkv::forward_chunked(be, {}, 2, nullptr), rwkv::InputError);
  CHECK(be.calls.empty());
}

TEST_CASE("engine: cpu slots give the backend's results, chunked or not, alone or batched", "[engine]") {
  auto model = rwkv::make_synth_model(small_spec(), rwkv::DType::f32, 5);
  rwkv::CpuBackend direct(*model, rwkv::CpuOptions{1});
  rwkv::EngineOptions eo;
  eo.backend.threads = 1;
  eo.backend.n_slots = 3;
  eo.chunk_len = 5;
  rwkv::Engine engine(*model, eo);
  REQUIRE(engine.device().name() == "cpu");
  CHECK(engine.device_note().empty());
  REQUIRE(engine.n_slots() == 3);
  const size_t S = engine.state_floats(), V = 97;
  REQUIRE(S == direct.state_layout().size());

  // Reference: the backend directly, one call per sequence, from fresh states.
  const std::vector<int32_t> t0 = tokens(13, 0), t1 = tokens(1, 1), t2 = tokens(6, 2);
  std::vector<std::vector<float>> ref_state(3, std::vector<float>(S)), ref_logits(3, std::vector<float>(V));
  const std::vector<int32_t>* spans[3] = {&t0, &t1, &t2};
  for (int i = 0; i < 3; ++i) {
    direct.init_state(ref_state[size_t(i)].data());
    rwkv::prefill(direct, ref_state[size_t(i)].data(), S, spans[i]->data(), spans[i]->size(), spans[i]->size(),
                  ref_logits[size_t(i)].data());
  }
  // The engine, batched with chunk_len 5 (several rounds, mixed lengths).
  std::vector<float> logits(3 * V);
  engine.eval_batch({{0, t0.data(), t0.size()}, {1, t1.data(), t1.size()}, {2, t2.data(), t2.size()}},
                    logits.data());
  for (int i = 0; i < 3; ++i) {
    CAPTURE(i);
    std::vector<float> st(S);
    engine.read(i, st.data());
    double ds = 0, dl = 0;
    for (size_t k = 0; k < S; ++k) ds = std::max(ds, double(std::fabs(st[k] - ref_state[size_t(i)][k])));
    for (size_t k = 0; k < V; ++k)
      dl = std::max(dl, double(std::fabs(logits[size_t(i) * V + k] - ref_logits[size_t(i)][k])));
    // Chunked prefill equals one call up to fp32 rounding (docs/rwkv-math.md section 1.1).
    CHECK(ds <= 1e-4);
    CHECK(dl <= 1e-4);
  }
  // Slots: copy, reset, write/read round trip, state files.
  std::vector<float> s0(S), s1(S), fresh(S);
  engine.read(0, s0.data());
  engine.copy(0, 1);
  engine.read(1, s1.data());
  CHECK(s1 == s0);
  engine.reset(1);
  engine.read(1, s1.data());
  direct.init_state(fresh.data());
  CHECK(s1 == fresh);
  char path[] = "/tmp/rwkv-engine-test-XXXXXX";
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  close(fd);
  engine.save_state(0, path);
  engine.load_state(2, path);
  engine.read(2, s1.data());
  CHECK(s1 == s0);
  std::remove(path);
}

TEST_CASE("engine: bad slots, tokens, devices and dtypes are InputErrors of the right kind", "[engine]") {
  auto model = rwkv::make_synth_model(small_spec(), rwkv::DType::f32, 5);
  rwkv::EngineOptions eo;
  eo.backend.n_slots = 2;
  rwkv::Engine engine(*model, eo);
  const std::vector<int32_t> ok = {1, 2}, bad = {1, 97};
  auto kind_of = [](auto&& f) {
    try {
      f();
    } catch (const rwkv::InputError& e) {
      return int(e.kind);
    }
    return -1;
  };
  CHECK(kind_of([&] { engine.eval(2, ok.data(), 2, nullptr); }) == int(Kind::out_of_range));
  CHECK(kind_of([&] { engine.eval(-1, ok.data(), 2, nullptr); }) == int(Kind::out_of_range));
  CHECK(kind_of([&] { engine.reset(5); }) == int(Kind::out_of_range));
  CHECK(kind_of([&] { engine.eval(0, bad.data(), 2, nullptr); }) == int(Kind::argument));
  CHECK(kind_of([&] { engine.eval_batch({{0, ok.data(), 2}, {0, ok.data(), 1}}, nullptr); }) ==
        int(Kind::argument));
  eo.device = "gpu";
  CHECK(kind_of([&] { rwkv::Engine e(*model, eo); }) == int(Kind::argument));
  eo.device = "cpu";
  eo.backend.state_dtype = rwkv::DType::bf16;  // the cpu backend keeps its state in fp32
  CHECK(kind_of([&] { rwkv::Engine e(*model, eo); }) == int(Kind::unsupported));
  CHECK_THROWS_WITH(rwkv::Engine(*model, eo), Catch::Contains("--state-dtype bf16"));
  eo.backend.state_dtype = rwkv::DType::f32;
  eo.chunk_len = 0;
  CHECK(kind_of([&] { rwkv::Engine e(*model, eo); }) == int(Kind::argument));
#ifndef RWKV_HAVE_GPU
  eo.chunk_len = 16;
  eo.device = "cuda";
  CHECK(kind_of([&] { rwkv::Engine e(*model, eo); }) == int(Kind::unsupported));
#endif
}

TEST_CASE("engine: the cpu holds a file's matrices in its own dtype unless a dtype is given", "[engine][cpu]") {
  struct Case {
    const char* file;
    std::optional<rwkv::DType> asked;
    rwkv::DType held;
  };
  for (const Case& c : {Case{"models/tiny-rwkv-7v0-834K.pth", std::nullopt, rwkv::DType::f32},
                        Case{"models/tiny-rwkv-7v0-834K-bf16.pth", std::nullopt, rwkv::DType::bf16},
                        Case{"rwkvcpp/tiny-rwkv-7v0-834K-FP16.bin", std::nullopt, rwkv::DType::f16},
                        Case{"models/tiny-rwkv-7v0-834K-bf16.pth", rwkv::DType::f32, rwkv::DType::f32},
                        Case{"models/tiny-rwkv-7v0-834K.pth", rwkv::DType::f16, rwkv::DType::f16}}) {
    INFO(c.file);
    auto model = rwkv::load_model(testdata_path(c.file));
    rwkv::EngineOptions eo;
    eo.device = "cpu";
    eo.backend.threads = 1;
    eo.backend.dtype = c.asked;
    rwkv::Engine engine(*model, eo);
    CHECK(engine.compute_dtype() == c.held);
    // The logits of a few tokens: those of a CpuBackend holding the matrices in the
    // same dtype, to fp32 summation rounding (the fp32 backend when nothing is rounded).
    rwkv::WeightFormat held;
    held.dense = c.held == rwkv::DType::f32 || !c.asked ? rwkv::DType::f32 : c.held;
    rwkv::CpuBackend ref(*model, rwkv::CpuOptions{1, held});
    const std::vector<int32_t> tokens = {10, 200, 33, 7};
    const size_t S = ref.state_layout().size();
    std::vector<float> state(S), want(size_t(ref.info().n_vocab)), got(want.size());
    ref.init_state(state.data());
    rwkv::prefill(ref, state.data(), S, tokens.data(), tokens.size(), tokens.size(), want.data());
    engine.eval(0, tokens.data(), tokens.size(), got.data());
    double worst = 0;
    for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, double(std::fabs(got[i] - want[i])));
    CHECK(worst <= 1e-4);
  }
}
