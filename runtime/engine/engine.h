// runtime/engine/engine.h: rwkv::Engine, the one object every client of the
// runtime computes through (the C API, the rwkv-run commands, the benchmark):
// a backend on one device, its pool of state slots, chunking of long spans,
// token checks and state files.
//
//   device    "auto", "cpu", "cuda", "cuda:N" (device.h); device_note() says
//             what "auto" picked, for the one line a tool prints about it
//   slots     n_slots states in the backend's memory space (host for cpu,
//             device for cuda), addressed by index; reset, copy, read, write,
//             save to and load from checked state files (runtime/state/)
//   eval      token spans of any length on slots, cut into rounds of at most
//             chunk_len tokens (chunked_forward.h), checked before any state
//             is touched
//   views     backend(): the backend itself; locked_backend(): the same behind
//             the engine's lock (for loops that compute step by step while
//             other threads use other slots); host_backend(): a backend whose
//             forward() takes host-memory states (copied through the slots)
//
// Thread-safety: every call that computes or touches slots holds the engine's
// lock and makes its device current, so an engine may be shared by threads
// (each with its own slots). backend() is the exception: it is not locked.
// Bad input throws InputError (runtime/backend/backend.h); a failure of the
// device rwkv::Error; state files StateFileError.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/backend/backend.h"
#include "runtime/engine/device.h"
#include "runtime/engine/open_backend.h"
#include "runtime/state/state_file.h"

namespace rwkv {

struct EngineOptions {
  std::string device = "cpu";  // auto, cpu, cuda, cuda:N
  BackendOptions backend;      // threads, dtype, n_slots, max_rows, wkv_chunk_min_tokens
  size_t chunk_len = 256;      // tokens per sequence and forward() call; >= 1
};

class Engine {
 public:
  // The backend keeps its own copy of the weights: the model may be freed
  // once the engine is built. Throws InputError for a bad device string, dtype
  // or chunk_len.
  Engine(const Model& model, const EngineOptions& options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const ModelInfo& info() const { return backend_.backend->info(); }
  const Device& device() const { return device_; }
  const std::string& device_note() const { return device_note_; }  // "" unless device "auto"
  DType compute_dtype() const { return backend_.compute_dtype; }
  // cuda: token rows per round as chosen (automatic unless BackendOptions::max_rows was set); 0 on cpu.
  int max_rows() const { return backend_.max_rows; }
  bool max_rows_automatic() const { return backend_.max_rows_automatic; }
  size_t state_floats() const { return state_floats_; }
  int n_slots() const { return backend_.slots->size(); }
  size_t chunk_len() const { return chunk_len_; }
  size_t device_bytes() const { return backend_.backend->device_bytes(); }
  size_t device_weight_bytes() const { return backend_.backend->device_weight_bytes(); }
  const StateFileModel& state_file_model() const { return file_model_; }

  // ---- slots ----
  // Throws InputError (kind out_of_range) for a slot outside [0, n_slots).
  void check_slot(int slot) const;
  float* slot(int slot);  // the slot's state in the backend's memory space
  void reset(int slot);
  void copy(int src, int dst);
  void read(int slot, float* host);
  void write(int slot, const float* host);
  void save_state(int slot, const std::string& path);
  void load_state(int slot, const std::string& path);  // verified before the slot is touched

  // ---- evaluation ----
  // Feeds tokens to a slot; `logits` (n_vocab floats, host; null for none)
  // receives the logits after the last token.
  void eval(int slot, const int32_t* tokens, size_t n_tokens, float* logits);

  struct Span {
    int slot;
    const int32_t* tokens;
    size_t n_tokens;
  };
  // Feeds several slots in batched forward passes; row i of `logits`
  // (spans.size() x n_vocab floats, or null) receives span i's last logits.
  // Slots must differ.
  void eval_batch(const std::vector<Span>& spans, float* logits);

  // ---- views ----
  Backend& backend() { return *backend_.backend; }
  Backend& locked_backend();
  Backend& host_backend();

 private:
  class View;
  class LockedView;
  class HostStateView;
  std::unique_lock<std::mutex> lock() const;  // the engine's lock, device made current

  Device device_;
  std::string device_note_;
  OpenedBackend backend_;
  size_t state_floats_ = 0;
  size_t chunk_len_ = 256;
  StateFileModel file_model_;
  mutable std::mutex mu_;
  std::unique_ptr<Backend> locked_view_, host_view_;
};

}  // namespace rwkv
