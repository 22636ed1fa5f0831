// Tests the device sampler (kernels/sample.cu through runtime/cuda/device_sampler.h) against the
// CPU Sampler (runtime/sampler/), the specification: the same tokens for the same logits and
// seed, step after step, with the device copy of each sampler's state advancing on its own; at
// the end the stored state (random stream, penalty counts) equals the CPU sampler's exactly.
#include <catch2/catch.hpp>

#include <cmath>
#include <memory>
#include <random>

#include "gpu_test_util.h"
#include "kernels/sample.cuh"
#include "runtime/cpu/cpu_backend.h"
#include "runtime/cuda/device_sampler.h"
#include "runtime/sampler/penalty_weight.h"
#include "runtime/tokenizer/tokenizer.h"
#include "testdata.h"

namespace {

using gpu_test::cuda_ok;

rwkv::SamplerParams params(double temperature, double top_p, int top_k, bool penalties, uint64_t seed) {
  rwkv::SamplerParams p;
  p.temperature = temperature;
  p.top_p = top_p;
  p.top_k = top_k;
  if (!penalties) {
    p.alpha_presence = 0;
    p.alpha_frequency = 0;
  }
  p.seed = seed;
  return p;
}

// The settings the issue names: greedy, T 1 top_p 0.85, top_p 1, top_k 5, T 0.5, penalties on and
// off, bans, stop tokens, several seeds.
std::vector<rwkv::SamplerParams> settings() {
  std::vector<rwkv::SamplerParams> s;
  s.push_back(params(0, 0.85, 0, true, 1));      // greedy with the default penalties
  s.push_back(params(1, 0.85, 0, true, 2));      // pip's defaults
  s.push_back(params(1, 1.0, 0, true, 3));       // top_p 1
  s.push_back(params(1, 1.0, 5, false, 4));      // top_k 5, no penalties
  s.push_back(params(0.5, 0.9, 0, true, 5));     // temperature 0.5
  s.push_back(params(1.5, 0.95, 40, false, 6));  // T 1.5, top_k 40
  rwkv::SamplerParams bans = params(1, 0.99, 0, true, 7);
  bans.token_ban = {32, 101, 116, 0};  // ' ', 'e', 't' and id 0
  s.push_back(bans);
  rwkv::SamplerParams stops = params(1, 0.7, 0, true, 8);
  stops.token_stop = {10, 46};  // '\n', '.'
  stops.alpha_decay = 0.9;
  s.push_back(stops);
  return s;
}

// Device memory for n rows of V logits and n tokens.
struct DeviceRows {
  gpu_test::DeviceBuffer logits, tokens;
  DeviceRows(size_t n, size_t V) : logits(n * V * sizeof(float)), tokens(n * sizeof(int32_t)) {}
  std::vector<int32_t> draw(const rwkv::cuda::DeviceSampler& ds, const std::vector<float>& rows, int n,
                            const int* error_flag = nullptr, const rwkv_kernels::sample_bias* bias = nullptr) {
    cuda_ok(cudaMemcpy(logits.get(), rows.data(), rows.size() * sizeof(float), cudaMemcpyHostToDevice), "H2D");
    ds.enqueue(logits.as<float>(), n, 0, tokens.as<int32_t>(), error_flag, bias, nullptr);
    std::vector<int32_t> t((size_t)n);
    cuda_ok(cudaMemcpy(t.data(), tokens.get(), t.size() * sizeof(int32_t), cudaMemcpyDeviceToHost), "D2H");
    return t;
  }
};

// The CPU sampler and a stored copy of the device one agree exactly.
void check_same_state(rwkv::Sampler& cpu, const rwkv::cuda::DeviceSampler& ds, int slot,
                      const rwkv::PenaltyWeightFn& weight) {
  rwkv::Sampler back(cpu.params(), weight);
  ds.store(slot, back, nullptr);
  CHECK(back.rng().state() == cpu.rng().state());
  CHECK(back.penalty().occurrences() == cpu.penalty().occurrences());
}

}  // namespace

TEST_CASE("device sampler == CPU sampler on a model's logits, 8 settings x 96 steps", "[gpu][sample]") {
  const std::string file = GENERATE(as<std::string>{}, "tiny-rwkv-7v0-834K.pth", "tiny-rwkv-5v2-730K.pth",
                                    "synth-rwkv-v7-bf16.pth");
  CAPTURE(file);
  auto model = rwkv::load_model(testdata_path("models/" + file));
  const int V = model->info.n_vocab;
  auto tok = rwkv::load_tokenizer("bytes");
  const bool bytes_vocab = tok->vocab_size() == V;
  const rwkv::PenaltyWeightFn weight = bytes_vocab ? rwkv::official_penalty_weight_fn(*tok) : nullptr;
  rwkv::CpuBackend cpu(*model, rwkv::CpuOptions{2});

  const std::vector<rwkv::SamplerParams> ps = settings();
  const int n = (int)ps.size();
  std::vector<std::unique_ptr<rwkv::Sampler>> samplers;
  rwkv::cuda::DeviceSampler ds(V, n);
  for (int i = 0; i < n; ++i) {
    samplers.push_back(std::make_unique<rwkv::Sampler>(ps[(size_t)i], weight));
    ds.load(i, *samplers.back(), nullptr);
  }
  std::vector<std::vector<float>> states((size_t)n, std::vector<float>(cpu.state_layout().size()));
  std::vector<int32_t> feed((size_t)n);
  for (int i = 0; i < n; ++i) {
    cpu.init_state(states[(size_t)i].data());
    feed[(size_t)i] = 65 + i % V;
  }
  DeviceRows dev((size_t)n, (size_t)V);
  std::vector<float> logits((size_t)n * V);
  int drawn_sampled = 0;
  for (int step = 0; step < 96; ++step) {
    rwkv::Batch batch;
    batch.logits = rwkv::LogitsMode::last;
    for (int i = 0; i < n; ++i)
      batch.seqs.push_back({&feed[(size_t)i], 1, states[(size_t)i].data(), states[(size_t)i].size()});
    cpu.forward(batch, logits.data());
    const std::vector<int32_t> got = dev.draw(ds, logits, n);
    for (int i = 0; i < n; ++i) {
      std::vector<float> row(logits.begin() + (size_t)i * V, logits.begin() + (size_t)(i + 1) * V);
      const rwkv::Sampler::Result want = samplers[(size_t)i]->next(row.data(), row.size());
      CAPTURE(step, i);
      REQUIRE(got[(size_t)i] == want.token);
      feed[(size_t)i] = want.token;
      drawn_sampled += ps[(size_t)i].temperature != 0;
    }
  }
  CHECK(drawn_sampled > 0);
  for (int i = 0; i < n; ++i) {
    CAPTURE(i);
    check_same_state(*samplers[(size_t)i], ds, i, weight);
  }
}

// Rows of V logits drawn from a normal distribution with standard deviation `spread`, rounded to
// multiples of `quantum` when it is > 0 (many exactly equal probabilities).
static std::vector<float> synthetic_logits(int V, int rows, double spread, double quantum, uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> normal(0.0, spread);
  std::vector<float> l((size_t)V * rows);
  for (float& x : l) {
    double v = normal(gen);
    if (quantum > 0) v = std::round(v / quantum) * quantum;
    x = (float)v;
  }
  return l;
}

TEST_CASE("device sampler == CPU sampler where the nucleus walk needs several chunks, ties and runs",
          "[gpu][sample]") {
  // V = 12000 with flat logits: nuclei of thousands of tokens (more than one sorted chunk of 4096,
  // kernels/sample.cu kCap), top_k beyond a chunk, and quantised logits whose equal probabilities
  // form runs of more than 4096 tokens; the cutoff and the top_k boundary then fall inside such runs.
  const int V = 12000;
  struct Case {
    const char* name;
    double spread, quantum;
    rwkv::SamplerParams p;
  };
  std::vector<Case> cases = {
      {"flat, top_p 1", 0.05, 0, params(1, 1.0, 0, true, 11)},
      {"flat, top_p 0.95", 0.3, 0, params(1, 0.95, 0, true, 12)},
      {"flat, top_k 6000, T 0.7", 0.3, 0, params(0.7, 0.99, 6000, false, 13)},
      {"ties, top_p 0.9", 0.2, 0.25, params(1, 0.9, 0, true, 14)},
      {"ties, top_k 5000", 0.1, 0.25, params(1, 1.0, 5000, false, 15)},
      {"ties, greedy, top_k 3", 0.1, 0.5, params(0, 0.85, 3, true, 16)},
      {"peaked, T 0.3, top_p 0.5", 4.0, 0, params(0.3, 0.5, 0, true, 17)},
  };
  const int n = (int)cases.size();
  rwkv::cuda::DeviceSampler ds(V, n);
  std::vector<std::unique_ptr<rwkv::Sampler>> samplers;
  for (int i = 0; i < n; ++i) {
    samplers.push_back(std::make_unique<rwkv::Sampler>(cases[(size_t)i].p));
    ds.load(i, *samplers.back(), nullptr);
  }
  DeviceRows dev((size_t)n, (size_t)V);
  for (int step = 0; step < 6; ++step) {
    std::vector<float> logits;
    for (int i = 0; i < n; ++i) {
      const Case& c = cases[(size_t)i];
      const std::vector<float> row = synthetic_logits(V, 1, c.spread, c.quantum, uint32_t(100 * step + i));
      logits.insert(logits.end(), row.begin(), row.end());
    }
    const std::vector<int32_t> got = dev.draw(ds, logits, n);
    for (int i = 0; i < n; ++i) {
      std::vector<float> row(logits.begin() + (size_t)i * V, logits.begin() + (size_t)(i + 1) * V);
      CAPTURE(cases[(size_t)i].name, step);
      REQUIRE(got[(size_t)i] == samplers[(size_t)i]->next(row.data(), row.size()).token);
    }
  }
  for (int i = 0; i < n; ++i) {
    CAPTURE(cases[(size_t)i].name);
    check_same_state(*samplers[(size_t)i], ds, i, nullptr);
  }
}

TEST_CASE("device sampler: the error flag gives -2 for every row and changes nothing, bad logits give -3",
          "[gpu][sample]") {
  const int V = 300, n = 3;
  rwkv::cuda::DeviceSampler ds(V, n);
  std::vector<std::unique_ptr<rwkv::Sampler>> samplers;
  for (int i = 0; i < n; ++i) {
    samplers.push_back(std::make_unique<rwkv::Sampler>(params(1, 0.9, 0, true, 21 + i)));
    ds.load(i, *samplers.back(), nullptr);
  }
  DeviceRows dev((size_t)n, (size_t)V);
  gpu_test::DeviceBuffer flag(sizeof(int));
  const int one = 1, zero = 0;
  std::vector<float> logits = synthetic_logits(V, n, 2.0, 0, 5);

  cuda_ok(cudaMemcpy(flag.get(), &one, sizeof one, cudaMemcpyHostToDevice), "flag");
  CHECK(dev.draw(ds, logits, n, flag.as<int>()) == std::vector<int32_t>{-2, -2, -2});
  for (int i = 0; i < n; ++i) check_same_state(*samplers[(size_t)i], ds, i, nullptr);  // nothing advanced

  // Row 0 holds a NaN, row 1 has every token banned by -inf logits, row 2 is fine.
  cuda_ok(cudaMemcpy(flag.get(), &zero, sizeof zero, cudaMemcpyHostToDevice), "flag");
  std::vector<float> bad = logits;
  bad[7] = std::nanf("");
  for (int t = 0; t < V; ++t) bad[(size_t)V + t] = -INFINITY;
  const std::vector<int32_t> got = dev.draw(ds, bad, n, flag.as<int>());
  CHECK(got[0] == -3);
  CHECK(got[1] == -3);
  std::vector<float> row2(bad.begin() + 2 * V, bad.end());
  CHECK(got[2] == samplers[2]->next(row2.data(), row2.size()).token);
  for (int i = 0; i < n; ++i) check_same_state(*samplers[(size_t)i], ds, i, nullptr);
}

TEST_CASE("device sampler: load refuses what the CPU sampler refuses", "[gpu][sample]") {
  rwkv::cuda::DeviceSampler ds(100, 1);
  rwkv::SamplerParams p;
  p.temperature = -1;
  CHECK_THROWS_WITH(ds.load(0, rwkv::Sampler(p), nullptr), Catch::Contains("temperature"));
  p.temperature = 1;
  p.top_p = std::nan("");
  CHECK_THROWS_WITH(ds.load(0, rwkv::Sampler(p), nullptr), Catch::Contains("top_p"));
  rwkv::Sampler thirds(rwkv::SamplerParams{}, [](int32_t) { return 1.0 / 3.0; });
  CHECK_THROWS_WITH(ds.load(0, thirds, nullptr), Catch::Contains("fp32"));
  rwkv::Sampler counted_outside(rwkv::SamplerParams{});
  counted_outside.penalty().accept(500, 1.0);
  CHECK_THROWS_WITH(ds.load(0, counted_outside, nullptr), Catch::Contains("outside"));
}

TEST_CASE("device sampler == CPU sampler with a per-step bias (chat's newline ramp and bans)", "[gpu][sample]") {
  auto model = rwkv::load_model(testdata_path("models/tiny-rwkv-7v0-834K.pth"));
  const int V = model->info.n_vocab;
  rwkv::CpuBackend cpu(*model, rwkv::CpuOptions{2});
  const std::vector<rwkv::SamplerParams> ps = settings();
  const int n = (int)ps.size();
  std::vector<std::unique_ptr<rwkv::Sampler>> samplers;
  std::vector<rwkv::Sampler*> ptrs;
  rwkv::cuda::DeviceSampler ds(V, n);
  for (int i = 0; i < n; ++i) {
    samplers.push_back(std::make_unique<rwkv::Sampler>(ps[(size_t)i]));
    ptrs.push_back(samplers.back().get());
    ds.load(i, *samplers.back(), nullptr);
  }
  std::vector<std::vector<float>> states((size_t)n, std::vector<float>(cpu.state_layout().size()));
  std::vector<int32_t> feed((size_t)n), last((size_t)n, -1);
  for (int i = 0; i < n; ++i) {
    cpu.init_state(states[(size_t)i].data());
    feed[(size_t)i] = 72 + i;
  }
  DeviceRows dev((size_t)n, (size_t)V);
  std::vector<float> logits((size_t)n * V);
  int newlines = 0, biased_steps = 0;
  for (int step = 0; step < 64; ++step) {
    rwkv::Batch batch;
    batch.logits = rwkv::LogitsMode::last;
    for (int i = 0; i < n; ++i)
      batch.seqs.push_back({&feed[(size_t)i], 1, states[(size_t)i].data(), states[(size_t)i].size()});
    cpu.forward(batch, logits.data());
    // Sequence i: a newline ramp as chat's ('\n' and '.' pushed up from step 8 on), the last token
    // banned for one step, a 16-entry bias every 5th step, none on odd sequences every 3rd step.
    std::vector<std::vector<rwkv::StepBias>> bias((size_t)n);
    for (int i = 0; i < n; ++i) {
      std::vector<rwkv::StepBias>& b = bias[(size_t)i];
      if (step % 3 == 0 && i % 2 == 1) continue;
      const float ramp = step < 2 ? -INFINITY : float(step - 8) * 0.25f;
      b = {{10, ramp}, {46, ramp * 0.5f}};
      if (last[(size_t)i] >= 0) b.push_back({last[(size_t)i], -INFINITY});
      if (step % 5 == 4)
        while (b.size() < rwkv::Sampler::kMaxStepBias) b.push_back({int32_t((step * 31 + b.size() * 7) % V), 0.375f});
      samplers[(size_t)i]->set_step_bias(b);
    }
    const rwkv_kernels::sample_bias* dev_bias = ds.upload_step_bias(ptrs.data(), (size_t)n, nullptr);
    REQUIRE(dev_bias != nullptr);
    for (int i = 0; i < n; ++i) CHECK(samplers[(size_t)i]->step_bias().empty());  // consumed by the upload
    const std::vector<int32_t> got = dev.draw(ds, logits, n, nullptr, dev_bias);
    for (int i = 0; i < n; ++i) {
      std::vector<float> row(logits.begin() + (size_t)i * V, logits.begin() + (size_t)(i + 1) * V);
      samplers[(size_t)i]->set_step_bias(bias[(size_t)i]);
      const rwkv::Sampler::Result want = samplers[(size_t)i]->next(row.data(), row.size());
      CAPTURE(step, i);
      REQUIRE(got[(size_t)i] == want.token);
      if (last[(size_t)i] >= 0 && !bias[(size_t)i].empty()) CHECK(want.token != last[(size_t)i]);
      feed[(size_t)i] = want.token;
      last[(size_t)i] = want.stop ? -1 : want.token;
      newlines += want.token == 10;
      biased_steps += !bias[(size_t)i].empty();
    }
  }
  CHECK(newlines > 0);  // the ramp made a difference somewhere
  CHECK(biased_steps > 0);
  for (int i = 0; i < n; ++i) {
    CAPTURE(i);
    check_same_state(*samplers[(size_t)i], ds, i, nullptr);
  }
  // A step where no sampler has a bias copies nothing.
  CHECK(ds.upload_step_bias(ptrs.data(), (size_t)n, nullptr) == nullptr);
}

TEST_CASE("device sampler: a step bias over the record's capacity is an error", "[gpu][sample]") {
  rwkv::cuda::DeviceSampler ds(100, 1);
  rwkv::Sampler s{rwkv::SamplerParams{}};
  ds.load(0, s, nullptr);
  s.set_step_bias(std::vector<rwkv::StepBias>(rwkv::Sampler::kMaxStepBias, rwkv::StepBias{1, 1.f}));
  rwkv::Sampler* ptr = &s;
  CHECK(ds.upload_step_bias(&ptr, 1, nullptr) != nullptr);
  CHECK(s.step_bias().empty());
  rwkv::Sampler* two[2] = {&s, &s};
  s.set_step_bias({{1, 1.f}});
  CHECK_THROWS_WITH(ds.upload_step_bias(two, 2, nullptr), Catch::Contains("exceed"));
}
