// Tests that the generation loop runs unchanged on the CUDA backend with a
// device-memory state (in the emu build: the SIMT emulator): greedy decoding
// of 64 tokens gives the same tokens as the CPU backend, for every tiny model.
#include <catch2/catch.hpp>

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
