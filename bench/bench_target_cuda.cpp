// bench/bench_target_cuda.cpp: the CUDA backend as a BenchTarget (see
// bench_target.h). In builds without GPU support make_cuda_target() throws.
#include "bench/bench_target.h"

#if RWKV_HAVE_GPU
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <vector>

#include "bench/bench_stats.h"
#include "runtime/cuda/cuda_backend.h"
#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/device_buffer.h"
#include "runtime/model/safetensors_writer.h"
#endif

namespace rwkv {
namespace bench {

#if RWKV_HAVE_GPU
namespace {

cudaDataType_t cuda_type(DType t) {
  switch (t) {
    case DType::f16: return CUDA_R_16F;
    case DType::bf16: return CUDA_R_16BF;
    case DType::f32: break;
  }
  return CUDA_R_32F;
}

// Events created on demand, destroyed with the owner.
class Events {
 public:
  ~Events() {
    for (cudaEvent_t e : ev_) cudaEventDestroy(e);
  }
  cudaEvent_t at(int i) {
    while (ev_.size() <= size_t(i)) {
      cudaEvent_t e = nullptr;
      RWKV_CUDA_TRY(cudaEventCreate(&e));
      ev_.push_back(e);
    }
    return ev_[size_t(i)];
  }
  double ms(int a, int b) {
    RWKV_CUDA_TRY(cudaEventSynchronize(at(b)));
    float ms = 0;
    RWKV_CUDA_TRY(cudaEventElapsedTime(&ms, at(a), at(b)));
    return double(ms);
  }

 private:
  std::vector<cudaEvent_t> ev_;
};

class CudaTarget final : public BenchTarget {
 public:
  explicit CudaTarget(std::unique_ptr<Engine> engine)
      : engine_(std::move(engine)), be_(dynamic_cast<CudaBackend&>(engine_->backend())) {
    cudaDeviceProp p{};
    RWKV_CUDA_TRY(cudaGetDeviceProperties(&p, engine_->device().index));
    name_ = p.name;
#if RWKV_CUDA_EMU
    emulated_ = true;
#endif
  }

  Engine& engine() override { return *engine_; }
  std::string device_kind() const override { return "cuda"; }
  std::string device_name() const override { return name_; }
  bool emulated() const override { return emulated_; }
  DType compute_dtype() const override { return be_.dtype(); }
  size_t weight_bytes_held() const override { return be_.weight_bytes(); }
  size_t workspace_bytes() const override { return be_.workspace_bytes(); }
  int max_rows() const override { return be_.max_rows(); }
  bool max_rows_automatic() const override { return be_.max_rows_automatic(); }
  int wkv_split_parts() const override { return be_.wkv_split_parts(); }
  bool prefill_times(PrefillTimes* out) override {
    const cuda::PrefillSplit s = be_.prefill_split();
    if (s.rounds == 0) return false;
    out->rounds = s.rounds;
    out->round_ms = s.round_ms;
    static const char* const kPartNames[] = {"gemm", "wkv", "other"};
    out->pieces.clear();
    for (int i = 0; i < cuda::kPrefillPieces; ++i) {
      const auto piece = static_cast<cuda::PrefillPiece>(i);
      out->pieces.push_back({cuda::prefill_piece_name(piece), kPartNames[(int)cuda::prefill_piece_part(piece)],
                             s.piece_spans[i], s.piece_ms[i], s.piece_launches[i]});
    }
    out->launches_counted = s.launches_counted;
    out->round_launches = s.round_launches;
    return true;
  }
  void reset_prefill_times() override { be_.reset_prefill_split(); }
  bool set_prefill_profiling(bool on) override { return be_.set_prefill_profiling(on); }
  // The nodes of the step's graph (a decode row's forward, LogitsMode::last) and the sampling
  // launch after it (forward_sample); -1 with graphs off.
  int decode_launches(int batch) override {
    const int nodes = be_.graph_nodes(batch, LogitsMode::last);
    return nodes < 0 ? -1 : nodes + 1;
  }

  void reserve_marks(int n) override {
    if (n > 0) events_.at(n - 1);
  }
  void mark(int i) override { RWKV_CUDA_TRY(cudaEventRecord(events_.at(i), be_.stream())); }
  double elapsed_ms(int a, int b) override { return events_.ms(a, b); }

  double measure_copy_gbs(size_t bytes, int repeats) override {
    cuda::DeviceBuffer src(bytes, "bandwidth probe source"), dst(bytes, "bandwidth probe destination");
    RWKV_CUDA_TRY(cudaMemset(src.get(), 1, bytes));
    Events ev;
    std::vector<double> gbs;
    for (int r = 0; r <= repeats; ++r) {
      RWKV_CUDA_TRY(cudaEventRecord(ev.at(0), be_.stream()));
      RWKV_CUDA_TRY(cudaMemcpyAsync(dst.get(), src.get(), bytes, cudaMemcpyDeviceToDevice, be_.stream()));
      RWKV_CUDA_TRY(cudaEventRecord(ev.at(1), be_.stream()));
      const double ms = ev.ms(0, 1);
      if (r > 0 && ms > 0) gbs.push_back(2.0 * double(bytes) / (ms * 1e6));
    }
    if (gbs.empty()) throw Error("bandwidth probe: the copies took no measurable time");
    return median(gbs);
  }

  double measure_gemm_tflops(int n, int repeats) override {
    const DType dt = be_.dtype();
    const size_t nn = size_t(n) * size_t(n);
    // Inputs: values in [-1, 1) in the compute dtype (not zeros, which run
    // faster than real data on some GPUs); output fp32, as the backend's GEMMs.
    std::vector<float> host(nn);
    for (size_t i = 0; i < nn; ++i) host[i] = float(int((i * 7919 + 17) % 2001) - 1000) * 1e-3f;
    std::vector<uint8_t> conv(nn * dtype_size(dt));
    convert_floats(host.data(), DType::f32, conv.data(), dt, nn);
    cuda::DeviceBuffer a(conv.size(), "GEMM probe A"), b(conv.size(), "GEMM probe B"),
        c(nn * sizeof(float), "GEMM probe C");
    RWKV_CUDA_TRY(cudaMemcpy(a.get(), conv.data(), conv.size(), cudaMemcpyHostToDevice));
    RWKV_CUDA_TRY(cudaMemcpy(b.get(), conv.data(), conv.size(), cudaMemcpyHostToDevice));
    cublasHandle_t h = nullptr;
    RWKV_CUBLAS_TRY(cublasCreate(&h));
    struct Guard {
      cublasHandle_t h;
      ~Guard() { cublasDestroy(h); }
    } guard{h};
    RWKV_CUBLAS_TRY(cublasSetStream(h, be_.stream()));
    RWKV_CUBLAS_TRY(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));  // no TF32, as the backend
    const float alpha = 1.0f, beta = 0.0f;
    Events ev;
    std::vector<double> tflops;
    for (int r = 0; r <= repeats; ++r) {
      RWKV_CUDA_TRY(cudaEventRecord(ev.at(0), be_.stream()));
      RWKV_CUBLAS_TRY(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, n, n, n, &alpha, a.get(), cuda_type(dt), n,
                                   b.get(), cuda_type(dt), n, &beta, c.get(), CUDA_R_32F, n,
                                   CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
      RWKV_CUDA_TRY(cudaEventRecord(ev.at(1), be_.stream()));
      const double ms = ev.ms(0, 1);
      if (r > 0 && ms > 0) tflops.push_back(2.0 * double(n) * n * n / (ms * 1e9));
    }
    if (tflops.empty()) throw Error("GEMM probe: the products took no measurable time");
    return median(tflops);
  }
  std::string copy_method() const override { return "cudaMemcpyAsync device to device, timed with CUDA events"; }
  std::string gemm_method() const override {
    return std::string("cublasGemmEx ") + dtype_name(be_.dtype()) +
           " inputs, fp32 output, CUBLAS_COMPUTE_32F (as the backend), timed with CUDA events";
  }

 private:
  std::unique_ptr<Engine> engine_;
  CudaBackend& be_;
  std::string name_;
  bool emulated_ = false;
  Events events_;
};

}  // namespace

std::unique_ptr<BenchTarget> make_cuda_target(std::unique_ptr<Engine> engine) {
  return std::make_unique<CudaTarget>(std::move(engine));
}

#else

std::unique_ptr<BenchTarget> make_cuda_target(std::unique_ptr<Engine>) {
  // Unreachable: the engine refuses cuda devices in a build without a GPU path.
  throw Error("this build has no GPU support (configure with -DRWKV_GPU=cuda to benchmark cuda devices)");
}

#endif

}  // namespace bench
}  // namespace rwkv
