// tests/kernels/cuda_engine_util.h: a CUDA engine (runtime/engine/engine.h)
// built from the CUDA backend's options, for tests that drive the backend
// through host-memory states (Engine::host_backend()).
#pragma once

#include "runtime/cuda/cuda_backend.h"
#include "runtime/engine/engine.h"

namespace cuda_test {

inline rwkv::EngineOptions engine_options(const rwkv::CudaOptions& o) {
  rwkv::EngineOptions e;
  e.device = "cuda:" + std::to_string(o.device);
  e.backend.dtype = o.dtype;
  e.backend.quant = o.weights.quantize;
  e.backend.n_slots = o.n_slots;
  e.backend.max_rows = o.max_rows;
  e.backend.gemv_max_rows = o.gemv_max_rows;
  e.backend.wkv_chunk_min_tokens = o.wkv_chunk_min_tokens;
  e.backend.profile_prefill = o.profile_prefill;
  e.backend.state_dtype = o.state_dtype;
  return e;
}

// The CUDA backend inside a cuda engine.
inline rwkv::CudaBackend& cuda_backend(rwkv::Engine& e) { return dynamic_cast<rwkv::CudaBackend&>(e.backend()); }

}  // namespace cuda_test
