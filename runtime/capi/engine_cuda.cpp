// runtime/capi/engine_cuda.cpp: CudaBackend and its device-memory slot pool
// (GPU builds only; elsewhere make_cuda_engine reports RWKV_ERR_UNSUPPORTED).
#include "runtime/capi/capi_internal.h"
#include "runtime/capi/engine.h"

#ifdef RWKV_HAVE_GPU
#include "runtime/cuda/cuda_backend.h"
#include "runtime/cuda/cuda_check.h"
#endif

namespace rwkv {
namespace capi {

#ifdef RWKV_HAVE_GPU
namespace {

class CudaEngine final : public Engine {
 public:
  CudaEngine(const Model& model, CudaOptions o) : device_(o.device), backend_(model, o) {}
  Backend& backend() override { return backend_; }
  DType compute_dtype() const override { return backend_.dtype(); }
  int n_slots() const override { return backend_.n_slots(); }
  float* slot(int i) override { return backend_.slot(i); }
  void reset(int i) override { backend_.reset_slot(i); }
  void copy(int src, int dst) override {
    if (src != dst) backend_.copy_slot(src, dst);
  }
  void read(int i, float* host) const override { backend_.read_slot(i, host); }
  void write(int i, const float* host) override { backend_.write_slot(i, host); }
  void activate() const override { RWKV_CUDA_TRY(cudaSetDevice(device_)); }

 private:
  int device_;
  CudaBackend backend_;
};

}  // namespace

std::unique_ptr<Engine> make_cuda_engine(const Model& model, int device, std::optional<DType> dtype,
                                         int n_slots) {
  CudaOptions o;
  o.device = device;
  o.dtype = dtype;
  o.n_slots = n_slots;
  return std::make_unique<CudaEngine>(model, o);
}

#else

std::unique_ptr<Engine> make_cuda_engine(const Model&, int device, std::optional<DType>, int) {
  throw ApiError(RWKV_ERR_UNSUPPORTED, "device cuda:" + std::to_string(device) +
                                           " needs a library built with a GPU path (this one is CPU-only)");
}

#endif

}  // namespace capi
}  // namespace rwkv
