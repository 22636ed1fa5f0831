// tests/kernels/cuda_host_state.h: the CUDA backend seen through host-memory
// states, so the golden harness written for the CPU backend drives it
// unchanged: each call copies the states into slots 0..n-1, runs, copies back.
#pragma once

#include "runtime/cuda/cuda_backend.h"

class HostStateCuda final : public rwkv::Backend {
 public:
  explicit HostStateCuda(rwkv::CudaBackend& be) : be_(be) {}
  const char* name() const override { return "cuda (host states)"; }
  const rwkv::ModelInfo& info() const override { return be_.info(); }
  const rwkv::StateLayout& state_layout() const override { return be_.state_layout(); }
  void init_state(float* state) const override {
    be_.reset_slot(0);
    be_.read_slot(0, state);
  }
  void forward(const rwkv::Batch& batch, float* logits) override {
    rwkv::Batch on_device = batch;
    for (size_t i = 0; i < batch.seqs.size(); ++i) {
      be_.write_slot((int)i, batch.seqs[i].state);
      on_device.seqs[i].state = be_.slot((int)i);
    }
    be_.forward(on_device, logits);
    for (size_t i = 0; i < batch.seqs.size(); ++i) be_.read_slot((int)i, batch.seqs[i].state);
  }

 private:
  rwkv::CudaBackend& be_;
};
