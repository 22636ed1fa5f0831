// runtime/cuda/cuda_backend.h: the GPU backend (the product).
//
// Owns the model's weights on the device, a pool of per-sequence state slots,
// a cuBLAS handle and a stream. forward() runs any batch of sequences (one
// token each for decode, many for prefill, mixed lengths allowed): the
// projections are cuBLAS GEMMs over all rows of the batch with fp32
// accumulation, everything else runs in the fused kernels of kernels/. The
// residual stream, every element-wise step and every recurrent state are fp32
// (CudaOptions::state_dtype bf16 stores the WKV matrix state in bf16 between
// calls; the kernels still compute it in fp32); only the GEMM inputs are in the
// weights' dtype.
//
// Long batches are processed in rounds of at most max_rows token rows, so the
// workspace is fixed however long the prompt (docs/rwkv-math.md section 1.1: chunked
// prefill gives the same result).
//
// States live in device memory: SeqInput::state must be a device pointer,
// normally slot(i) of the pool. With the default fp32 state they use the CPU
// backend's flat layout (runtime/backend/state_layout.h). With
// CudaOptions::state_dtype bf16 a device state uses the device layout of
// device_state.h (att.kv in bf16, device_state_layout().size() floats of room;
// SeqInput::state_floats still names StateLayout::size()). Either way
// read_slot/write_slot/init_state's host side speak the fp32 StateLayout, so a
// state moves between backends and into state files unchanged. forward() and the slot operations are serialised
// (one lock), so no thread issues work into another thread's capture.
//
// Each round ends with one synchronisation of the stream. Its logits rows come
// back in one copy into pinned memory (then into the caller's buffer on the
// host), with the embedding gathers' error flag in the same copy; a raised flag
// (an index the gathers could not read: validate_batch lets none through, so it
// means an internal fault) makes forward() throw rwkv::Error.
//
// CUDA graphs (CudaOptions::graphs): a decode round (every sequence one token,
// any LogitsMode) is captured once per row count M and logits mode
// and replayed afterwards. Everything that changes between steps (token ids,
// state pointers, row layout) reaches the kernels through the batch descriptor,
// uploaded before the launch to a fixed device address, so a replay reads the
// new step. Prefill rounds run uncaptured; a shape whose capture fails runs
// uncaptured from then on. Nothing is issued on the legacy default stream and
// no pageable host memory is touched by the stream: slot reads and writes go
// through pinned staging (one synchronisation each), resets and copies are
// device-to-device copies on the stream.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "runtime/backend/backend.h"
#include "runtime/cuda/batch_descriptor.h"
#include "runtime/cuda/cuda_weights.h"
#include "runtime/cuda/device_buffer.h"
#include "runtime/cuda/device_sampler.h"
#include "runtime/cuda/device_state.h"
#include "runtime/cuda/prefill_profile.h"
#include "runtime/cuda/workspace.h"

namespace rwkv {

namespace cuda {
struct RoundRun;  // layer.h

// The automatic max_rows (CudaOptions::max_rows = 0): the rows the free device memory holds after
// the weights and the state pool, `bytes_per_row` each (Workspace::bytes_per_row plus the batch
// descriptor), less a safety margin of max(512 MiB, free / 16): `cap_rows` when that many fit, else
// what fits rounded down to a multiple of 64. At least `floor_rows` whenever that many fit without the margin; fewer (down
// to 1) only when memory forbids more. Deterministic: a pure function of its arguments.
int choose_max_rows(size_t free_bytes, size_t bytes_per_row, int floor_rows, int cap_rows);

// The bounds of the automatic choice. 4096 rows: a 4096-token prompt prefills in one round at B = 1,
// the GEMMs are long past their efficient shapes there (M = 4096), and the planes that grow with
// n_vocab (ws.logits on the device and the pinned return area on the host, R x V fp32 each) stay at
// 1 GiB for V = 65536. The emulated build keeps 512 (today's fixed value): its "device" memory is host
// memory, and every test would otherwise allocate and clear 8 times as much.
constexpr int kAutoMaxRowsFloor = 512;
#ifdef RWKV_CUDA_EMU
constexpr int kAutoMaxRowsCap = 512;
#else
constexpr int kAutoMaxRowsCap = 4096;
#endif
constexpr int kMaxCarrySplitSlots = 1 << 20;  // CudaOptions::wkv_carry_split_slots' bound
}  // namespace cuda

struct CudaOptions {
  int device = 0;
  std::optional<DType> dtype;  // default: the checkpoint's (its first matrix's) dtype; with quantized
                               // weights the dense dtype (embedding, GEMM inputs): the embedding's
  WeightFormat weights;        // the Linears' format (runtime/arch/weights.h; weight_format() of
                               // runtime/engine/open_backend.h): quantized ones stay so on the device
  int max_rows = 0;            // token rows per round (workspace size); 0: automatic (choose_max_rows
                               // from the free device memory, between kAutoMaxRowsFloor and max_rows_cap)
  int max_rows_cap = cuda::kAutoMaxRowsCap;  // the automatic choice's upper bound
  int n_slots = 1;             // state slots in the pool
  bool graphs = true;          // capture each decode step shape once as a CUDA graph and replay it
  int gemv_max_rows = 16;      // rounds of at most this many rows use the custom GEMV, larger ones cuBLAS
  int wkv_chunk_min_tokens = 64;  // prefill rounds averaging at least this many tokens per sequence run
                                  // the chunked (tensor-core) WKV kernels, shorter ones the sequential
                                  // kernels (0: never chunked; docs/performance.md, prefill)
  int wkv_carry_split_slots = -1;  // chunked v7 prefill, pass 2 (kernels/wkv7_chunked.cuh): its split
                                   // shape while the split blocks fit this many slots; -1 automatic (two
                                   // blocks per SM), 0 never split (the whole shape), [0, 1 << 20]
  int wkv_split_parts = 0;  // chunked prefill WKV (v5-v7): bf16 parts of each tensor-core operand
                            // (kernels/common/mma_split.cuh); 0 automatic (wkv_split_parts_for: 3 with
                            // fp32 activations, 2 with bf16/fp16), 3 fp32-accurate, or 2
  DType state_dtype = DType::f32;  // of the WKV matrix state (att.kv) in device memory: f32 or bf16
                                   // (device_state.h; v4 has none, so bf16 changes nothing there)
  bool profile_prefill = false;  // CUDA events around each prefill round (never a decode graph) and
                                 // around the GEMM and WKV spans layer code marks (prefill_split())
};

// The chunked WKV kernels' operand parts for `options` and activations in `dtype`: the option when
// it is set, else 3 for fp32 (fp32-accurate products) and 2 for bf16 / fp16 (2^-16 a product, 2^7
// below a bf16 rounding of what the kernels write; docs/performance.md "Operand parts by the run's
// precision").
int wkv_split_parts_for(const CudaOptions& options, DType dtype);

class CudaBackend final : public Backend {
 public:
  CudaBackend(const Model& model, CudaOptions options = {});
  ~CudaBackend() override;

  const char* name() const override { return "cuda"; }
  const ModelInfo& info() const override { return info_; }
  const StateLayout& state_layout() const override { return layout_; }
  // `state` is device memory, in the device layout (device_state_layout()).
  void init_state(float* state) const override;
  // States of the batch are device memory; logits (host memory) as Backend.
  void forward(const Batch& batch, float* logits) override;

  // Samples on the device (device_sampler.h): each step copies back only the token ids. The
  // samplers' state stays in device memory from the first call that uses a Sampler until
  // finish_sampling() (or until another Sampler takes its place in the batch), which stores it
  // back; a Sampler must outlive that. A batch that needs one round (every decode step, and a
  // prefill of at most max_rows / n_seq tokens per sequence) keeps its logits on the device.
  // The samplers' step biases (Sampler::set_step_bias) go up in one pinned copy for the step,
  // only when one is set; the step still synchronises once.
  void forward_sample(const Batch& batch, Sampler* const* samplers, int32_t* tokens) override;
  void finish_sampling(Sampler* const* samplers, size_t n) override;

  // The device int the embedding gathers raise for an index outside their table (tests raise it
  // to check the error path).
  int* embedding_error_flag() const { return ws_.error_flag; }

  DType dtype() const { return w_.dtype; }
  int wkv_split_parts() const { return wkv_split_parts_for(opt_, w_.dtype); }  // the chunked WKV's parts in use
  QuantKind quant() const { return w_.quant; }  // every Linear's kind, or none (dense in dtype())
  DType state_dtype() const { return dev_layout_.kv_dtype(); }
  // How a state sits in device memory (slots, init_state, forward's SeqInput::state).
  const cuda::DeviceStateLayout& device_state_layout() const { return dev_layout_; }
  size_t weight_bytes() const { return w_.bytes; }
  size_t device_weight_bytes() const override { return w_.bytes; }
  // Token rows per round: CudaOptions::max_rows, or the automatic choice when that was 0.
  int max_rows() const { return opt_.max_rows; }
  bool max_rows_automatic() const { return max_rows_automatic_; }
  // With CudaOptions::profile_prefill: the device time of the prefill rounds run so far, and of
  // the GEMM and WKV spans inside them (prefill_profile.h); zeros without it.
  cuda::PrefillSplit prefill_split() const;
  void reset_prefill_split();
  // Pauses (false) or resumes (true) the profile's events, e.g. to time calls without their cost;
  // returns whether there is a profile (CudaOptions::profile_prefill) at all.
  bool set_prefill_profiling(bool on);
  size_t workspace_bytes() const { return ws_.bytes(); }
  size_t device_bytes() const override {
    return w_.bytes + ws_.bytes() + ws_.dequant_bytes() + slots_.bytes() + cublas_workspace_.bytes() +
           initial_state_.bytes();
  }
  // The stream all of forward()'s work and the slot operations are issued on (for timing it with
  // events). It is non-blocking: work on it is not ordered with the legacy default stream.
  cudaStream_t stream() const { return stream_; }

  // ---- state slots (device memory) ----
  // Resets and copies are enqueued on stream(); reads and writes synchronise it once. read_slot and
  // write_slot take host states in the fp32 StateLayout (converted on the pinned staging).
  int n_slots() const { return n_slots_; }
  float* slot(int i) const;
  void reset_slot(int i);
  void copy_slot(int src, int dst);
  void read_slot(int i, float* host) const;
  void write_slot(int i, const float* host);

  // Decode shapes (row count, logits mode) with a captured graph, and those whose capture failed.
  size_t graphs_captured() const;
  size_t graphs_failed() const;
  // Nodes (kernels, GEMM kernels, device-side copies) of the graph captured for a decode round of
  // `rows` sequences in `mode`, i.e. the launches one such step issues; -1 if none is captured.
  int graph_nodes(int rows, LogitsMode mode) const;
  // Bytes of the batch descriptor every round uploads (its only host-to-device copy).
  size_t descriptor_bytes() const { return desc_.bytes(); }

 private:
  // One captured decode shape: its executable graph, or none after a failed capture.
  struct DecodeGraph {
    cudaGraphExec_t exec = nullptr;
    size_t nodes = 0;
    bool failed = false;
  };

  // A round in steps: enqueue_round leaves the logits (if any) in ws_.logits on the device;
  // copy_back enqueues the logits rows and the error flag into pinned memory; finish_round
  // synchronises once, checks the flag and copies the rows into the caller's buffer.
  void run_round(const cuda::Round& round, LogitsMode mode, float* logits);
  void enqueue_round(const cuda::Round& round, LogitsMode mode);
  void enqueue_layers(const cuda::RoundRun& in, LogitsMode mode);
  bool launch_graph(const cuda::RoundRun& in, LogitsMode mode);
  cudaGraphExec_t capture_graph(const cuda::RoundRun& in, LogitsMode mode, size_t* nodes);
  void copy_back(size_t logits_rows);
  void finish_round(const cuda::Round& round, LogitsMode mode, size_t logits_rows, float* logits);
  // Device sampling (cuda_backend.cpp, forward_sample).
  std::vector<cuda::Round> plan_rounds(const Batch& batch) const;
  int automatic_max_rows() const;
  bool samplers_bound(Sampler* const* samplers, size_t n) const;
  void bind_samplers(Sampler* const* samplers, size_t n);
  void unbind_sampler(size_t i);
  void sample_rows(float* dev_logits, size_t n, size_t first, const rwkv_kernels::sample_bias* bias);
  void take_tokens(size_t n, int32_t* tokens);

  ModelInfo info_;
  StateLayout layout_;
  CudaOptions opt_;
  cuda::DeviceStateLayout dev_layout_;   // slots, initial_state_ and the kernels' offsets
  cuda::CudaWeights w_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  cuda::DeviceBuffer cublas_workspace_;  // set on the handle: cuBLAS never allocates in a capture
  cuda::DeviceBuffer initial_state_;     // the initial state (device layout), source of init_state/reset_slot
  int n_slots_ = 0;
  cuda::DeviceBuffer slots_;
  cuda::PinnedBuffer slot_staging_;      // one state (device layout), for read_slot/write_slot
  // Serialises all work issued on stream_ (forward and the slot operations): a capture in
  // progress must not record another thread's work, and the staging buffers are shared.
  mutable std::mutex stream_mu_;

  bool max_rows_automatic_ = false;
  std::unique_ptr<cuda::PrefillProfile> profile_;  // with CudaOptions::profile_prefill
  bool profiling_ = true;                          // profile_ records (set_prefill_profiling)
  cuda::Workspace ws_;
  cuda::BatchDescriptor desc_;
  // Pinned return area: max_rows logits rows, then room for the error flag (see copy_back).
  cuda::PinnedBuffer returned_;
  std::map<std::pair<int, LogitsMode>, DecodeGraph> graphs_;  // keyed by (rows, logits mode)

  // Device sampling: bound_[i] is the Sampler whose state lives in sampler_ slot i (or null).
  cuda::DeviceSampler sampler_;
  std::vector<Sampler*> bound_;
  cuda::DeviceBuffer tokens_dev_;
  cuda::PinnedBuffer tokens_host_;
};

}  // namespace rwkv
