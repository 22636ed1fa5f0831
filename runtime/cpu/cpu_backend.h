// runtime/cpu/cpu_backend.h: the CPU reference backend, the project's
// executable specification: every CUDA kernel is tested against it.
//
// Rules of runtime/cpu/:
//  * It reproduces the official implementation (pip rwkv 0.8.32, strategy
//    "cpu fp32"; docs/rwkv-math.md sections 1-7) to fp32 rounding: same formulas,
//    same load-time transforms, same state layout. Goldens: testdata/golden.
//  * All arithmetic is fp32 (a few reductions in double). The matrices are held
//    in the dtype the backend is given (fp32 by default here, the file's own
//    through the engine; fp16/bf16 widened exactly in registers, or quantized:
//    docs/cpu-backend.md). The one deliberate rounding is pip's own: a bf16
//    v4-v6 checkpoint gets its ln0-folded embedding rounded to bf16
//    (runtime/arch/weights.cpp, fold_ln0).
//  * Matrix products go through the kernels of dense_kernels.h /
//    quant_kernels.h and OpenBLAS (cpu_ops.cpp); everything else is plain
//    loops, written to be read. Work is
//    spread over the backend's own thread pool; the recurrences stay sequential
//    in time and run in parallel over sequences and heads/channels.
//  * RNN mode (one token) and sequence mode (T tokens) run the same code: a
//    forward over M stacked token rows, so they agree up to GEMM rounding.
//  * Side effect to know about: constructing a CpuBackend sets OpenBLAS to one
//    thread (openblas_set_num_threads(1)), a process-wide library setting.
//  * A CpuBackend is used by one thread at a time (forward() is serialised).
#pragma once

#include <memory>
#include <mutex>

#include "runtime/backend/backend.h"
#include "runtime/cpu/cpu_ops.h"
#include "runtime/cpu/cpu_weights.h"
#include "runtime/cpu/thread_pool.h"

namespace rwkv {

struct CpuOptions {
  CpuOptions() = default;
  explicit CpuOptions(int threads, WeightFormat format = {}) : n_threads(threads), weights(format) {}
  int n_threads = 0;  // 0: std::thread::hardware_concurrency()
  WeightFormat weights;  // matrices fp32 (default) or quantized (runtime/arch/weights.h)
  // int8 matrices under AVX-512: products on inputs rounded to int16 (the fast
  // kernels, docs/quantization.md "CPU kernels"); false: the fp32 inputs, the
  // product the CUDA backend computes (cpu::LinearOptions::int8_rounded_inputs).
  bool int8_rounded_inputs = true;
  // The matrices in a HugePageArena (2 MiB pages where the OS gives them,
  // runtime/core/huge_page_arena.h) unless `weights.arena` is set already;
  // false: on the heap, as load_weights leaves them.
  bool huge_pages = true;
};

class CpuBackend final : public Backend {
 public:
  // Copies what it needs from `model` (which may be freed afterwards).
  explicit CpuBackend(const Model& model, CpuOptions options = {});
  ~CpuBackend() override;

  const char* name() const override { return "cpu"; }
  const ModelInfo& info() const override { return info_; }
  const StateLayout& state_layout() const override { return layout_; }
  void init_state(float* state) const override;
  void forward(const Batch& batch, float* logits) override;

  int n_threads() const { return pool_->size(); }

 private:
  ModelInfo info_;
  StateLayout layout_;
  std::vector<float> initial_state_;
  cpu::CpuWeights w_;
  std::unique_ptr<cpu::ThreadPool> pool_;
  cpu::LinearOptions products_;
  std::mutex forward_mu_;
};

}  // namespace rwkv
