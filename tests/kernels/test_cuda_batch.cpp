// Tests that the CUDA backend runs several sequences at once exactly as it
// runs each alone and as the CPU reference runs them: three prompts of
// different lengths prefilled in one call (in rounds smaller than the batch),
// then decoded together step by step, each in its own state slot.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "cuda_batch_util.h"
#include "cuda_engine_util.h"
#include "runtime/cpu/cpu_backend.h"
#include "runtime/cpu_golden_util.h"
#if RWKV_CUDA_EMU
#include "cuda_emu/memory.h"
#endif

using cuda_test::max_diff;
using cuda_test::Run;
using cuda_test::run;

namespace {

constexpr double kTol = 1e-4;  // fp32 weights: both paths fp32, different summation orders

}  // namespace

TEST_CASE("cuda backend: three sequences together equal each alone and the CPU backend",
          "[gpu][cuda][batch]") {
  // The model of every golden folder (each checkpoint once).
  std::vector<std::string> files;
  for (const std::string& name : golden::list_folders()) {
    const std::string f = golden::read_folder(name).model_file;
    if (std::find(files.begin(), files.end(), f) == files.end()) files.push_back(f);
  }
  REQUIRE(files.size() >= 9);
  for (const std::string& f : files) {
    const char* file = f.c_str();
    INFO(file);
    auto model = rwkv::load_model(testdata_path(file));
    const int V = model->info.n_vocab;
    std::vector<std::vector<int32_t>> prompts(3);
    for (int s = 0; s < 3; ++s)
      for (int t = 0; t < 5 + 13 * s; ++t) prompts[(size_t)s].push_back((t * 31 + 7 * s + 2) % V);

    rwkv::CudaOptions opt;
    opt.dtype = rwkv::DType::f32;
    opt.max_rows = 16;  // the 57 prompt tokens take several rounds
    opt.n_slots = 3;
    rwkv::Engine gpu(*model, cuda_test::engine_options(opt));
    rwkv::Backend& gpu_host = gpu.host_backend();
    rwkv::CpuBackend cpu(*model);

    const Run together = run(gpu_host, prompts, 6, true);
    const Run alone = run(gpu_host, prompts, 6, false);
    const Run reference = run(cpu, prompts, 6, true);
    const double d_alone = max_diff(together, alone), d_cpu = max_diff(together, reference);
    std::printf("%-36s together vs alone %.3g, vs cpu %.3g\n", file, d_alone, d_cpu);
    CHECK(d_alone <= kTol);
    CHECK(d_cpu <= kTol);
  }
}

TEST_CASE("cuda backend: slots reset, copy and round-trip through the host", "[gpu][cuda]") {
  auto model = rwkv::load_model(testdata_path("models/tiny-rwkv-7v0-834K.pth"));
  rwkv::CudaOptions opt;
  opt.n_slots = 2;
  rwkv::CudaBackend be(*model, opt);
  const size_t S = be.state_layout().size();
  std::vector<float> init(S), a(S), b(S);
  be.read_slot(0, init.data());
  const int32_t toks[4] = {10, 20, 30, 40};
  rwkv::Batch batch;
  batch.logits = rwkv::LogitsMode::none;
  batch.seqs.push_back({toks, 4, be.slot(0), S});
  be.forward(batch, nullptr);
  be.read_slot(0, a.data());
  CHECK(golden::max_abs_diff(a.data(), init.data(), S) > 0);
  be.copy_slot(0, 1);
  be.read_slot(1, b.data());
  CHECK(golden::max_abs_diff(a.data(), b.data(), S) == 0);
  be.reset_slot(0);
  be.read_slot(0, b.data());
  CHECK(golden::max_abs_diff(init.data(), b.data(), S) == 0);
  be.write_slot(0, a.data());
  be.read_slot(0, b.data());
  CHECK(golden::max_abs_diff(a.data(), b.data(), S) == 0);
  CHECK_THROWS_WITH(be.slot(2), Catch::Contains("slot 2 is out of range"));
  std::vector<float> logits(256);
  batch.seqs[0].state_floats = S - 1;
  CHECK_THROWS_WITH(be.forward(batch, nullptr), Catch::Contains("state has"));
}

TEST_CASE("cuda backend: a model that does not fit names the bytes", "[gpu][cuda]") {
  auto model = rwkv::load_model(testdata_path("models/synth-rwkv-v7-bf16.pth"));
  const size_t need = rwkv::cuda::weight_bytes(*model, rwkv::DType::f32);
#if RWKV_CUDA_EMU
  // The emulated device shrinks to half the model (plus what is in use).
  const std::string saved = getenv("CUDA_EMU_MEMORY_BYTES") ? getenv("CUDA_EMU_MEMORY_BYTES") : "";
  setenv("CUDA_EMU_MEMORY_BYTES", std::to_string(cuda_emu::bytes_in_use() + need / 2).c_str(), 1);
#else
  // Fill the real device until less than the model is free.
  const auto mem = rwkv::cuda::device_memory_info();
  REQUIRE(mem.first > need);
  rwkv::cuda::DeviceBuffer hog(mem.first - need / 2, "test ballast");
#endif
  CHECK_THROWS_WITH(rwkv::CudaBackend(*model), Catch::Contains("does not fit on the GPU") &&
                                                  Catch::Contains("MiB"));
#if RWKV_CUDA_EMU
  if (saved.empty()) unsetenv("CUDA_EMU_MEMORY_BYTES");
  else setenv("CUDA_EMU_MEMORY_BYTES", saved.c_str(), 1);
#endif
}

// A 16k-token prompt of `model_file` in rounds of 512 rows (each a prefill round: the chunked WKV
// kernels, CudaOptions::wkv_chunk_min_tokens) against the CPU backend.
static void check_16k_prompt(const char* model_file) {
  INFO(model_file);
  auto model = rwkv::load_model(testdata_path(model_file));
  const int V = model->info.n_vocab;
  std::vector<int32_t> prompt(16384);
  for (size_t t = 0; t < prompt.size(); ++t) prompt[t] = (int32_t)((t * 131 + t / 7) % V);
  rwkv::CudaOptions opt;
  opt.dtype = rwkv::DType::f32;
  opt.max_rows = 512;
  rwkv::Engine gpu(*model, cuda_test::engine_options(opt));
  const size_t workspace = cuda_test::cuda_backend(gpu).workspace_bytes();
  rwkv::Backend& gpu_host = gpu.host_backend();
  rwkv::CpuBackend cpu(*model);
  const size_t S = cpu.state_layout().size();
  std::vector<float> s_gpu(S), s_cpu(S), l_gpu(V), l_cpu(V);
  gpu_host.init_state(s_gpu.data());
  cpu.init_state(s_cpu.data());
  golden::run_seq(gpu_host, prompt.data(), prompt.size(), s_gpu, rwkv::LogitsMode::last, l_gpu.data());
  golden::run_seq(cpu, prompt.data(), prompt.size(), s_cpu, rwkv::LogitsMode::last, l_cpu.data());
  CHECK(cuda_test::cuda_backend(gpu).workspace_bytes() == workspace);
  const double dl = golden::max_abs_diff(l_gpu.data(), l_cpu.data(), V);
  const double ds = golden::max_rel_diff(s_gpu.data(), s_cpu.data(), S);
  std::printf("16384-token prompt (%s): workspace %.1f MiB, logits vs cpu %.3g, state %.3g\n", model_file,
              workspace / 1048576.0, dl, ds);
  CHECK(dl <= kTol);
  CHECK(ds <= kTol);
}

TEST_CASE("cuda backend: a 16k-token prompt runs in a fixed workspace and matches the CPU",
          "[gpu][cuda][long]") {
  check_16k_prompt("models/tiny-rwkv-4v0-660K.pth");
}

TEST_CASE("cuda backend: a 16k-token prompt through the chunked WKV of v6 matches the CPU", "[gpu][cuda][long]") {
  check_16k_prompt("models/tiny-rwkv-6v0-1m.pth");
}

TEST_CASE("cuda backend: 256 sequences decode together as the CPU backend decodes them",
          "[gpu][cuda][batch]") {
  auto model = rwkv::load_model(testdata_path("models/tiny-rwkv-7v0-834K.pth"));
  const int V = model->info.n_vocab, B = 256;
  std::vector<std::vector<int32_t>> prompts(B);
  for (int s = 0; s < B; ++s)
    for (int t = 0; t < 1 + s % 4; ++t) prompts[(size_t)s].push_back((s * 13 + t * 7 + 1) % V);
  rwkv::CudaOptions opt;
  opt.dtype = rwkv::DType::f32;
  opt.n_slots = B;
  rwkv::Engine gpu(*model, cuda_test::engine_options(opt));
  rwkv::Backend& gpu_host = gpu.host_backend();
  rwkv::CpuBackend cpu(*model);
  const Run on_gpu = run(gpu_host, prompts, 2, true);
  const Run on_cpu = run(cpu, prompts, 2, true);
  const double d = max_diff(on_gpu, on_cpu);
  std::printf("B=256 decode: vs cpu %.3g\n", d);
  CHECK(d <= kTol);
}

// Small on purpose: the TSan stage runs it on the OS-thread engine, where every
// emulated thread is a real thread, so the WKV kernels' barriers and shared
// memory are checked for races.
TEST_CASE("cuda backend: two short sequences on each version (small enough for TSan)",
          "[gpu][cuda][batch]") {
  for (const char* file : {"models/tiny-rwkv-4v0-660K.pth", "models/tiny-rwkv-5v2-730K.pth",
                           "models/tiny-rwkv-6v0-1m.pth", "models/tiny-rwkv-7v0-834K.pth"}) {
    INFO(file);
    auto model = rwkv::load_model(testdata_path(file));
    std::vector<std::vector<int32_t>> prompts = {{1, 2, 3}, {40}};
    rwkv::CudaOptions opt;
    opt.dtype = rwkv::DType::f32;
    opt.n_slots = 2;
    opt.max_rows = 8;
    rwkv::Engine gpu(*model, cuda_test::engine_options(opt));
    rwkv::Backend& gpu_host = gpu.host_backend();
    rwkv::CpuBackend cpu(*model);
    const double d = max_diff(run(gpu_host, prompts, 1, true), run(cpu, prompts, 1, true));
    CHECK(d <= kTol);
  }
}
