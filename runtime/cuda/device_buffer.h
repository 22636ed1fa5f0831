// runtime/cuda/device_buffer.h: an owned device allocation.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <utility>

namespace rwkv {
namespace cuda {

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  // Allocates `bytes`; throws rwkv::Error naming `what`, the bytes asked for
  // and the bytes free on the device when it cannot.
  DeviceBuffer(size_t bytes, const char* what);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(o.ptr_), bytes_(o.bytes_) {
    o.ptr_ = nullptr;
    o.bytes_ = 0;
  }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    std::swap(ptr_, o.ptr_);
    std::swap(bytes_, o.bytes_);
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* get() const { return ptr_; }
  template <class T>
  T* as() const { return static_cast<T*>(ptr_); }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// Bytes free and total on the current device.
std::pair<size_t, size_t> device_memory_info();

}  // namespace cuda
}  // namespace rwkv
