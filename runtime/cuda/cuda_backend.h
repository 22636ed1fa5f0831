// runtime/cuda/cuda_backend.h: the GPU backend (the product).
//
// Owns the model's weights on the device, a pool of per-sequence state slots,
// a cuBLAS handle and a stream. forward() runs any batch of sequences (one
// token each for decode, many for prefill, mixed lengths allowed): the
// projections are cuBLAS GEMMs over all rows of the batch with fp32
// accumulation, everything else runs in the fused kernels of kernels/. The
// residual stream, every element-wise step and every recurrent state are fp32;
// only the GEMM inputs are in the weights' dtype.
//
// Long batches are processed in rounds of at most max_rows token rows, so the
// workspace is fixed however long the prompt (docs/rwkv-math.md section 1.1: chunked
// prefill gives the same result).
//
// States live in device memory: SeqInput::state must be a device pointer,
// normally slot(i) of the pool. They use the CPU backend's flat layout
// (runtime/backend/state_layout.h), so read_slot/write_slot move a state
// between backends unchanged. forward() is used by one thread at a time.
//
// Each round ends with one synchronisation of the stream; the embedding
// gathers' error flag comes back with the round's results, and a raised flag
// (an index the gathers could not read: validate_batch lets none through, so it
// means an internal fault) makes forward() throw rwkv::Error.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <mutex>
#include <optional>
#include <vector>

#include "runtime/backend/backend.h"
#include "runtime/cuda/batch_descriptor.h"
#include "runtime/cuda/cuda_weights.h"
#include "runtime/cuda/device_buffer.h"
#include "runtime/cuda/device_sampler.h"
#include "runtime/cuda/workspace.h"

namespace rwkv {

struct CudaOptions {
  int device = 0;
  std::optional<DType> dtype;  // default: the checkpoint's (its first matrix's) dtype
  int max_rows = 512;          // token rows per round (workspace size)
  int n_slots = 1;             // state slots in the pool
  bool graphs = true;          // capture each decode step shape once as a CUDA graph and replay it
  int gemv_max_rows = 16;      // rounds of at most this many rows use the custom GEMV, larger ones cuBLAS
};

class CudaBackend final : public Backend {
 public:
  CudaBackend(const Model& model, CudaOptions options = {});
  ~CudaBackend() override;

  const char* name() const override { return "cuda"; }
  const ModelInfo& info() const override { return info_; }
  const StateLayout& state_layout() const override { return layout_; }
  // `state` is device memory.
  void init_state(float* state) const override;
  // States of the batch are device memory; logits (host memory) as Backend.
  void forward(const Batch& batch, float* logits) override;

  // Samples on the device (device_sampler.h): each step copies back only the token ids. The
  // samplers' state stays in device memory from the first call that uses a Sampler until
  // finish_sampling() (or until another Sampler takes its place in the batch), which stores it
  // back; a Sampler must outlive that. A batch that needs one round (every decode step, and a
  // prefill of at most max_rows / n_seq tokens per sequence) keeps its logits on the device.
  void forward_sample(const Batch& batch, Sampler* const* samplers, int32_t* tokens) override;
  void finish_sampling(Sampler* const* samplers, size_t n) override;

  // The device int the embedding gathers raise for an index outside their table (tests raise it
  // to check the error path).
  int* embedding_error_flag() const { return ws_.error_flag; }

  DType dtype() const { return w_.dtype; }
  size_t weight_bytes() const { return w_.bytes; }
  size_t workspace_bytes() const { return ws_.bytes(); }
  size_t device_bytes() const override { return w_.bytes + ws_.bytes() + slots_.bytes(); }
  // The stream all of forward()'s work is issued on (for timing it with events).
  cudaStream_t stream() const { return stream_; }

  // ---- state slots (device memory) ----
  int n_slots() const { return n_slots_; }
  float* slot(int i) const;
  void reset_slot(int i);
  void copy_slot(int src, int dst);
  void read_slot(int i, float* host) const;
  void write_slot(int i, const float* host);

 private:
  void run_round(const cuda::Round& round, LogitsMode mode, float* logits);
  void copy_logits_back(const cuda::Round& round, LogitsMode mode, float* logits);
  void finish_round();
  // Device sampling (cuda_backend.cpp, forward_sample).
  bool one_round(const Batch& batch, cuda::Round* round) const;
  void bind_samplers(Sampler* const* samplers, size_t n);
  void unbind_sampler(size_t i);
  void sample_rows(float* dev_logits, size_t n, size_t first);
  void take_tokens(size_t n, int32_t* tokens);

  ModelInfo info_;
  StateLayout layout_;
  std::vector<float> initial_state_;
  CudaOptions opt_;
  cuda::CudaWeights w_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  int n_slots_ = 0;
  cuda::DeviceBuffer slots_;
  std::mutex forward_mu_;

  cuda::Workspace ws_;
  cuda::BatchDescriptor desc_;
  // Host copy of ws_.error_flag, read once the round's stream is synchronised.
  cuda::PinnedBuffer error_flag_host_;

  // Device sampling: bound_[i] is the Sampler whose state lives in sampler_ slot i (or null).
  cuda::DeviceSampler sampler_;
  std::vector<Sampler*> bound_;
  cuda::DeviceBuffer tokens_dev_;
  cuda::PinnedBuffer tokens_host_;
};

}  // namespace rwkv
