// runtime/engine/open_backend.h: the factory that builds a backend for a
// device, with its pool of state slots. The one file that knows the backend
// implementations (runtime/cpu/, runtime/cuda/); the backend interface
// (runtime/backend/backend.h) does not include them. Used by rwkv::Engine.
#pragma once

#include <memory>
#include <optional>

#include "runtime/arch/weights.h"
#include "runtime/backend/backend.h"
#include "runtime/engine/device.h"

namespace rwkv {

struct BackendOptions;
// What the options make of `model`'s matrices (runtime/arch/weights.h): quantized to
// options.quant when set; else, when no dense dtype is asked and the file holds
// quantized matrices, all of them in the kind of the first one (the file's matrices
// kept as stored, any other matrix quantized to that kind: one format per model);
// else fp32.
WeightFormat weight_format(const BackendOptions& options, const Model& model);

// The dtype a file stores its dense matrices in: that of head.weight, else
// of blocks.0.att.key.weight or emb.weight when the head is quantized.
DType stored_matrix_dtype(const Model& model);

constexpr int kMaxWkvCarrySplitSlots = 1 << 20;  // BackendOptions::wkv_carry_split_slots' bound

struct BackendOptions {
  int threads = 0;             // cpu: worker threads (0: all cores)
  std::optional<DType> dtype;  // weights' dtype on the device (default: the checkpoint's,
                               // stored_matrix_dtype); cpu: dense matrices held in it, fp32 sums
  QuantKind quant = QuantKind::none;  // int8 / q4: every matrix quantized at load
                                      // (docs/quantization.md); none: a file's quantized
                                      // matrices stay quantized unless `dtype` is given
  int n_slots = 1;             // state slots, and the largest batch of device states
  int max_rows = 0;            // cuda: token rows per round (workspace size), [1, 65535]; 0: automatic,
                               // from the free device memory (runtime/cuda/cuda_backend.h, choose_max_rows)
  bool cuda_graphs = true;     // cuda: decode steps captured once per shape and replayed
  int gemv_max_rows = 16;      // cuda: rounds of at most this many rows use the custom GEMV (0: cuBLAS always)
  int wkv_chunk_min_tokens = 64;  // cuda: prefill rounds averaging at least this many tokens per sequence
                                  // run the chunked WKV kernels, [0, 65535] (0: never chunked)
  int wkv_carry_split_slots = -1;  // cuda: chunked v7 pass 2's split shape while its blocks fit this many
                                   // slots (CudaOptions::wkv_carry_split_slots): -1 automatic, 0 never,
                                   // at most kMaxWkvCarrySplitSlots
  int wkv_split_parts = 0;     // cuda: the chunked WKV's bf16 parts per tensor-core operand
                               // (CudaOptions::wkv_split_parts): 0 automatic (3 with fp32
                               // activations, 2 with bf16/fp16), 2 or 3
  bool profile_prefill = false;   // cuda: CUDA events around prefill rounds (CudaBackend::prefill_split)
  DType state_dtype = DType::f32;  // cuda: the WKV matrix state (att.kv) in device memory, f32 or bf16
                                   // (states outside the backend stay fp32); cpu: f32 only
};

// State slots in the backend's memory space (host memory for cpu, device
// memory for cuda), each StateLayout::size() floats.
class SlotPool {
 public:
  virtual ~SlotPool() = default;
  virtual int size() const = 0;
  virtual float* slot(int i) = 0;  // stable for the pool's lifetime
  virtual void reset(int i) = 0;   // the model's initial state
  virtual void copy(int src, int dst) = 0;
  virtual void read(int i, float* host) const = 0;
  virtual void write(int i, const float* host) = 0;
  // Makes the pool's device current for the calling thread (cuda).
  virtual void activate() const {}
};

struct OpenedBackend {
  std::unique_ptr<Backend> backend;  // declared first: outlives the slots
  std::unique_ptr<SlotPool> slots;
  DType compute_dtype = DType::f32;  // dtype of the weights the GEMMs read
  int max_rows = 0;                  // cuda: token rows per round as chosen (0: not a cuda backend)
  bool max_rows_automatic = false;   // cuda: chosen from the free device memory
};

// Throws InputError (kind unsupported) for cuda in a build without a GPU path,
// a state_dtype other than fp32 on cpu, or a state_dtype other than
// fp32/bf16 on cuda; InputError (kind argument) for max_rows, gemv_max_rows or
// wkv_chunk_min_tokens out of range (on every device); rwkv::Error for a device failure.
OpenedBackend open_backend(const Model& model, const Device& device, const BackendOptions& options);

}  // namespace rwkv
