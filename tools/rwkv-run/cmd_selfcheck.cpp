// rwkv-run selfcheck: checks the build end to end without any model file.
//
// For each RWKV version (4, 5.2, 6, 7) it builds a small synthetic model in
// memory (released value ranges, shrunken shapes: 2 layers, C = 128, V = 512)
// and feeds it 24 tokens:
//   cpu     the CPU reference backend, the whole prompt in one forward call
//           (sequence mode) against one call per token (RNN mode): the logits
//           of every position within kCpuSeqTokenBound. Always run.
//   cuda    with a GPU (--device auto picks a real one; the emu build's
//           emulated device only when asked for with --device cuda), the CUDA
//           backend in fp32 and in bf16 against the CPU reference's logits:
//           fp32 within 1e-3 (the bound of the fp32 golden tests), bf16 within
//           0.5 (a bf16 compute path's size of error on these models, see
//           tests/kernels/test_cuda_golden.cpp).
// Then one speed line: prefill and decode (B = 1) through the engine, on the
// synthetic v7 0.1B shape in bf16 on a real GPU, on the small v7 model
// elsewhere. Exit status 0 when every comparison is within its bound.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli_args.h"
#include "commands.h"
#include "runtime/engine/device.h"
#include "runtime/engine/engine.h"
#include "runtime/model/synth.h"
#include "runtime/version.h"
#ifdef RWKV_HAVE_GPU
#include <cuda_runtime.h>
#endif

namespace {

// Sequence mode against RNN mode on the CPU backend: both compute in fp32 from
// the same weights; only the order of the sums differs (GEMM over rows against
// one GEMV per token), a few fp32 roundings on logits of size ~10.
constexpr double kCpuSeqTokenBound = 1e-4;
constexpr double kCudaFp32Bound = 1e-3;
constexpr double kCudaBf16Bound = 0.5;
constexpr int kTokens = 24;
constexpr int kVocab = 512;

rwkv::SynthSpec small_spec(const char* version) {
  rwkv::SynthSpec s = rwkv::synth_spec(version, rwkv::synth_sizes(version).front());
  s.size = "selfcheck";
  s.n_embd = 128;
  s.n_layer = 2;
  s.n_vocab = kVocab;
  s.n_ffn = 4 * 128;
  s.head_size = 64;
  if (s.lora_w) s.lora_w = s.lora_a = s.lora_v = s.lora_g = 32;
  if (s.lora_maa) {
    s.lora_maa = 32;
    s.lora_decay = 64;
  }
  return s;
}

// The logits of every position of `tokens` fed from the initial state, in
// calls of `per_call` tokens (tokens.size(): one sequence-mode call; 1: RNN mode).
std::vector<float> run(rwkv::Backend& be, const std::vector<int32_t>& tokens, size_t per_call) {
  std::vector<float> state(be.state_layout().size());
  be.init_state(state.data());
  const size_t V = (size_t)be.info().n_vocab;
  std::vector<float> logits(tokens.size() * V);
  for (size_t at = 0; at < tokens.size(); at += per_call) {
    const size_t n = std::min(per_call, tokens.size() - at);
    rwkv::Batch b;
    b.logits = rwkv::LogitsMode::all;
    b.seqs.push_back({tokens.data() + at, n, state.data(), state.size()});
    be.forward(b, logits.data() + at * V);
  }
  return logits;
}

// Largest |a - b|; a NaN anywhere gives NaN (never within a bound).
double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return NAN;
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = std::fabs((double)a[i] - b[i]);
    if (!(d <= m)) m = d;
  }
  return m;
}

// "NVIDIA H200, sm_90, 139 GiB" for CUDA device `index` ("" when unknown).
std::string device_description(int index) {
#ifdef RWKV_HAVE_GPU
  cudaDeviceProp p{};
  if (cudaGetDeviceProperties(&p, index) != cudaSuccess) {
    cudaGetLastError();
    return "";
  }
  return std::string(p.name) + ", sm_" + std::to_string(p.major) + std::to_string(p.minor) + ", " +
         std::to_string((int)(p.totalGlobalMem >> 30)) + " GiB";
#else
  (void)index;
  return "";
#endif
}

bool real_gpu_build() {
#if defined(RWKV_HAVE_GPU) && !defined(RWKV_CUDA_EMU)
  return true;
#else
  return false;
#endif
}

// One cell of the table: "3.1e-07 ok"; sets *ok false when d is not within bound.
std::string verdict(double d, double bound, bool* ok) {
  const bool good = d <= bound;  // false for NaN
  *ok = *ok && good;
  char buf[48];
  std::snprintf(buf, sizeof buf, "%-9.2g %-4s", d, good ? "ok" : "FAIL");
  return buf;
}

// The table: per version, the CPU's sequence-vs-RNN difference and, on a CUDA
// device, CUDA fp32/bf16 against the CPU. Returns true when all are within bounds.
bool compare_backends(const rwkv::Device& dev) {
  std::vector<int32_t> tokens(kTokens);
  for (size_t t = 0; t < tokens.size(); ++t) tokens[t] = (int32_t)((t * 97 + 13) % kVocab);
  std::printf("max |logit difference| over %d positions x %d logits (synthetic, 2 layers, C=128)\n", kTokens, kVocab);
  std::printf("%-8s %-26s", "version", "cpu sequence vs per-token");
  if (dev.is_cuda()) std::printf(" %-20s %-20s", "cuda fp32 vs cpu", "cuda bf16 vs cpu");
  std::printf("\n%-8s bound %-20.0e", "", kCpuSeqTokenBound);
  if (dev.is_cuda()) std::printf(" bound %-14.0e bound %-14.1f", kCudaFp32Bound, kCudaBf16Bound);
  std::printf("\n");
  bool ok = true;
  for (const char* version : {"4", "5.2", "6", "7"}) {
    auto model = rwkv::make_synth_model(small_spec(version), rwkv::DType::bf16, 1);
    rwkv::Engine cpu(*model, rwkv::EngineOptions{});
    const std::vector<float> ref = run(cpu.host_backend(), tokens, tokens.size());
    const std::vector<float> per_token = run(cpu.host_backend(), tokens, 1);
    std::printf("v%-7s %-26s", version, verdict(max_abs_diff(per_token, ref), kCpuSeqTokenBound, &ok).c_str());
    if (dev.is_cuda()) {
      for (rwkv::DType dt : {rwkv::DType::f32, rwkv::DType::bf16}) {
        rwkv::EngineOptions o;
        o.device = dev.name();
        o.backend.dtype = dt;
        rwkv::Engine gpu(*model, o);
        const double d = max_abs_diff(run(gpu.host_backend(), tokens, tokens.size()), ref);
        std::printf(" %-20s", verdict(d, dt == rwkv::DType::f32 ? kCudaFp32Bound : kCudaBf16Bound, &ok).c_str());
      }
    }
    std::printf("\n");
    std::fflush(stdout);
  }
  return ok;
}

// Prefill of `prompt` tokens, then `steps` decode steps of one token, through
// an engine slot; prints tokens per second of each (wall clock, each call
// returning its logits to the host).
void speed_line(const rwkv::Device& dev) {
  const bool big = dev.is_cuda() && real_gpu_build();
  const rwkv::SynthSpec spec = big ? rwkv::synth_spec("7", "0.1B") : small_spec("7");
  const size_t prompt = big ? 512 : 64;
  const int steps = big ? 64 : 16;
  const rwkv::DType dt = dev.is_cuda() ? rwkv::DType::bf16 : rwkv::DType::f32;
  auto model = rwkv::make_synth_model(spec, rwkv::DType::bf16, 1, 0);
  rwkv::EngineOptions o;
  o.device = dev.name();
  o.chunk_len = prompt;
  if (dev.is_cuda()) o.backend.dtype = dt;
  rwkv::Engine engine(*model, o);
  std::vector<int32_t> tokens(prompt);
  for (size_t t = 0; t < prompt; ++t) tokens[t] = (int32_t)((t * 7919 + 1) % (size_t)spec.n_vocab);
  std::vector<float> logits((size_t)spec.n_vocab);
  engine.eval(0, tokens.data(), 8, logits.data());  // warm-up: kernels loaded, workspaces allocated
  engine.reset(0);
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  engine.eval(0, tokens.data(), prompt, logits.data());
  const auto t1 = clock::now();
  for (int s = 0; s < steps; ++s) engine.eval(0, &tokens[(size_t)s], 1, logits.data());
  const auto t2 = clock::now();
  const double pp = (double)prompt / std::chrono::duration<double>(t1 - t0).count();
  const double tg = steps / std::chrono::duration<double>(t2 - t1).count();
  std::printf("speed on %s, %s, synthetic v7 %s: prefill %zu tokens %.0f tok/s, decode B=1 %.1f tok/s (%d steps)\n",
              dev.name().c_str(), rwkv::dtype_name(dt), big ? "0.1B" : "2x128 (selfcheck size)", prompt, pp, tg,
              steps);
}

// The device line; returns the device to check.
rwkv::Device pick_device(const std::string& text) {
  std::string note;
  const rwkv::DeviceRequest req = rwkv::parse_device(text);
  const rwkv::Device dev = rwkv::resolve_device(req, &note);
  if (dev.is_cuda()) {
    const std::string what = real_gpu_build() ? device_description(dev.index) : "emulated on the CPU";
    std::printf("device: %s (%s)\n", dev.name().c_str(), what.empty() ? "?" : what.c_str());
  } else if (req.automatic) {
    const std::string why = note.find('(') != std::string::npos ? note.substr(note.find('(')) : "";
    std::printf("device: cpu: no GPU %s; checking the CPU backend against itself\n", why.c_str());
  } else {
    std::printf("device: cpu (asked for); checking the CPU backend against itself\n");
  }
  return dev;
}

}  // namespace

int cmd_selfcheck(int argc, char** argv) {
  std::string device = "auto";
  cli::Command cmd("selfcheck",
                   "Runs small synthetic RWKV 4, 5.2, 6 and 7 models and checks the backends: the CPU backend's\n"
                   "sequence mode against its per-token mode, and on a CUDA device the CUDA backend (fp32 and\n"
                   "bf16) against the CPU reference; each max logit difference against its bound. Then one\n"
                   "prefill/decode speed line. --device auto uses a real GPU when there is one, else the CPU;\n"
                   "the emu build's emulated GPU is checked with --device cuda.");
  cli::add_device(cmd.app(), device);
  const int parsed = cmd.run([&] { return cmd.parse(argc, argv) ? -1 : 0; });
  if (parsed >= 0) return parsed;  // --help or a usage error
  return cmd.run([&] {
    std::printf("rwkv-run %s\n", rwkv::version_string());
    const rwkv::Device dev = pick_device(device);
    const bool ok = compare_backends(dev);
    speed_line(dev);
    std::printf("selfcheck: %s\n", ok ? "all good" : "FAILED");
    return ok ? 0 : 1;
  });
}
