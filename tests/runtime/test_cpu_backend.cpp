// tests/runtime/test_cpu_backend.cpp: properties of the CPU backend's API
// beyond the goldens: a batch of independent sequences equals running them one
// by one, the thread count does not change results, bad input is refused with
// rwkv::Error before any state is touched.
#include <catch2/catch.hpp>

#include <cstring>
#include <numeric>

#include "cpu_golden_util.h"
#include "runtime/cpu/cpu_backend.h"

namespace {

// Batched and separate runs do the same arithmetic except for OpenBLAS's
// blocking over a different number of rows, so they agree to float32 rounding
// of the values involved. The synthetic models carry a residual stream of
// ~1000 (float32 ulp 6e-5), which shows up as up to ~2e-5 in their logits; the
// bound is the project's criterion for "equal" fp32 results (the golden
// tolerance: 1e-4 absolute on logits, 1e-4 relative on states).
constexpr double kBatchTol = 1e-4;

}  // namespace

TEST_CASE("cpu backend: a batch of sequences equals running each alone", "[cpu][batch]") {
  for (const std::string name : {"tiny-rwkv-4v0-660K", "tiny-rwkv-5v1-730K", "tiny-rwkv-5v2-730K",
                                 "tiny-rwkv-6v0-1m", "tiny-rwkv-7v0-834K", "synth-rwkv-v6-bf16"}) {
    INFO("model " << name);
    const golden::Folder f = golden::read_folder(name);
    auto model = rwkv::load_model(testdata_path(f.model_file));
    rwkv::CpuBackend be(*model);
    const size_t S = be.state_layout().size(), V = static_cast<size_t>(be.info().n_vocab);
    const std::vector<int32_t>& tok = f.tokens;
    REQUIRE(tok.size() >= 40);

    // Sequence 1 starts from a state reached by other tokens (non-zero state).
    std::vector<float> warm(S);
    be.init_state(warm.data());
    golden::run_seq(be, tok.data() + 20, 10, warm, rwkv::LogitsMode::none, nullptr);

    struct Part { size_t begin, n; bool warm; };
    const std::vector<Part> parts = {{0, 10, false}, {10, 1, true}, {30, 10, false}};

    // Alone.
    std::vector<std::vector<float>> alone_state, alone_logits;
    for (const Part& p : parts) {
      std::vector<float> st(S);
      if (p.warm) st = warm; else be.init_state(st.data());
      std::vector<float> lg(p.n * V);
      golden::run_seq(be, tok.data() + p.begin, p.n, st, rwkv::LogitsMode::all, lg.data());
      alone_state.push_back(st);
      alone_logits.push_back(lg);
    }

    for (rwkv::LogitsMode mode : {rwkv::LogitsMode::all, rwkv::LogitsMode::last}) {
      std::vector<std::vector<float>> states;
      rwkv::Batch batch;
      batch.logits = mode;
      for (const Part& p : parts) {
        std::vector<float> st(S);
        if (p.warm) st = warm; else be.init_state(st.data());
        states.push_back(st);
      }
      for (size_t i = 0; i < parts.size(); ++i)
        batch.seqs.push_back({tok.data() + parts[i].begin, parts[i].n, states[i].data(), S});
      std::vector<float> logits(batch.logits_rows() * V);
      be.forward(batch, logits.data());

      size_t row = 0;
      for (size_t i = 0; i < parts.size(); ++i) {
        INFO("sequence " << i << (mode == rwkv::LogitsMode::all ? " (all logits)" : " (last logits)"));
        CHECK(golden::max_rel_diff(states[i].data(), alone_state[i].data(), S) <= kBatchTol);
        if (mode == rwkv::LogitsMode::all) {
          CHECK(golden::max_abs_diff(&logits[row * V], alone_logits[i].data(), parts[i].n * V) <= kBatchTol);
          row += parts[i].n;
        } else {
          CHECK(golden::max_abs_diff(&logits[i * V], &alone_logits[i][(parts[i].n - 1) * V], V) <= kBatchTol);
        }
      }
    }
  }
}

TEST_CASE("cpu backend: results do not depend on the thread count", "[cpu][threads]") {
  for (const std::string name : {"synth-rwkv-v4-bf16", "synth-rwkv-v7-bf16"}) {
    INFO("model " << name);
    const golden::Folder f = golden::read_folder(name);
    auto model = rwkv::load_model(testdata_path(f.model_file));
    rwkv::CpuBackend one(*model, rwkv::CpuOptions{1});
    rwkv::CpuBackend many(*model, rwkv::CpuOptions{4});
    REQUIRE(one.n_threads() == 1);
    REQUIRE(many.n_threads() == 4);
    const golden::Outputs a = golden::run_all_modes(one, f.tokens, f.chunk_split);
    const golden::Outputs b = golden::run_all_modes(many, f.tokens, f.chunk_split);
    CHECK(golden::max_abs_diff(a.logits_rnn.data(), b.logits_rnn.data(), a.logits_rnn.size()) <= kBatchTol);
    CHECK(golden::max_abs_diff(a.logits_seq_full.data(), b.logits_seq_full.data(), a.logits_seq_full.size()) <= kBatchTol);
    CHECK(golden::max_rel_diff(a.state_seq_final.data(), b.state_seq_final.data(), a.state_seq_final.size()) <= kBatchTol);
  }
}

TEST_CASE("cpu backend: bad input is refused with rwkv::Error and leaves states alone", "[cpu][errors]") {
  auto model = rwkv::load_model(testdata_path("models/tiny-rwkv-7v0-834K.pth"));
  rwkv::CpuBackend be(*model);
  const size_t S = be.state_layout().size(), V = static_cast<size_t>(be.info().n_vocab);
  std::vector<float> state(S), other(S), logits(4 * V);
  be.init_state(state.data());
  const std::vector<int32_t> warm = {1, 2, 3};
  golden::run_seq(be, warm.data(), warm.size(), state, rwkv::LogitsMode::none, nullptr);
  const std::vector<float> before = state;

  auto run = [&](std::vector<int32_t> tokens, size_t state_floats, float* out,
                 rwkv::LogitsMode mode) {
    rwkv::Batch b;
    b.logits = mode;
    b.seqs.push_back({tokens.data(), tokens.size(), state.data(), state_floats});
    be.forward(b, out);
  };
  using Catch::Matchers::Contains;
  CHECK_THROWS_WITH(run({5, static_cast<int32_t>(V)}, S, logits.data(), rwkv::LogitsMode::all),
                    Contains("outside the vocabulary"));
  CHECK_THROWS_WITH(run({-1}, S, logits.data(), rwkv::LogitsMode::all), Contains("outside the vocabulary"));
  CHECK_THROWS_WITH(run({}, S, logits.data(), rwkv::LogitsMode::all), Contains("empty token list"));
  CHECK_THROWS_WITH(run({5}, S - 1, logits.data(), rwkv::LogitsMode::all), Contains("state has"));
  CHECK_THROWS_WITH(run({5}, S, nullptr, rwkv::LogitsMode::last), Contains("null"));
  {
    rwkv::Batch b;  // empty batch
    CHECK_THROWS_AS(be.forward(b, logits.data()), rwkv::Error);
  }
  {
    const std::vector<int32_t> t = {1};
    rwkv::Batch b;  // two sequences sharing one state buffer
    b.seqs.push_back({t.data(), 1, state.data(), S});
    b.seqs.push_back({t.data(), 1, state.data(), S});
    CHECK_THROWS_WITH(be.forward(b, logits.data()), Contains("shares its state"));
  }
  {
    const std::vector<int32_t> good = {1}, bad = {999};
    be.init_state(other.data());
    const std::vector<float> other_before = other;
    rwkv::Batch b;  // a bad second sequence stops the whole call before any work
    b.seqs.push_back({good.data(), 1, other.data(), S});
    b.seqs.push_back({bad.data(), 1, state.data(), S});
    CHECK_THROWS_AS(be.forward(b, logits.data()), rwkv::Error);
    CHECK(other == other_before);
  }
  CHECK(state == before);
}

TEST_CASE("cpu backend: state layout and initial state follow the official order", "[cpu][state]") {
  auto model = rwkv::load_model(testdata_path("models/tiny-rwkv-4v0-660K.pth"));
  rwkv::CpuBackend be(*model);
  const rwkv::StateLayout& L = be.state_layout();
  const int C = be.info().n_embd;
  REQUIRE(L.tensors().size() == static_cast<size_t>(5 * be.info().n_layer));
  CHECK(L.file_name(3) == "003_blocks.0.att.pp.f32");
  CHECK(L.size() == static_cast<size_t>(5 * C * be.info().n_layer));
  std::vector<float> s(L.size(), 7.0f);
  be.init_state(s.data());
  for (const rwkv::StateTensor& t : L.tensors()) {
    const bool pp = t.name.size() > 3 && t.name.compare(t.name.size() - 3, 3, ".pp") == 0;
    for (size_t i = 0; i < t.numel; ++i) CHECK(s[t.offset + i] == (pp ? -1e30f : 0.0f));
  }
}

TEST_CASE("cpu backend: a v6 att.time_state becomes the initial state, transposed", "[cpu][state]") {
  // docs/rwkv-math.md section 5.4: time_state is stored [h][v][k]; the state is [h][k][v].
  auto model = rwkv::load_model(testdata_path("models/tiny-rwkv-6v0-1m.pth"));
  const int H = model->info.n_head, N = model->info.head_size, L = model->info.n_layer;
  for (int l = 0; l < L; ++l) {
    rwkv::Tensor t;
    t.name = "blocks." + std::to_string(l) + ".att.time_state";
    t.dtype = rwkv::DType::f32;
    t.shape = {H, N, N};
    std::vector<float> v(static_cast<size_t>(H) * N * N);
    std::iota(v.begin(), v.end(), 1000.0f * l);
    std::vector<uint8_t> bytes(v.size() * sizeof(float));
    std::memcpy(bytes.data(), v.data(), bytes.size());
    model->add_owned(t, std::move(bytes));
  }
  rwkv::CpuBackend be(*model);
  const rwkv::StateLayout& layout = be.state_layout();
  std::vector<float> s(layout.size());
  be.init_state(s.data());
  for (int l = 0; l < L; ++l) {
    const float* kv = s.data() + layout.layer(l).kv;
    for (int h = 0; h < H; ++h)
      for (int k = 0; k < N; ++k)
        for (int v = 0; v < N; ++v) {
          const float stored = 1000.0f * l + static_cast<float>((h * N + v) * N + k);  // [h][v][k]
          REQUIRE(kv[(h * N + k) * N + v] == stored);
        }
    for (int i = 0; i < be.info().n_embd; ++i) {
      REQUIRE(s[layout.layer(l).att_x + static_cast<size_t>(i)] == 0.0f);
      REQUIRE(s[layout.layer(l).ffn_x + static_cast<size_t>(i)] == 0.0f);
    }
  }
}
