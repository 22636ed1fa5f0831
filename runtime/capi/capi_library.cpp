// runtime/capi/capi_library.cpp: library information, status strings, error
// bookkeeping and the exception classification of the C API.
#include <cstring>
#include <new>

#include "runtime/capi/capi_internal.h"
#include "runtime/version.h"

#ifndef RWKV_RUN_GPU_PATH
#define RWKV_RUN_GPU_PATH "none"
#endif

namespace rwkv {
namespace capi {

void ErrorStore::set(const std::string& msg) const noexcept {
  try {
    std::lock_guard<std::mutex> lock(mu_);
    by_thread_[std::this_thread::get_id()] = msg;
  } catch (...) {
    // Out of memory while recording: the status code still tells the caller.
  }
}

const char* ErrorStore::get() const noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = by_thread_.find(std::this_thread::get_id());
  return it == by_thread_.end() ? "" : it->second.c_str();
}

namespace {

bool starts_with(const std::string& s, const char* prefix) {
  return s.compare(0, std::strlen(prefix), prefix) == 0;
}

// The runtime reports CUDA failures as rwkv::Error with these openings
// (runtime/cuda/cuda_check.cpp, device_buffer.cpp, cuda_backend.cpp).
rwkv_status device_status(const std::string& msg) {
  if (starts_with(msg, "out of GPU memory") || msg.find("cudaErrorMemoryAllocation") != std::string::npos)
    return RWKV_ERR_OUT_OF_MEMORY;
  if (starts_with(msg, "CUDA error") || starts_with(msg, "cuBLAS error") ||
      starts_with(msg, "cuda backend: no CUDA device") ||
      (starts_with(msg, "cuda backend: device cuda:") && msg.find("does not exist") != std::string::npos))
    return RWKV_ERR_DEVICE;
  return RWKV_OK;
}

}  // namespace

rwkv_status classify_current_exception(rwkv_status fallback, std::string* message) noexcept {
  try {
    try {
      throw;
    } catch (const ApiError& e) {
      *message = e.what();
      return e.status;
    } catch (const InputError& e) {
      *message = e.what();
      switch (e.kind) {
        case InputError::Kind::argument: return RWKV_ERR_INVALID_ARGUMENT;
        case InputError::Kind::out_of_range: return RWKV_ERR_OUT_OF_RANGE;
        case InputError::Kind::unsupported: return RWKV_ERR_UNSUPPORTED;
      }
      return RWKV_ERR_INTERNAL;
    } catch (const StateFileError& e) {
      *message = e.what();
      switch (e.kind) {
        case StateFileError::io: return RWKV_ERR_FILE;
        case StateFileError::format: return RWKV_ERR_FORMAT;
        case StateFileError::corrupt: return RWKV_ERR_CHECKSUM;
        case StateFileError::mismatch: return RWKV_ERR_STATE_MISMATCH;
      }
      return RWKV_ERR_INTERNAL;
    } catch (const FileError& e) {
      *message = e.what();
      return RWKV_ERR_FILE;
    } catch (const OutOfMemoryError& e) {
      *message = e.what();
      return RWKV_ERR_OUT_OF_MEMORY;
    } catch (const Error& e) {
      *message = e.what();
      const rwkv_status d = device_status(*message);
      return d != RWKV_OK ? d : fallback;
    } catch (const std::bad_alloc&) {
      *message = "out of memory";
      return RWKV_ERR_OUT_OF_MEMORY;
    } catch (const std::exception& e) {
      *message = std::string("internal error: ") + e.what();
      return RWKV_ERR_INTERNAL;
    } catch (...) {
      *message = "internal error: unknown exception";
      return RWKV_ERR_INTERNAL;
    }
  } catch (...) {  // copying a message failed (out of memory)
    return RWKV_ERR_OUT_OF_MEMORY;
  }
}

void copy_message(const std::string& msg, char* buf, size_t size) noexcept {
  if (!buf || size == 0) return;
  const size_t n = msg.size() < size - 1 ? msg.size() : size - 1;
  std::memcpy(buf, msg.data(), n);
  buf[n] = '\0';
}

}  // namespace capi
}  // namespace rwkv

extern "C" {

const char* rwkv_version(void) { return RWKV_RUN_VERSION_STRING; }

const char* rwkv_gpu_support(void) { return RWKV_RUN_GPU_PATH; }

const char* rwkv_status_string(rwkv_status status) {
  switch (status) {
    case RWKV_OK: return "success";
    case RWKV_ERR_INVALID_ARGUMENT: return "invalid argument";
    case RWKV_ERR_OUT_OF_RANGE: return "slot out of range";
    case RWKV_ERR_BUFFER_TOO_SMALL: return "buffer too small";
    case RWKV_ERR_BUFFER_SIZE: return "wrong buffer size";
    case RWKV_ERR_FILE: return "file error";
    case RWKV_ERR_FORMAT: return "bad file format";
    case RWKV_ERR_CHECKSUM: return "corrupted file";
    case RWKV_ERR_STATE_MISMATCH: return "state belongs to another model";
    case RWKV_ERR_UNSUPPORTED: return "unsupported";
    case RWKV_ERR_DEVICE: return "device error";
    case RWKV_ERR_OUT_OF_MEMORY: return "out of memory";
    case RWKV_ERR_INTERNAL: return "internal error";
  }
  return "unknown status";
}

}  // extern "C"
