// rwkv-run selfcheck: checks the build end to end without any model file.
//
// For each RWKV version it builds a small synthetic model in memory (released
// value ranges, shrunken shapes), runs 24 tokens through the CPU reference
// backend, and, when a GPU (or the emulated one) is there, through the CUDA
// backend in fp32 and bf16, comparing the logits with the CPU's:
// fp32 within 1e-3 (the bound the golden tests use), bf16 within 0.5 (a bf16
// compute path's size of error on these models, see tests/kernels/test_cuda_golden.cpp).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "cli_args.h"
#include "commands.h"
#include "runtime/engine/engine.h"
#include "runtime/model/synth.h"
#include "runtime/version.h"
#ifdef RWKV_HAVE_GPU
#include <cuda_runtime.h>
#endif

namespace {

rwkv::SynthSpec small_spec(const char* version) {
  rwkv::SynthSpec s = rwkv::synth_spec(version, rwkv::synth_sizes(version).front());
  s.size = "selfcheck";
  s.n_embd = 128;
  s.n_layer = 2;
  s.n_vocab = 512;
  s.n_ffn = 4 * 128;
  s.head_size = 64;
  if (s.lora_w) s.lora_w = s.lora_a = s.lora_v = s.lora_g = 32;
  if (s.lora_maa) {
    s.lora_maa = 32;
    s.lora_decay = 64;
  }
  return s;
}

std::vector<float> run(rwkv::Backend& be, const std::vector<int32_t>& tokens) {
  std::vector<float> state(be.state_layout().size());
  be.init_state(state.data());
  std::vector<float> logits(tokens.size() * (size_t)be.info().n_vocab);
  rwkv::Batch b;
  b.logits = rwkv::LogitsMode::all;
  b.seqs.push_back({tokens.data(), tokens.size(), state.data(), state.size()});
  be.forward(b, logits.data());
  return logits;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = std::fabs((double)a[i] - b[i]);
    if (!(d <= m)) m = d;
  }
  return m;
}

bool gpu_present(std::string* name) {
#ifdef RWKV_HAVE_GPU
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    cudaGetLastError();
    return false;
  }
  cudaDeviceProp p;
  cudaGetDeviceProperties(&p, 0);
  *name = std::string(p.name) + ", sm_" + std::to_string(p.major) + std::to_string(p.minor) + ", " +
          std::to_string((int)(p.totalGlobalMem >> 30)) + " GiB";
  return true;
#else
  (void)name;
  return false;
#endif
}

}  // namespace

int cmd_selfcheck(int argc, char** argv) {
  cli::Command cmd("selfcheck",
                   "Runs small synthetic RWKV 4, 5.2, 6 and 7 models on the CPU backend and, when a GPU is\n"
                   "present, on the CUDA backend (fp32 and bf16), and compares their logits.");
  const int parsed = cmd.run([&] { return cmd.parse(argc, argv) ? -1 : 0; });
  if (parsed >= 0) return parsed;  // --help or a usage error
  std::printf("rwkv-run %s\n", rwkv::version_string());
  std::string gpu_name;
  const bool gpu = gpu_present(&gpu_name);
#ifdef RWKV_HAVE_GPU
  std::printf("gpu: %s\n", gpu ? gpu_name.c_str() : "none usable; the CPU backend will be used");
#else
  std::printf("gpu: not built (CPU-only build)\n");
#endif
  bool ok = true;
  try {
    std::vector<int32_t> tokens(24);
    for (size_t t = 0; t < tokens.size(); ++t) tokens[t] = (int32_t)((t * 97 + 13) % 512);
    for (const char* version : {"4", "5.2", "6", "7"}) {
      auto model = rwkv::make_synth_model(small_spec(version), rwkv::DType::bf16, 1);
      rwkv::Engine cpu(*model, rwkv::EngineOptions{});
      const std::vector<float> ref = run(cpu.host_backend(), tokens);
      bool finite = true;
      for (float v : ref) finite = finite && std::isfinite(v);
      std::printf("v%-4s cpu  fp32 logits %s", version, finite ? "finite" : "NOT FINITE");
      ok = ok && finite;
      if (gpu) {
        for (rwkv::DType dt : {rwkv::DType::f32, rwkv::DType::bf16}) {
          rwkv::EngineOptions o;
          o.device = "cuda";
          o.backend.dtype = dt;
          rwkv::Engine gpu(*model, o);
          const double d = max_abs_diff(run(gpu.host_backend(), tokens), ref);
          const bool good = d <= (dt == rwkv::DType::f32 ? 1e-3 : 0.5);
          std::printf(" | cuda %s max|dlogit| %.2g %s", rwkv::dtype_name(dt), d, good ? "ok" : "FAIL");
          ok = ok && good;
        }
      }
      std::printf("\n");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rwkv-run selfcheck: %s\n", e.what());
    return 1;
  }
  std::printf("selfcheck: %s\n", ok ? "all good" : "FAILED");
  return ok ? 0 : 1;
}
