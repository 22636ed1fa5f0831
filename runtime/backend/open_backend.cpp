// runtime/backend/open_backend.cpp
#include "runtime/backend/open_backend.h"

#include <cstdlib>

#include "runtime/cpu/cpu_backend.h"
#ifdef RWKV_HAVE_GPU
#include "runtime/cuda/host_state.h"
#endif

namespace rwkv {

int parse_device(const std::string& device) {
  if (device == "cpu") return -1;
  if (device == "cuda") return 0;
  if (device.rfind("cuda:", 0) == 0 && device.size() > 5) {
    char* end = nullptr;
    const long n = std::strtol(device.c_str() + 5, &end, 10);
    if (*end == '\0' && n >= 0 && n < 1024) return (int)n;
  }
  throw Error("unknown device '" + device + "' (expected cpu, cuda or cuda:N)");
}

std::unique_ptr<Backend> open_backend(const Model& model, const BackendOptions& options) {
  const int gpu = parse_device(options.device);
  if (gpu < 0) return std::make_unique<CpuBackend>(model, CpuOptions{options.threads});
#ifdef RWKV_HAVE_GPU
  CudaOptions c;
  c.device = gpu;
  c.dtype = options.dtype;
  c.n_slots = std::max(1, options.n_slots);
  c.max_rows = options.max_rows;
  return std::make_unique<HostStateCuda>(std::make_unique<CudaBackend>(model, c));
#else
  throw Error("device '" + options.device + "' needs a CUDA build of rwkv-run (this one is CPU-only)");
#endif
}

}  // namespace rwkv
