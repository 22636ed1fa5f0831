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
// workspace is fixed however long the prompt (rwkv-spec.md 1.1: chunked
// prefill gives the same result).
//
// States live in device memory: SeqInput::state must be a device pointer,
// normally slot(i) of the pool. They use the CPU backend's flat layout
// (runtime/backend/state_layout.h), so read_slot/write_slot move a state
// between backends unchanged. forward() is used by one thread at a time.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <mutex>
#include <optional>
#include <vector>

#include "runtime/backend/backend.h"
#include "runtime/cuda/cuda_weights.h"
#include "runtime/cuda/device_buffer.h"

namespace rwkv {

struct CudaOptions {
  int device = 0;
  std::optional<DType> dtype;  // default: the checkpoint's (its first matrix's) dtype
  int max_rows = 512;          // token rows per round (workspace size)
  int n_slots = 1;             // state slots in the pool
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

  DType dtype() const { return w_.dtype; }
  size_t weight_bytes() const { return w_.bytes; }
  size_t workspace_bytes() const { return workspace_bytes_; }
  size_t device_bytes() const override { return w_.bytes + workspace_bytes_ + slots_.bytes(); }
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
  struct Round;
  void run_round(const Round& round, LogitsMode mode, float* logits);
  void run_layer(int l, int M);
  void alloc_workspace();

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

  // Workspace: R = max_rows rows.
  size_t workspace_bytes_ = 0;
  std::vector<cuda::DeviceBuffer> ws_;
  float *x_ = nullptr, *a_ = nullptr, *f_ = nullptr, *delta_ = nullptr, *v_first_ = nullptr;
  void* mix_ = nullptr;     // [6][R, C] in dtype
  float* proj_ = nullptr;   // [4][R, A] fp32
  float* lora_f_ = nullptr; // [R, Dlora] fp32
  void* lora_d_ = nullptr;  // [R, Dlora] in dtype
  float* lora_out_ = nullptr;  // [5][R, C] fp32
  void* att_out_ = nullptr;    // [R, A] in dtype
  float* kk_f_ = nullptr;      // [R, F] fp32
  void* kk_d_ = nullptr;       // [R, F] in dtype
  float *ffn_r_ = nullptr, *ffn_v_ = nullptr;  // [R, C] fp32
  float *x_last_ = nullptr, *delta_last_ = nullptr;  // [R, C] fp32
  void* y_ = nullptr;          // [R, C] in dtype: ln_out
  float* logits_ = nullptr;    // [R, V] fp32
  int* error_flag_ = nullptr;
  // Batch descriptor: device copy and its pinned host staging.
  void* desc_dev_ = nullptr;
  void* desc_host_ = nullptr;
  size_t desc_bytes_ = 0;
  int lora_width_ = 0;
  // Pointers into the descriptor (device), valid for the current round.
  const int32_t* d_tokens_ = nullptr;
  const int* d_seq_start_ = nullptr;
  const int* d_row_seq_ = nullptr;
  const int* d_last_rows_ = nullptr;
  float* const* d_states_ = nullptr;
  int n_seq_ = 0;
};

}  // namespace rwkv
