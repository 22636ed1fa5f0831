// runtime/engine/device.cpp: see device.h.
#include "runtime/engine/device.h"

#include "runtime/backend/backend.h"

#if defined(RWKV_HAVE_GPU) && !defined(RWKV_CUDA_EMU)
#include <cuda_runtime.h>
#endif

namespace rwkv {

std::string Device::name() const { return is_cuda() ? "cuda:" + std::to_string(index) : "cpu"; }

namespace {

// "N" of "cuda:N": 1 to 4 decimal digits below kMaxCudaDevices; -1 otherwise.
int parse_index(const std::string& digits) {
  if (digits.empty() || digits.size() > 4) return -1;
  int n = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return -1;
    n = n * 10 + (c - '0');
  }
  return n < kMaxCudaDevices ? n : -1;
}

// The first CUDA device that answers, or -1; *what names it.
int first_usable_cuda_device(std::string* what) {
#if defined(RWKV_HAVE_GPU) && !defined(RWKV_CUDA_EMU)
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n <= 0) {
    cudaGetLastError();  // clear the sticky error of a machine without a driver
    *what = "no usable CUDA device";
    return -1;
  }
  for (int i = 0; i < n; ++i) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, i) == cudaSuccess && cudaSetDevice(i) == cudaSuccess &&
        cudaFree(nullptr) == cudaSuccess) {
      *what = p.name;
      return i;
    }
    cudaGetLastError();
  }
  *what = "no usable CUDA device";
  return -1;
#elif defined(RWKV_HAVE_GPU)
  *what = "this build emulates CUDA on the CPU; --device cuda runs the emulator";
  return -1;
#else
  *what = "this build has no GPU path";
  return -1;
#endif
}

}  // namespace

DeviceRequest parse_device(const std::string& text) {
  DeviceRequest r;
  if (text == "auto") {
    r.automatic = true;
    return r;
  }
  if (text == "cpu") return r;
  r.device.kind = Device::Kind::cuda;
  if (text == "cuda") return r;
  if (text.rfind("cuda:", 0) == 0) {
    r.device.index = parse_index(text.substr(5));
    if (r.device.index >= 0) return r;
  }
  throw InputError(InputError::Kind::argument,
                   "unknown device '" + text + "' (expected auto, cpu, cuda or cuda:N with N below " +
                       std::to_string(kMaxCudaDevices) + ")");
}

Device resolve_device(const DeviceRequest& request, std::string* note) {
  if (note) note->clear();
  if (!request.automatic) return request.device;
  Device d;
  std::string what;
  const int index = first_usable_cuda_device(&what);
  if (index >= 0) {
    d.kind = Device::Kind::cuda;
    d.index = index;
  }
  if (note) *note = "device auto: " + d.name() + " (" + what + ")";
  return d;
}

}  // namespace rwkv
