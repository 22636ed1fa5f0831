// runtime/engine/engine.cpp: see engine.h.
#include "runtime/engine/engine.h"

#include <algorithm>

#include "runtime/engine/chunked_forward.h"

namespace rwkv {

// What both views answer like the backend itself.
class Engine::View : public Backend {
 public:
  explicit View(Engine& e) : e_(e) {}
  const char* name() const override { return e_.backend().name(); }
  const ModelInfo& info() const override { return e_.info(); }
  const StateLayout& state_layout() const override { return e_.backend().state_layout(); }
  size_t device_bytes() const override { return e_.device_bytes(); }

 protected:
  Engine& e_;
};

// The backend behind the engine's lock, device made current on every call.
class Engine::LockedView final : public View {
 public:
  using View::View;
  void init_state(float* state) const override {
    auto held = e_.lock();
    e_.backend().init_state(state);
  }
  void forward(const Batch& batch, float* logits) override {
    auto held = e_.lock();
    e_.backend().forward(batch, logits);
  }
  void forward_sample(const Batch& batch, Sampler* const* samplers, int32_t* tokens) override {
    auto held = e_.lock();
    e_.backend().forward_sample(batch, samplers, tokens);
  }
  void finish_sampling(Sampler* const* samplers, size_t n) override {
    auto held = e_.lock();
    e_.backend().finish_sampling(samplers, n);
  }
};

// Host-memory states for a backend whose states live on the device: each
// forward() copies the batch's states into slots 0..n-1, runs, and copies them
// back (the slots are scratch space for this view).
class Engine::HostStateView final : public View {
 public:
  using View::View;
  void init_state(float* state) const override {
    auto held = e_.lock();
    e_.backend_.slots->reset(0);
    e_.backend_.slots->read(0, state);
  }
  void forward(const Batch& batch, float* logits) override {
    validate_batch(batch, info(), state_layout(), logits == nullptr);
    auto held = e_.lock();
    SlotPool& slots = *e_.backend_.slots;
    if (int(batch.seqs.size()) > slots.size())
      throw InputError(InputError::Kind::unsupported,
                       std::string(name()) + " backend: a batch of " + std::to_string(batch.seqs.size()) +
                           " sequences needs as many state slots; the engine has " +
                           std::to_string(slots.size()));
    Batch on_device = batch;
    for (size_t i = 0; i < batch.seqs.size(); ++i) {
      slots.write(int(i), batch.seqs[i].state);
      on_device.seqs[i].state = slots.slot(int(i));
    }
    e_.backend().forward(on_device, logits);
    for (size_t i = 0; i < batch.seqs.size(); ++i) slots.read(int(i), batch.seqs[i].state);
  }
};

Engine::Engine(const Model& model, const EngineOptions& options) {
  if (options.chunk_len == 0) throw InputError(InputError::Kind::argument, "chunk_len must be at least 1");
  device_ = resolve_device(parse_device(options.device), &device_note_);
  backend_ = open_backend(model, device_, options.backend);
  state_floats_ = backend_.backend->state_layout().size();
  chunk_len_ = options.chunk_len;
  file_model_ = rwkv::state_file_model(model, backend_.compute_dtype, state_floats_);
  locked_view_ = std::make_unique<LockedView>(*this);
  host_view_ = std::make_unique<HostStateView>(*this);
}

Engine::~Engine() {
  try {
    backend_.slots->activate();  // device memory is freed on the engine's device
  } catch (...) {
  }
}

std::unique_lock<std::mutex> Engine::lock() const {
  std::unique_lock<std::mutex> held(mu_);
  backend_.slots->activate();
  return held;
}

void Engine::check_slot(int slot) const {
  const int n = n_slots();
  if (slot < 0 || slot >= n)
    throw InputError(InputError::Kind::out_of_range,
                     "slot " + std::to_string(slot) + " is out of range [0, " + std::to_string(n) + ")");
}

float* Engine::slot(int slot) {
  check_slot(slot);
  return backend_.slots->slot(slot);  // fixed for the engine's lifetime: no lock needed
}

void Engine::reset(int slot) {
  check_slot(slot);
  auto held = lock();
  backend_.slots->reset(slot);
}

void Engine::copy(int src, int dst) {
  check_slot(src);
  check_slot(dst);
  auto held = lock();
  backend_.slots->copy(src, dst);
}

void Engine::read(int slot, float* host) {
  check_slot(slot);
  auto held = lock();
  backend_.slots->read(slot, host);
}

void Engine::write(int slot, const float* host) {
  check_slot(slot);
  auto held = lock();
  backend_.slots->write(slot, host);
}

void Engine::save_state(int slot, const std::string& path) {
  std::vector<float> state(state_floats_);
  read(slot, state.data());
  write_state_file(path, file_model_, state.data());
}

void Engine::load_state(int slot, const std::string& path) {
  check_slot(slot);
  const std::vector<float> state = read_state_file(path, file_model_);
  write(slot, state.data());
}

void Engine::eval(int slot, const int32_t* tokens, size_t n_tokens, float* logits) {
  eval_batch({Span{slot, tokens, n_tokens}}, logits);
}

void Engine::eval_batch(const std::vector<Span>& spans, float* logits) {
  std::vector<int> slots;
  slots.reserve(spans.size());
  for (const Span& s : spans) {
    check_slot(s.slot);
    slots.push_back(s.slot);
  }
  std::sort(slots.begin(), slots.end());
  const auto twice = std::adjacent_find(slots.begin(), slots.end());
  if (twice != slots.end())
    throw InputError(InputError::Kind::argument, "slot " + std::to_string(*twice) + " appears twice in the batch");
  std::vector<SeqInput> seqs;
  seqs.reserve(spans.size());
  for (const Span& s : spans) {
    SeqInput in;
    in.tokens = s.tokens;
    in.n_tokens = s.n_tokens;
    in.state = backend_.slots->slot(s.slot);
    in.state_floats = state_floats_;
    seqs.push_back(in);
  }
  auto held = lock();
  forward_chunked(*backend_.backend, seqs, chunk_len_, logits);
}

Backend& Engine::locked_backend() { return *locked_view_; }

Backend& Engine::host_backend() { return device_.is_cuda() ? *host_view_ : *locked_view_; }

}  // namespace rwkv
