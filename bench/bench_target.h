// bench/bench_target.h: one engine (runtime/engine/engine.h: the backend on
// one device and its state slots, B of them for a batch of B) as the
// benchmark drives it, with a clock on the device's own timeline and the two
// limit probes (memory bandwidth, GEMM peak) measured on the same device.
//
//   cpu      CpuBackend; host states; std::chrono::steady_clock; the probes are
//            a threaded memcpy and OpenBLAS sgemm, one single-threaded call per
//            thread (how the CPU backend itself calls OpenBLAS).
//   cuda:N   CudaBackend; states in its device slots; CUDA events recorded on
//            the backend's stream; the probes are cudaMemcpy device to device
//            and cublasGemmEx in the model's dtype with fp32 accumulation (the
//            backend's own GEMM configuration), both timed with events.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "runtime/backend/backend.h"
#include "runtime/engine/engine.h"
#include "runtime/model/model.h"

namespace rwkv {
namespace bench {

// Profiled prefill device time (milliseconds, summed over the rounds since the last reset).
struct PrefillTimes {
  int rounds = 0;
  double round_ms = 0;
  // Each kind of launch the backend marks (runtime/cuda/prefill_profile.h, PrefillPiece), in the
  // backend's order; launches (kernels and cuBLAS calls) are counted only in the emulated build
  // (launches_counted).
  struct Piece {
    std::string name, part;  // part: "gemm", "wkv" or "other"
    long long spans = 0;
    double ms = 0;
    long long launches = 0;
  };
  std::vector<Piece> pieces;
  bool launches_counted = false;
  long long round_launches = 0;

  // Summed over the pieces of `part`: time, and spans (0: that part was not marked, its time unknown).
  double part_ms(const std::string& part) const {
    double ms = 0;
    for (const Piece& p : pieces)
      if (p.part == part) ms += p.ms;
    return ms;
  }
  long long part_spans(const std::string& part) const {
    long long n = 0;
    for (const Piece& p : pieces)
      if (p.part == part) n += p.spans;
    return n;
  }
};

class BenchTarget {
 public:
  virtual ~BenchTarget() = default;

  virtual Engine& engine() = 0;
  Backend& backend() { return engine().backend(); }
  virtual std::string device_kind() const = 0;  // "cpu", "cuda"
  virtual std::string device_name() const = 0;  // CPU model name / cudaDeviceProp::name
  virtual bool emulated() const { return false; }  // the CUDA emulator, not a GPU
  virtual DType compute_dtype() const = 0;      // dtype of the weights the GEMMs read
  virtual size_t weight_bytes_held() const = 0;
  virtual size_t workspace_bytes() const { return 0; }
  virtual int threads() const { return 0; }     // CPU worker threads (0: not a CPU target)

  // State buffers 0..n_states()-1 (the engine's slots, in backend memory),
  // each StateLayout::size() floats.
  int n_states() { return engine().n_slots(); }
  float* state(int i) { return engine().slot(i); }
  void reset_state(int i) { engine().reset(i); }

  // Timeline marks: mark(i) records "now" on the device's timeline (after all
  // work issued so far); elapsed_ms(a, b) waits for b and returns b - a.
  virtual void reserve_marks(int n) = 0;  // makes marks 0..n-1 cheap to record
  virtual void mark(int i) = 0;
  virtual double elapsed_ms(int a, int b) = 0;

  // Copy bandwidth in GB/s (1e9 bytes/s; each byte copied counts read + write)
  // of a copy of `bytes`, median of `repeats` after a warm-up.
  virtual double measure_copy_gbs(size_t bytes, int repeats) = 0;
  // GEMM throughput in TFLOP/s (2 n^3 per product) of n x n x n products in
  // the compute dtype, median of `repeats` after a warm-up.
  virtual double measure_gemm_tflops(int n, int repeats) = 0;
  // Kernel launches (GEMMs included) one decode step of `batch` sequences issues, counted on the
  // device's own record of the step (cuda: the nodes of the step's captured graph); -1 unknown.
  virtual int decode_launches(int batch) {
    (void)batch;
    return -1;
  }
  // Token rows per round the backend chose (cuda; 0 not a cuda target) and whether automatically.
  virtual int max_rows() const { return 0; }
  virtual bool max_rows_automatic() const { return false; }
  // The chunked WKV kernels' bf16 parts per tensor-core operand in use (cuda: 2 or 3); 0 not cuda.
  virtual int wkv_split_parts() const { return 0; }
  // Device time of the prefill rounds since reset_prefill_times(), split into GEMM and WKV spans
  // (cuda with TargetOptions::profile_prefill: CUDA events, runtime/cuda/prefill_profile.h); false
  // when nothing was profiled.
  virtual bool prefill_times(PrefillTimes* out) {
    (void)out;
    return false;
  }
  virtual void reset_prefill_times() {}
  // Pauses (false) or resumes (true) the prefill profile's events; returns whether the target
  // profiles prefill at all (false: nothing to pause, prefill_times stays false).
  virtual bool set_prefill_profiling(bool on) {
    (void)on;
    return false;
  }
  // How the two probes are done, for the report.
  virtual std::string copy_method() const = 0;
  virtual std::string gemm_method() const = 0;
};

struct TargetOptions {
  std::string device = "cpu";  // "auto", "cpu", "cuda", "cuda:N" (runtime/engine/device.h)
  DType dtype = DType::f32;    // cuda: weights' dtype on the device; cpu: fp32 always
  int n_states = 1;
  int max_rows = 0;            // cuda: token rows per round (0: automatic, from the free device memory)
  int wkv_chunk_min_tokens = 64;  // cuda: the sequential/chunked WKV switch (0: never chunked)
  int wkv_carry_split_slots = -1;  // cuda: chunked v7 pass 2's split shape (-1 automatic, 0 never)
  int wkv_split_parts = 0;     // cuda: the chunked WKV's operand parts (0 automatic: by the dtype; 2, 3)
  bool profile_prefill = true;    // cuda: CUDA events around prefill rounds and their GEMM/WKV spans
  int threads = 0;             // cpu: worker threads (0: all cores)
  bool cuda_graphs = true;     // cuda: decode steps replayed from CUDA graphs
  int gemv_max_rows = 16;      // cuda: the custom GEMV up to this many rows, cuBLAS above
  DType state_dtype = DType::f32;  // cuda: the WKV matrix state's dtype in device memory (fp32 or bf16)
  QuantKind quant = QuantKind::none;  // int8 / q4: every matrix quantized at load (docs/quantization.md);
                                      // `dtype` is then the dense dtype (embedding, activations)
};

// The engine's options for a target (device, dtype, slots, rows, threads).
EngineOptions engine_options(const TargetOptions& opt);

// Throws rwkv::Error for an unknown device, "cuda" in a build without GPU
// support, or a dtype the device does not compute in.
std::unique_ptr<BenchTarget> make_target(const Model& model, const TargetOptions& opt);

// Implementations (bench_target_cpu.cpp, bench_target_cuda.cpp), on an
// engine already built for the device.
std::unique_ptr<BenchTarget> make_cpu_target(std::unique_ptr<Engine> engine, size_t weight_bytes_held = 0);
std::unique_ptr<BenchTarget> make_cuda_target(std::unique_ptr<Engine> engine);

}  // namespace bench
}  // namespace rwkv
