// runtime/cuda/host_state.h: the CUDA backend seen through host-memory states.
//
// Each forward() copies the batch's states into slots 0..n-1, runs, and copies
// them back: what a tool that keeps one state per call on the host needs
// (rwkv-run logits --device cuda, the golden tests). Programs that decode
// step by step keep their states in the slots instead (CudaBackend::slot).
#pragma once

#include <memory>

#include "runtime/cuda/cuda_backend.h"

namespace rwkv {

class HostStateCuda final : public Backend {
 public:
  explicit HostStateCuda(CudaBackend& be) : be_(be) {}
  explicit HostStateCuda(std::unique_ptr<CudaBackend> owned) : owned_(std::move(owned)), be_(*owned_) {}

  const char* name() const override { return "cuda"; }
  const ModelInfo& info() const override { return be_.info(); }
  const StateLayout& state_layout() const override { return be_.state_layout(); }
  void init_state(float* state) const override {
    be_.reset_slot(0);
    be_.read_slot(0, state);
  }
  void forward(const Batch& batch, float* logits) override {
    if ((int)batch.seqs.size() > be_.n_slots())
      throw Error("cuda backend: a batch of " + std::to_string(batch.seqs.size()) +
                  " sequences needs as many state slots; the backend has " +
                  std::to_string(be_.n_slots()));
    Batch on_device = batch;
    for (size_t i = 0; i < batch.seqs.size(); ++i) {
      if (batch.seqs[i].state_floats != be_.state_layout().size() || !batch.seqs[i].state)
        validate_batch(batch, be_.info(), be_.state_layout(), logits == nullptr);
      be_.write_slot((int)i, batch.seqs[i].state);
      on_device.seqs[i].state = be_.slot((int)i);
    }
    be_.forward(on_device, logits);
    for (size_t i = 0; i < batch.seqs.size(); ++i) be_.read_slot((int)i, batch.seqs[i].state);
  }
  size_t device_bytes() const override { return be_.device_bytes(); }
  CudaBackend& device_backend() { return be_; }

 private:
  std::unique_ptr<CudaBackend> owned_;
  CudaBackend& be_;
};

}  // namespace rwkv
