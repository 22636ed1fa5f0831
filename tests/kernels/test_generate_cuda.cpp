// Tests that the generation loop runs unchanged on the CUDA backend with a
// device-memory state (in the emu build: the SIMT emulator): greedy decoding
// of 64 tokens gives the same tokens as the CPU backend, for every tiny model.
#include <catch2/catch.hpp>

#include <array>

#include "runtime/cpu/cpu_backend.h"
#include "runtime/cuda/cuda_backend.h"
#include "runtime/generate/generate.h"
#include "runtime/sampler/penalty_weight.h"
#include "runtime/tokenizer/tokenizer.h"
#include "testdata.h"

TEST_CASE("greedy generation of 64 tokens: cuda (device state) == cpu", "[gpu][generate][cuda]") {
  const std::string file = GENERATE(as<std::string>{}, "tiny-rwkv-4v0-660K.pth", "tiny-rwkv-5v1-730K.pth",
                                    "tiny-rwkv-5v2-730K.pth", "tiny-rwkv-6v0-1m.pth", "tiny-rwkv-7v0-834K.pth");
  CAPTURE(file);
  auto model = rwkv::load_model(testdata_path("models/" + file));
  auto tok = rwkv::load_tokenizer("bytes");
  const std::vector<int32_t> prompt = tok->encode("\"In the beginning,\" she said, \"");
  rwkv::SamplerParams sp;
  sp.temperature = 0;  // greedy; the default penalties stay on
  rwkv::GenerateOptions o;
  o.max_tokens = 64;
  o.chunk_len = 16;

  rwkv::CpuBackend cpu(*model, rwkv::CpuOptions{2});
  std::vector<float> host_state(cpu.state_layout().size());
  cpu.init_state(host_state.data());
  rwkv::Sampler s_cpu(sp, rwkv::official_penalty_weight_fn(*tok));
  const rwkv::GenerateResult a =
      rwkv::generate(cpu, host_state.data(), host_state.size(), *tok, s_cpu, prompt, o, nullptr);

  rwkv::CudaOptions co;
  co.dtype = rwkv::DType::f32;
  co.n_slots = 2;
  rwkv::CudaBackend cuda(*model, co);
  rwkv::Sampler s_gpu(sp, rwkv::official_penalty_weight_fn(*tok));
  const rwkv::GenerateResult b = rwkv::generate(cuda, cuda.slot(1), cuda.state_layout().size(), *tok, s_gpu,
                                                prompt, o, nullptr);
  REQUIRE(a.tokens.size() == 64);
  CHECK(b.tokens == a.tokens);
  CHECK(b.text == a.text);
  // Both states consumed the same tokens; they agree to the CUDA fp32 golden tolerance (1e-3 relative).
  std::vector<float> dev_state(host_state.size());
  cuda.read_slot(1, dev_state.data());
  double worst = 0;
  for (size_t i = 0; i < host_state.size(); ++i)
    worst = std::max(worst, std::fabs(double(dev_state[i]) - host_state[i]) /
                                std::max(1.0, std::fabs(double(host_state[i]))));
  CHECK(worst <= 1e-3);
}

TEST_CASE("sampled generation on cuda (device sampler) == cpu: tokens, text and the sampler's state",
          "[gpu][generate][cuda][sample]") {
  // The fp32 emu logits are within ~1e-6 of the CPU's; these models and settings draw the same
  // tokens from both, so the device sampler must reproduce the CPU sampler's draws exactly.
  // (top_p = 1 is not such a setting: whether the fp32 sum of every probability reaches 1, which
  // decides between greedy and the whole vocabulary, turns on the last bits of the logits. The
  // kernel tests check it on identical logits.)
  const std::string file = GENERATE(as<std::string>{}, "tiny-rwkv-5v2-730K.pth", "tiny-rwkv-7v0-834K.pth");
  const int setting = GENERATE(0, 1, 2);
  const int max_rows = GENERATE(512, 8);  // 8: the prompt's last chunk needs several rounds
  CAPTURE(file, setting, max_rows);
  auto model = rwkv::load_model(testdata_path("models/" + file));
  auto tok = rwkv::load_tokenizer("bytes");
  const std::vector<int32_t> prompt = tok->encode("The quick brown fox said: \"");
  rwkv::SamplerParams sp;
  sp.seed = 1234 + (uint64_t)setting;
  if (setting == 1) {
    sp.top_k = 5;
    sp.temperature = 0.5;
  } else if (setting == 2) {
    sp.top_p = 0.95;
    sp.token_stop = {'.'};
    sp.token_ban = {'e'};
  }
  rwkv::GenerateOptions o;
  o.max_tokens = 40;
  o.chunk_len = 16;

  rwkv::CpuBackend cpu(*model, rwkv::CpuOptions{2});
  std::vector<float> host_state(cpu.state_layout().size());
  cpu.init_state(host_state.data());
  rwkv::Sampler s_cpu(sp, rwkv::official_penalty_weight_fn(*tok));

  rwkv::CudaOptions co;
  co.dtype = rwkv::DType::f32;
  co.max_rows = max_rows;
  rwkv::CudaBackend cuda(*model, co);
  rwkv::Sampler s_gpu(sp, rwkv::official_penalty_weight_fn(*tok));
  // Two calls: the second continues the state, the penalties and the random stream of the first.
  for (int call = 0; call < 2; ++call) {
    CAPTURE(call);
    const std::vector<int32_t> p = call == 0 ? prompt : tok->encode(" And then");
    const rwkv::GenerateResult a = rwkv::generate(cpu, host_state.data(), host_state.size(), *tok, s_cpu, p, o,
                                                  nullptr);
    const rwkv::GenerateResult b =
        rwkv::generate(cuda, cuda.slot(0), cuda.state_layout().size(), *tok, s_gpu, p, o, nullptr);
    CHECK(b.tokens == a.tokens);
    CHECK(b.text == a.text);
    CHECK(b.reason == a.reason);
    CHECK(b.stop_token == a.stop_token);
    CHECK(s_gpu.rng().state() == s_cpu.rng().state());
    CHECK(s_gpu.penalty().occurrences() == s_cpu.penalty().occurrences());
  }
}

TEST_CASE("cuda forward_sample reports the embedding error flag and bad logits as errors",
          "[gpu][generate][cuda][sample]") {
  auto model = rwkv::load_model(testdata_path("models/tiny-rwkv-7v0-834K.pth"));
  rwkv::CudaOptions co;
  co.dtype = rwkv::DType::f32;
  rwkv::CudaBackend cuda(*model, co);
  rwkv::SamplerParams sp;
  rwkv::Sampler sampler(sp);
  const int32_t token = 65;
  rwkv::Batch batch;
  batch.seqs.push_back({&token, 1, cuda.slot(0), cuda.state_layout().size()});
  rwkv::Sampler* samplers[1] = {&sampler};
  int32_t out = -1;
  cuda.forward_sample(batch, samplers, &out);
  CHECK(out >= 0);
  CHECK(out < model->info.n_vocab);

  // Every token banned: the device sampler refuses the logits as the CPU sampler does.
  rwkv::SamplerParams all_banned;
  for (int32_t t = 0; t < model->info.n_vocab; ++t) all_banned.token_ban.push_back(t);
  rwkv::Sampler banned(all_banned);
  rwkv::Sampler* banned_ptr[1] = {&banned};
  CHECK_THROWS_WITH(cuda.forward_sample(batch, banned_ptr, &out), Catch::Contains("all banned"));
  cuda.finish_sampling(banned_ptr, 1);

  // A raised embedding flag (an internal fault: validate_batch lets no bad id through) comes
  // back as token -2 and becomes the backend's error; the flag is cleared for the next step.
  cuda.forward_sample(batch, samplers, &out);
  cuda.finish_sampling(samplers, 1);
  const std::array<uint64_t, 4> after_two = sampler.rng().state();
  CHECK(after_two != rwkv::Rng(sp.seed).state());
  int* flag = cuda.embedding_error_flag();
  const int one = 1;
  REQUIRE(cudaMemcpy(flag, &one, sizeof one, cudaMemcpyHostToDevice) == cudaSuccess);
  CHECK_THROWS_WITH(cuda.forward_sample(batch, samplers, &out), Catch::Contains("embedding gather"));
  cuda.finish_sampling(samplers, 1);
  CHECK(sampler.rng().state() == after_two);  // the failed step drew nothing
  cuda.forward_sample(batch, samplers, &out);
  CHECK(out >= 0);
}
