// runtime/capi/engine.h: a backend together with its pool of state slots, so
// the C API treats "cpu" (host-memory states) and "cuda" (device-memory
// states, CudaBackend's own slots) alike. Not thread-safe: the C API holds the
// model's mutex around every call.
#pragma once

#include <memory>
#include <optional>

#include "runtime/backend/backend.h"

namespace rwkv {
namespace capi {

class Engine {
 public:
  virtual ~Engine() = default;
  virtual Backend& backend() = 0;
  virtual DType compute_dtype() const = 0;
  virtual int n_slots() const = 0;
  // The slot's state in the backend's memory space (for Batch/SeqInput).
  virtual float* slot(int i) = 0;
  virtual void reset(int i) = 0;
  virtual void copy(int src, int dst) = 0;
  virtual void read(int i, float* host) const = 0;
  virtual void write(int i, const float* host) = 0;
  // Makes the engine's device current for the calling thread (cuda).
  virtual void activate() const {}
};

std::unique_ptr<Engine> make_cpu_engine(const Model& model, int n_threads, int n_slots);

// Throws ApiError(RWKV_ERR_UNSUPPORTED) in a build without a GPU path.
std::unique_ptr<Engine> make_cuda_engine(const Model& model, int device, std::optional<DType> dtype,
                                         int n_slots);

}  // namespace capi
}  // namespace rwkv
