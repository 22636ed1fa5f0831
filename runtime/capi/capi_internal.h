// runtime/capi/capi_internal.h: what the C API's .cpp files share: the handle
// structs behind the opaque types of rwkv_run.h, per-thread last errors, and
// the exception barrier that turns every C++ exception into a status code.
// Nothing here is exported (librwkv_run.so exports rwkv_* only).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "rwkv_run.h"
#include "runtime/engine/engine.h"
#include "runtime/model/model.h"
#include "runtime/sampler/sampler.h"
#include "runtime/core/regular_file.h"
#include "runtime/state/state_file.h"
#include "runtime/tokenizer/tokenizer.h"

namespace rwkv {
namespace capi {

// An error raised by the C API layer itself, with its status.
struct ApiError : Error {
  ApiError(rwkv_status s, const std::string& msg) : Error(msg), status(s) {}
  rwkv_status status;
};

// Last error messages of one handle, one per calling thread. The map is
// node-based, so the pointer handed out for a thread stays valid until that
// same thread stores a new message or the handle is freed.
class ErrorStore {
 public:
  void set(const std::string& msg) const noexcept;  // const: const handles record errors too
  const char* get() const noexcept;  // "" when this thread has none

 private:
  mutable std::mutex mu_;
  mutable std::unordered_map<std::thread::id, std::string> by_thread_;
};

// Status for the exception being handled (call only inside a catch block).
// `fallback` is the status of a plain rwkv::Error (the runtime's errors carry
// no code; the caller knows what it was doing); device errors are recognised
// by their message. Writes the message to *message.
rwkv_status classify_current_exception(rwkv_status fallback, std::string* message) noexcept;

// Runs f(); a thrown exception becomes a status and a message in `errors`.
template <class F>
rwkv_status guarded(const ErrorStore& errors, rwkv_status fallback, F&& f) noexcept {
  try {
    f();
    return RWKV_OK;
  } catch (...) {
    std::string msg;
    const rwkv_status s = classify_current_exception(fallback, &msg);
    errors.set(msg);
    return s;
  }
}

// Copies `msg` into a caller's error buffer (may be null), truncated, NUL-terminated.
void copy_message(const std::string& msg, char* buf, size_t size) noexcept;

// Runs a constructor body; a failure goes into the caller's error buffer.
template <class F>
rwkv_status guarded_to_buffer(char* error, size_t error_size, rwkv_status fallback, F&& f) noexcept {
  copy_message("", error, error_size);
  try {
    f();
    return RWKV_OK;
  } catch (...) {
    std::string msg;
    const rwkv_status s = classify_current_exception(fallback, &msg);
    copy_message(msg, error, error_size);
    return s;
  }
}

// Distinct tags so a handle of the wrong type (through FFI) is refused.
constexpr uint32_t kModelMagic = 0x4D564B52;      // "RKVM"
constexpr uint32_t kTokenizerMagic = 0x54564B52;  // "RKVT"
constexpr uint32_t kSamplerMagic = 0x53564B52;    // "RKVS"

}  // namespace capi
}  // namespace rwkv

struct rwkv_model {
  uint32_t magic = rwkv::capi::kModelMagic;
  rwkv::capi::ErrorStore errors;
  std::unique_ptr<rwkv::Engine> engine;  // backend, state slots, chunking; thread-safe
  rwkv::ModelInfo info;
  std::string version, device, dtype, tokenizer_kind;
};

struct rwkv_tokenizer {
  uint32_t magic = rwkv::capi::kTokenizerMagic;
  rwkv::capi::ErrorStore errors;
  std::unique_ptr<rwkv::Tokenizer> tokenizer;
};

struct rwkv_sampler {
  uint32_t magic = rwkv::capi::kSamplerMagic;
  rwkv::capi::ErrorStore errors;
  std::unique_ptr<rwkv::Sampler> sampler;
  std::vector<float> scratch;  // logits copy for rwkv_sampler_sample
};

namespace rwkv {
namespace capi {

inline bool valid(const rwkv_model* m) { return m && m->magic == kModelMagic; }
inline bool valid(const rwkv_tokenizer* t) { return t && t->magic == kTokenizerMagic; }
inline bool valid(const rwkv_sampler* s) { return s && s->magic == kSamplerMagic; }

}  // namespace capi
}  // namespace rwkv
