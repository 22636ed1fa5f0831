// bench/bench_target_cpu.cpp: the CPU backend as a BenchTarget (see
// bench_target.h), and make_target(), which builds the engine for the device.
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>
#include <vector>

#include "bench/bench_stats.h"
#include "bench/bench_target.h"
#include "runtime/cpu/cpu_backend.h"
#include "runtime/engine/device.h"
#include "runtime/quant/weight_bytes.h"

namespace rwkv {
namespace bench {

namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  return "unknown CPU";
}

// Runs fn(t) on threads 0..n-1 at once (0 on the calling thread).
template <class Fn>
void on_threads(int n, Fn fn) {
  std::vector<std::thread> ts;
  for (int t = 1; t < n; ++t) ts.emplace_back(fn, t);
  fn(0);
  for (std::thread& t : ts) t.join();
}

class CpuTarget final : public BenchTarget {
 public:
  CpuTarget(std::unique_ptr<Engine> engine, size_t weight_bytes_held)
      : engine_(std::move(engine)), be_(dynamic_cast<CpuBackend&>(engine_->backend())), name_(cpu_model_name()),
        held_(weight_bytes_held) {}

  Engine& engine() override { return *engine_; }
  std::string device_kind() const override { return "cpu"; }
  std::string device_name() const override { return name_; }
  // The dtype the matrices are held in (the products sum in fp32 whatever it is:
  // the GEMM probe is an fp32 sgemm).
  DType compute_dtype() const override { return engine_->compute_dtype(); }
  // Quantized weights: their packed bytes (runtime/quant/weight_bytes.h); 0: the model's accounting in compute_dtype().
  size_t weight_bytes_held() const override { return held_; }
  int threads() const override { return be_.n_threads(); }

  void reserve_marks(int n) override {
    if (marks_.size() < size_t(n)) marks_.resize(size_t(n));
  }
  void mark(int i) override {
    if (size_t(i) >= marks_.size()) marks_.resize(size_t(i) + 1);
    marks_[size_t(i)] = Clock::now();
  }
  double elapsed_ms(int a, int b) override { return ms_between(marks_.at(size_t(a)), marks_.at(size_t(b))); }

  double measure_copy_gbs(size_t bytes, int repeats) override {
    const int T = threads();
    std::vector<char> src(bytes, 1), dst(bytes, 0);
    const size_t per = (bytes + size_t(T) - 1) / size_t(T);
    auto copy = [&](int t) {
      const size_t b = std::min(bytes, per * size_t(t)), e = std::min(bytes, b + per);
      std::memcpy(dst.data() + b, src.data() + b, e - b);
    };
    std::vector<double> gbs;
    for (int r = 0; r <= repeats; ++r) {
      const auto t0 = Clock::now();
      on_threads(T, copy);
      const double ms = ms_between(t0, Clock::now());
      if (r > 0) gbs.push_back(2.0 * double(bytes) / (ms * 1e6));
    }
    return median(gbs);
  }

  double measure_gemm_tflops(int n, int repeats) override {
    // One independent n x n x n sgemm per thread, all at once: the CPU backend
    // calls OpenBLAS single-threaded (it set openblas_set_num_threads(1)) from
    // each of its threads.
    const int T = threads();
    const size_t nn = size_t(n) * size_t(n);
    std::vector<std::vector<float>> a(static_cast<size_t>(T)), b(a.size()), c(a.size());
    for (int t = 0; t < T; ++t) {
      a[size_t(t)].resize(nn);
      b[size_t(t)].resize(nn);
      c[size_t(t)].assign(nn, 0.0f);
      for (size_t i = 0; i < nn; ++i) {
        a[size_t(t)][i] = float(int((i * 7919 + size_t(t)) % 2001) - 1000) * 1e-3f;
        b[size_t(t)][i] = float(int((i * 104729 + 3) % 2001) - 1000) * 1e-3f;
      }
    }
    auto gemm = [&](int t) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a[size_t(t)].data(), n,
                  b[size_t(t)].data(), n, 0.0f, c[size_t(t)].data(), n);
    };
    std::vector<double> tflops;
    for (int r = 0; r <= repeats; ++r) {
      const auto t0 = Clock::now();
      on_threads(T, gemm);
      const double ms = ms_between(t0, Clock::now());
      if (r > 0) tflops.push_back(2.0 * double(n) * n * n * T / (ms * 1e9));
    }
    return median(tflops);
  }
  std::string copy_method() const override {
    return "memcpy of a host buffer split over " + std::to_string(threads()) + " threads";
  }
  std::string gemm_method() const override {
    return "OpenBLAS sgemm (fp32), one single-threaded call on each of " + std::to_string(threads()) +
           " threads";
  }

 private:
  std::unique_ptr<Engine> engine_;
  CpuBackend& be_;
  std::string name_;
  std::vector<Clock::time_point> marks_;
  size_t held_ = 0;
};

}  // namespace

std::unique_ptr<BenchTarget> make_cpu_target(std::unique_ptr<Engine> engine, size_t weight_bytes_held) {
  return std::make_unique<CpuTarget>(std::move(engine), weight_bytes_held);
}

EngineOptions engine_options(const TargetOptions& opt) {
  EngineOptions e;
  e.device = opt.device;
  e.backend.dtype = opt.dtype;
  e.backend.threads = opt.threads;
  e.backend.n_slots = std::max(opt.n_states, 1);
  e.backend.max_rows = opt.max_rows;
  e.backend.cuda_graphs = opt.cuda_graphs;
  e.backend.gemv_max_rows = opt.gemv_max_rows;
  e.backend.wkv_chunk_min_tokens = opt.wkv_chunk_min_tokens;
  e.backend.wkv_carry_split_slots = opt.wkv_carry_split_slots;
  e.backend.wkv_split_parts = opt.wkv_split_parts;
  e.backend.profile_prefill = opt.profile_prefill;
  e.backend.state_dtype = opt.state_dtype;
  e.backend.quant = opt.quant;
  return e;
}

std::unique_ptr<BenchTarget> make_target(const Model& model, const TargetOptions& opt) {
  auto engine = std::make_unique<Engine>(model, engine_options(opt));
  if (engine->device().is_cuda()) return make_cuda_target(std::move(engine));
  // The CPU keeps dense matrices in the run's dtype, quantized ones packed (the
  // embedding stays fp32 there, but a decode step reads only its rows, which the
  // accounting counts in the run's dtype either way).
  const size_t held = opt.quant == QuantKind::none
                          ? 0
                          : size_t(backend_weight_bytes(model.info, weight_tensors(model), opt.dtype, opt.quant));
  return make_cpu_target(std::move(engine), held);
}

}  // namespace bench
}  // namespace rwkv
