// runtime/capi/engine_cpu.cpp: CpuBackend with host-memory slots.
#include <cstring>
#include <vector>

#include "runtime/capi/engine.h"
#include "runtime/cpu/cpu_backend.h"

namespace rwkv {
namespace capi {
namespace {

class CpuEngine final : public Engine {
 public:
  CpuEngine(const Model& model, int n_threads, int n_slots)
      : backend_(model, CpuOptions{n_threads}),
        floats_(backend_.state_layout().size()),
        slots_(size_t(n_slots) * floats_) {
    for (int i = 0; i < n_slots; ++i) reset(i);
    n_slots_ = n_slots;
  }
  Backend& backend() override { return backend_; }
  DType compute_dtype() const override { return DType::f32; }
  int n_slots() const override { return n_slots_; }
  float* slot(int i) override { return slots_.data() + size_t(i) * floats_; }
  void reset(int i) override { backend_.init_state(slot(i)); }
  void copy(int src, int dst) override {
    if (src != dst) std::memcpy(slot(dst), slot(src), floats_ * sizeof(float));
  }
  void read(int i, float* host) const override {
    std::memcpy(host, slots_.data() + size_t(i) * floats_, floats_ * sizeof(float));
  }
  void write(int i, const float* host) override {
    std::memcpy(slot(i), host, floats_ * sizeof(float));
  }

 private:
  CpuBackend backend_;
  size_t floats_;
  std::vector<float> slots_;
  int n_slots_ = 0;
};

}  // namespace

std::unique_ptr<Engine> make_cpu_engine(const Model& model, int n_threads, int n_slots) {
  return std::make_unique<CpuEngine>(model, n_threads, n_slots);
}

}  // namespace capi
}  // namespace rwkv
