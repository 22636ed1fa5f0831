// runtime/cuda/cuda_backend.cpp: see cuda_backend.h.
//
// Per round: one descriptor upload (batch_descriptor.h), then either the
// round's captured graph (decode rounds) or its launches: the embedding
// gather, the layers (layer.h: LN1, the version's time mix in layer_v4_v5.cpp,
// layer_v6.cpp or layer_v7.cpp, LN2, channel_mix.cpp, the shift-state store)
// and, when logits are wanted, the last-row gathers, ln_out and the head GEMM;
// then one copy of the logits rows and the error flag into pinned memory and
// the one synchronisation of the round.
#include "runtime/cuda/cuda_backend.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "kernels/common/split_parts.h"
#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/layer.h"

namespace rwkv {

namespace {

// cuBLAS's workspace, set on the handle so that it never allocates (which a
// stream capture forbids); 32 MiB covers every GEMM of a round on sm_90.
constexpr size_t kCublasWorkspaceBytes = size_t(32) << 20;

DType checkpoint_dtype(const Model& model) {
  const Tensor* t = model.find("blocks.0.att.key.weight");
  if (!t) t = model.find("head.weight");
  if (t && t->quantized()) t = model.find("emb.weight");  // a quantized file's dense dtype
  if (!t || t->quantized()) return DType::f32;
  return t->dtype;
}

// A decode round: one token per sequence (so one logits row per sequence in any mode).
bool is_decode_round(const cuda::Round& round) {
  for (const cuda::Round::Piece& p : round.pieces)
    if (p.n != 1) return false;
  return true;
}

// Rows of ws.logits the round's caller needs copied back (0 when none).
size_t returned_rows(const cuda::Round& round, LogitsMode mode) {
  if (mode == LogitsMode::all) return (size_t)round.rows;
  if (mode == LogitsMode::last)
    for (const cuda::Round::Piece& p : round.pieces)
      if (p.last_piece) return round.pieces.size();
  return 0;
}

}  // namespace

CudaBackend::CudaBackend(const Model& model, CudaOptions options)
    : info_(model.info), layout_(model.info), opt_(options), dev_layout_(layout_, options.state_dtype) {
  // Rows and sequences of a round become gridDim.y of some kernels (limit 65535); 0 is automatic.
  if (opt_.max_rows < 0 || opt_.max_rows > 65535)
    throw Error("cuda backend: max_rows must be in [1, 65535], or 0 for automatic, got " +
                std::to_string(opt_.max_rows));
  if (opt_.max_rows_cap < 1 || opt_.max_rows_cap > 65535)
    throw Error("cuda backend: max_rows_cap must be in [1, 65535], got " + std::to_string(opt_.max_rows_cap));
  if (opt_.wkv_chunk_min_tokens < 0 || opt_.wkv_chunk_min_tokens > 65535)
    throw Error("cuda backend: wkv_chunk_min_tokens must be in [0, 65535] (0: never chunked), got " +
                std::to_string(opt_.wkv_chunk_min_tokens));
  if (opt_.wkv_carry_split_slots < -1 || opt_.wkv_carry_split_slots > cuda::kMaxCarrySplitSlots)
    throw Error("cuda backend: wkv_carry_split_slots must be -1 (automatic) or in [0, " +
                std::to_string(cuda::kMaxCarrySplitSlots) + "], got " + std::to_string(opt_.wkv_carry_split_slots));
  if (opt_.wkv_split_parts != 0 && !rwkv_kernels::split_parts_valid(opt_.wkv_split_parts))
    throw Error("cuda backend: wkv_split_parts must be 0 (automatic), 2 or 3, got " +
                std::to_string(opt_.wkv_split_parts));
  if (opt_.n_slots < 0) throw Error("cuda backend: n_slots must not be negative");
  int n_dev = 0;
  if (cudaGetDeviceCount(&n_dev) != cudaSuccess || n_dev == 0) {
    cudaGetLastError();
    throw Error("cuda backend: no CUDA device is available");
  }
  if (opt_.device < 0 || opt_.device >= n_dev)
    throw Error("cuda backend: device cuda:" + std::to_string(opt_.device) + " does not exist (" +
                std::to_string(n_dev) + " device(s))");
  RWKV_CUDA_TRY(cudaSetDevice(opt_.device));
  w_ = cuda::upload_weights(model, opt_.dtype ? *opt_.dtype : checkpoint_dtype(model), opt_.weights);
  // Non-blocking: the legacy default stream (other threads' synchronous copies) neither waits for
  // this stream nor breaks its captures.
  RWKV_CUDA_TRY(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  RWKV_CUBLAS_TRY(cublasCreate(&cublas_));
  RWKV_CUBLAS_TRY(cublasSetStream(cublas_, stream_));  // resets the workspace: set it after
  cublas_workspace_ = cuda::DeviceBuffer(kCublasWorkspaceBytes, "cuBLAS workspace");
  RWKV_CUBLAS_TRY(cublasSetWorkspace(cublas_, cublas_workspace_.get(), cublas_workspace_.bytes()));
  RWKV_CUBLAS_TRY(cublasSetMathMode(cublas_, CUBLAS_DEFAULT_MATH));  // no TF32

  // The initial state goes to the device once, through the pinned slot staging.
  const size_t state_bytes = dev_layout_.bytes();
  slot_staging_ = cuda::PinnedBuffer(state_bytes);
  initial_state_ = cuda::DeviceBuffer(state_bytes, "initial state");
  const std::vector<float> init = initial_state(model, layout_);
  dev_layout_.to_device(init.data(), slot_staging_.as<float>());
  RWKV_CUDA_TRY(cudaMemcpyAsync(initial_state_.get(), slot_staging_.get(), state_bytes, cudaMemcpyHostToDevice,
                                stream_));
  n_slots_ = opt_.n_slots;
  slots_ = cuda::DeviceBuffer((size_t)n_slots_ * state_bytes, "state slots");
  for (int i = 0; i < n_slots_; ++i) reset_slot(i);

  // The round buffers last: an automatic max_rows sees the memory the weights and slots left.
  if (opt_.max_rows == 0) {
    opt_.max_rows = automatic_max_rows();
    max_rows_automatic_ = true;
  }
  ws_ = cuda::Workspace(info_, w_, opt_.max_rows);
  desc_ = cuda::BatchDescriptor(opt_.max_rows);
  returned_ = cuda::PinnedBuffer(((size_t)opt_.max_rows * info_.n_vocab + 1) * sizeof(float));
  if (opt_.profile_prefill) profile_ = std::make_unique<cuda::PrefillProfile>();
  // The uploads and sets issued on the legacy stream (weights, workspace) and the slots' resets
  // are complete before the first round.
  RWKV_CUDA_TRY(cudaDeviceSynchronize());
}

int wkv_split_parts_for(const CudaOptions& options, DType dtype) {
  if (options.wkv_split_parts != 0) return options.wkv_split_parts;
  return dtype == DType::f32 ? rwkv_kernels::kSplitFp32 : rwkv_kernels::kSplitBf16Run;
}

namespace cuda {

int choose_max_rows(size_t free_bytes, size_t bytes_per_row, int floor_rows, int cap_rows) {
  cap_rows = std::max(1, cap_rows);
  floor_rows = std::max(1, std::min(floor_rows, cap_rows));
  if (bytes_per_row == 0) return cap_rows;
  const size_t margin = std::max(size_t(512) << 20, free_bytes / 16);
  const size_t usable = free_bytes > margin ? free_bytes - margin : 0;
  const size_t fit = usable / bytes_per_row;
  if (fit >= (size_t)cap_rows) return cap_rows;
  if (fit >= (size_t)floor_rows) {
    const size_t rows = fit > 64 ? fit / 64 * 64 : fit;  // a round number, never below the floor (fit >= floor)
    return std::max(floor_rows, (int)rows);
  }
  // Below the floor with the margin: as many as fit without it, up to the floor.
  const size_t bare = free_bytes / bytes_per_row;
  return (int)std::max<size_t>(1, std::min(bare, (size_t)floor_rows));
}

}  // namespace cuda

// The automatic max_rows from the free device memory (the weights and slots allocated).
int CudaBackend::automatic_max_rows() const {
  size_t free_bytes = 0, total_bytes = 0;
  RWKV_CUDA_TRY(cudaMemGetInfo(&free_bytes, &total_bytes));
  // The batch descriptor adds 4 int32 and a state pointer per row (batch_descriptor.h): 32 bytes covers it.
  const size_t per_row = cuda::Workspace::bytes_per_row(info_, w_) + 32;
  const size_t scratch = cuda::Workspace::dequant_elems(w_) * dtype_size(w_.dtype);  // fixed, not per row
  free_bytes = free_bytes > scratch ? free_bytes - scratch : 0;
  return cuda::choose_max_rows(free_bytes, per_row, std::min(cuda::kAutoMaxRowsFloor, opt_.max_rows_cap),
                               opt_.max_rows_cap);
}

cuda::PrefillSplit CudaBackend::prefill_split() const {
  std::lock_guard<std::mutex> lock(stream_mu_);
  return profile_ ? profile_->totals() : cuda::PrefillSplit{};
}

void CudaBackend::reset_prefill_split() {
  std::lock_guard<std::mutex> lock(stream_mu_);
  if (profile_) profile_->reset();
}

bool CudaBackend::set_prefill_profiling(bool on) {
  std::lock_guard<std::mutex> lock(stream_mu_);
  profiling_ = on;
  return profile_ != nullptr;
}

CudaBackend::~CudaBackend() {
  for (auto& entry : graphs_)
    if (entry.second.exec) cudaGraphExecDestroy(entry.second.exec);
  if (cublas_) cublasDestroy(cublas_);
  if (stream_) cudaStreamDestroy(stream_);
}

size_t CudaBackend::graphs_captured() const {
  size_t n = 0;
  for (const auto& entry : graphs_) n += entry.second.exec != nullptr;
  return n;
}

int CudaBackend::graph_nodes(int rows, LogitsMode mode) const {
  std::lock_guard<std::mutex> lock(stream_mu_);
  const auto it = graphs_.find({rows, mode});
  return it == graphs_.end() || !it->second.exec ? -1 : (int)it->second.nodes;
}

size_t CudaBackend::graphs_failed() const {
  size_t n = 0;
  for (const auto& entry : graphs_) n += entry.second.failed;
  return n;
}

// ---- state slots --------------------------------------------------------------

float* CudaBackend::slot(int i) const {
  if (i < 0 || i >= n_slots_)
    throw Error("cuda backend: slot " + std::to_string(i) + " is out of range [0, " +
                std::to_string(n_slots_) + ")");
  return slots_.as<float>() + (size_t)i * dev_layout_.size();
}

void CudaBackend::init_state(float* state) const {
  std::lock_guard<std::mutex> lock(stream_mu_);
  RWKV_CUDA_TRY(cudaMemcpyAsync(state, initial_state_.get(), initial_state_.bytes(), cudaMemcpyDeviceToDevice,
                                stream_));
}
void CudaBackend::reset_slot(int i) { init_state(slot(i)); }
void CudaBackend::copy_slot(int src, int dst) {
  std::lock_guard<std::mutex> lock(stream_mu_);
  RWKV_CUDA_TRY(cudaMemcpyAsync(slot(dst), slot(src), dev_layout_.bytes(), cudaMemcpyDeviceToDevice, stream_));
}
// Reads and writes convert between the device layout and the caller's fp32 StateLayout on the
// pinned staging (a plain copy for an fp32 state).
void CudaBackend::read_slot(int i, float* host) const {
  const size_t bytes = dev_layout_.bytes();
  std::lock_guard<std::mutex> lock(stream_mu_);
  RWKV_CUDA_TRY(cudaMemcpyAsync(slot_staging_.get(), slot(i), bytes, cudaMemcpyDeviceToHost, stream_));
  RWKV_CUDA_TRY(cudaStreamSynchronize(stream_));
  dev_layout_.to_external(slot_staging_.as<float>(), host);
}
void CudaBackend::write_slot(int i, const float* host) {
  const size_t bytes = dev_layout_.bytes();
  std::lock_guard<std::mutex> lock(stream_mu_);
  dev_layout_.to_device(host, slot_staging_.as<float>());
  RWKV_CUDA_TRY(cudaMemcpyAsync(slot(i), slot_staging_.get(), bytes, cudaMemcpyHostToDevice, stream_));
  RWKV_CUDA_TRY(cudaStreamSynchronize(stream_));  // the staging is reused by the next call
}

// ---- forward ------------------------------------------------------------------

void CudaBackend::forward(const Batch& batch, float* logits) {
  std::lock_guard<std::mutex> lock(stream_mu_);
  validate_batch(batch, info_, layout_, logits == nullptr);
  for (const cuda::Round& round : plan_rounds(batch)) run_round(round, batch.logits, logits);
}

// The rounds of a batch: each unfinished sequence contributes up to its share of max_rows.
std::vector<cuda::Round> CudaBackend::plan_rounds(const Batch& batch) const {
  const size_t n = batch.seqs.size();
  std::vector<size_t> done(n, 0), out_base(n, 0);
  for (size_t i = 1; i < n; ++i) out_base[i] = out_base[i - 1] + batch.seqs[i - 1].n_tokens;
  std::vector<cuda::Round> rounds;
  for (;;) {
    std::vector<size_t> active;
    for (size_t i = 0; i < n; ++i)
      if (done[i] < batch.seqs[i].n_tokens) active.push_back(i);
    if (active.empty()) break;
    const int share = std::max(1, opt_.max_rows / (int)active.size());
    cuda::Round round;
    for (size_t i : active) {
      const SeqInput& s = batch.seqs[i];
      const int take = (int)std::min<size_t>((size_t)share, s.n_tokens - done[i]);
      if (round.rows + take > opt_.max_rows) break;
      cuda::Round::Piece p;
      p.tokens = s.tokens + done[i];
      p.n = take;
      p.state = s.state;
      p.last_piece = done[i] + take == s.n_tokens;
      p.out_row = batch.logits == LogitsMode::all ? out_base[i] + done[i] : i;
      round.pieces.push_back(p);
      round.rows += take;
      done[i] += take;
    }
    rounds.push_back(std::move(round));
  }
  return rounds;
}

void CudaBackend::run_round(const cuda::Round& round, LogitsMode mode, float* logits) {
  try {
    enqueue_round(round, mode);
    const size_t rows = returned_rows(round, mode);
    copy_back(rows);
    finish_round(round, mode, rows, logits);
  } catch (...) {
    if (profile_) profile_->discard();
    throw;
  }
  if (profile_) profile_->collect();  // after finish_round's synchronisation
}

void CudaBackend::enqueue_round(const cuda::Round& round, LogitsMode mode) {
  const cuda::DeviceRound dev = desc_.upload(round, stream_);
  const bool decode = is_decode_round(round);
  // Prefill rounds only: a decode round may be captured, and a graph holds no profiling events.
  cuda::PrefillProfile* profile = decode || !profiling_ ? nullptr : profile_.get();
  const cuda::RoundRun run{cublas_, stream_, info_, w_, dev_layout_, ws_, dev, round.rows, opt_.gemv_max_rows,
                           opt_.wkv_chunk_min_tokens, opt_.wkv_carry_split_slots, wkv_split_parts(), profile};
  if (opt_.graphs && decode && launch_graph(run, mode)) return;
  if (profile) profile->begin_round(stream_);
  enqueue_layers(run, mode);
  if (profile) profile->end_round(stream_);
}

// The round's launches, from the embedding gather to the logits in ws_.logits.
void CudaBackend::enqueue_layers(const cuda::RoundRun& run, LogitsMode mode) {
  cuda::gather_rows(run, run.dev.tokens, w_.emb.data, w_.dtype, info_.n_vocab, ws_.x, run.M);
  for (int l = 0; l < info_.n_layer; ++l) cuda::run_layer(run, l);
  if (mode != LogitsMode::none) cuda::compute_logits(run, mode);
}

// Launches the graph of the round's shape, capturing it first if it is new.
// False when the shape runs uncaptured (its capture failed, now or before).
bool CudaBackend::launch_graph(const cuda::RoundRun& run, LogitsMode mode) {
  DecodeGraph& g = graphs_[{run.M, mode}];
  if (g.failed) return false;
  if (!g.exec) {
    g.exec = capture_graph(run, mode, &g.nodes);
    if (!g.exec) {
      g.failed = true;
      return false;
    }
  }
  RWKV_CUDA_TRY(cudaGraphLaunch(g.exec, stream_));
  return true;
}

// Records the round's launches into a graph (nothing runs); nullptr when the
// capture fails, e.g. a launch that cannot be captured (the error is cleared:
// the round then runs uncaptured, and raises any real error there).
cudaGraphExec_t CudaBackend::capture_graph(const cuda::RoundRun& run, LogitsMode mode, size_t* nodes) {
  if (cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal) != cudaSuccess) {
    cudaGetLastError();
    return nullptr;
  }
  bool recorded = true;
  cudaGraph_t graph = nullptr;
  try {
    enqueue_layers(run, mode);
  } catch (const Error&) {
    recorded = false;
  } catch (...) {
    cudaStreamEndCapture(stream_, &graph);
    if (graph) cudaGraphDestroy(graph);
    throw;
  }
  const cudaError_t ended = cudaStreamEndCapture(stream_, &graph);
  cudaGraphExec_t exec = nullptr;
  if (recorded && ended == cudaSuccess && graph && cudaGraphInstantiate(&exec, graph, 0) != cudaSuccess)
    exec = nullptr;
  *nodes = 0;
  if (exec && cudaGraphGetNodes(graph, nullptr, nodes) != cudaSuccess) *nodes = 0;
  if (graph) cudaGraphDestroy(graph);
  cudaGetLastError();
  return exec;
}

// Where the error flag lands in returned_ for a round returning `rows` logits rows.
static size_t flag_index(size_t rows, size_t max_rows, size_t V) {
  return rows > 0 && rows < max_rows ? rows * V : max_rows * V;
}

// Enqueues the copy of the round's logits rows and of the error flag into
// returned_: one copy when the flag fits in ws_.logits right after the rows
// (it is first copied there on the device), else a second 4-byte copy.
void CudaBackend::copy_back(size_t rows) {
  const size_t V = (size_t)info_.n_vocab, R = (size_t)opt_.max_rows;
  float* host = returned_.as<float>();
  float* flag_host = host + flag_index(rows, R, V);
  if (rows > 0 && rows < R) {
    RWKV_CUDA_TRY(cudaMemcpyAsync(ws_.logits + rows * V, ws_.error_flag, sizeof(int), cudaMemcpyDeviceToDevice,
                                  stream_));
    RWKV_CUDA_TRY(cudaMemcpyAsync(host, ws_.logits, (rows * V + 1) * sizeof(float), cudaMemcpyDeviceToHost,
                                  stream_));
    return;
  }
  if (rows > 0)
    RWKV_CUDA_TRY(cudaMemcpyAsync(host, ws_.logits, rows * V * sizeof(float), cudaMemcpyDeviceToHost, stream_));
  RWKV_CUDA_TRY(cudaMemcpyAsync(flag_host, ws_.error_flag, sizeof(int), cudaMemcpyDeviceToHost, stream_));
}

// The round's one synchronisation; then the embedding gathers' error flag is
// checked and the logits rows go from returned_ into the caller's buffer.
void CudaBackend::finish_round(const cuda::Round& round, LogitsMode mode, size_t rows, float* logits) {
  RWKV_CUDA_TRY(cudaStreamSynchronize(stream_));
  const size_t V = (size_t)info_.n_vocab;
  const float* host = returned_.as<float>();
  int flag = 0;
  std::memcpy(&flag, host + flag_index(rows, (size_t)opt_.max_rows, V), sizeof flag);
  if (flag != 0) {
    RWKV_CUDA_TRY(cudaMemsetAsync(ws_.error_flag, 0, sizeof(int), stream_));
    throw Error("cuda backend: an embedding gather read an index outside its table (a token id outside "
                "[0, n_vocab) or a bad row index); the round's logits and states are invalid");
  }
  if (rows == 0 || !logits) return;
  size_t row = 0;  // of the returned rows
  for (const cuda::Round::Piece& p : round.pieces) {
    // ::last has one row per piece, wanted when the piece ends its sequence; ::all has p.n rows.
    const size_t n = mode == LogitsMode::last ? 1 : (size_t)p.n;
    if (mode == LogitsMode::all || p.last_piece)
      std::memcpy(logits + p.out_row * V, host + row * V, n * V * sizeof(float));
    row += n;
  }
}

// ---- sampling on the device (device_sampler.h) ----------------------------------

namespace {

// Every sampler set, and none shared by two sequences.
void check_distinct_samplers(Sampler* const* samplers, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (!samplers[i])
      throw InputError(InputError::Kind::argument, "forward_sample: sampler " + std::to_string(i) + " is null");
    for (size_t j = 0; j < i; ++j)
      if (samplers[j] == samplers[i])
        throw InputError(InputError::Kind::argument, "forward_sample: sequences " + std::to_string(j) + " and " +
                                                         std::to_string(i) + " share a sampler");
  }
}

}  // namespace

// True when sampler i already lives in device slot i for every i < n: the usual decode step, which
// then needs no loading and no O(n^2) check (bound samplers are non-null and distinct).
bool CudaBackend::samplers_bound(Sampler* const* samplers, size_t n) const {
  if (n > bound_.size()) return false;
  for (size_t i = 0; i < n; ++i)
    if (bound_[i] != samplers[i]) return false;
  return true;
}

void CudaBackend::forward_sample(const Batch& batch, Sampler* const* samplers, int32_t* tokens) {
  Batch last = batch;
  last.logits = LogitsMode::last;
  validate_batch(last, info_, layout_, false);
  const size_t n = batch.seqs.size(), V = (size_t)info_.n_vocab;
  if (!samplers_bound(samplers, n)) check_distinct_samplers(samplers, n);
  validate_step_bias(samplers, n, info_.n_vocab);
  const std::vector<cuda::Round> rounds = plan_rounds(last);
  if (rounds.size() != 1) {
    // Several rounds: the logits come to the host once and go back to the device for the draw.
    std::vector<float> logits(n * V);
    forward(last, logits.data());
    std::lock_guard<std::mutex> lock(stream_mu_);
    bind_samplers(samplers, n);
    const rwkv_kernels::sample_bias* bias = sampler_.upload_step_bias(samplers, n, stream_);
    const size_t rows = (size_t)opt_.max_rows;
    for (size_t first = 0; first < n; first += rows) {
      const size_t m = std::min(rows, n - first);
      RWKV_CUDA_TRY(cudaMemcpyAsync(ws_.logits, logits.data() + first * V, m * V * sizeof(float),
                                    cudaMemcpyHostToDevice, stream_));
      sample_rows(ws_.logits, m, first, bias);
    }
    take_tokens(n, tokens);
    return;
  }
  std::lock_guard<std::mutex> lock(stream_mu_);
  bind_samplers(samplers, n);
  // The step biases travel in their own pinned copy (none when no sampler has one), outside the graph.
  const rwkv_kernels::sample_bias* bias = sampler_.upload_step_bias(samplers, n, stream_);
  try {
    enqueue_round(rounds[0], LogitsMode::last);  // a decode step replays its graph; logits stay in ws_.logits
    sample_rows(ws_.logits, n, 0, bias);
    take_tokens(n, tokens);
  } catch (...) {
    if (profile_) profile_->discard();
    throw;
  }
  if (profile_) profile_->collect();  // after take_tokens' synchronisation
}

// Loads each sampler into the slot of its batch position unless it is already there; a slot's
// previous sampler, and a sampler held at another position, is stored back first.
void CudaBackend::bind_samplers(Sampler* const* samplers, size_t n) {
  if (samplers_bound(samplers, n)) return;
  if (n > (size_t)sampler_.capacity()) {
    for (size_t j = 0; j < bound_.size(); ++j) unbind_sampler(j);
    const int cap = (int)std::max(n, (size_t)sampler_.capacity() * 2);
    sampler_ = cuda::DeviceSampler();
    sampler_ = cuda::DeviceSampler(info_.n_vocab, cap);
    tokens_dev_ = cuda::DeviceBuffer((size_t)cap * sizeof(int32_t), "sampled tokens");
    tokens_host_ = cuda::PinnedBuffer((size_t)cap * sizeof(int32_t));
    bound_.assign((size_t)cap, nullptr);
  }
  for (size_t j = 0; j < bound_.size(); ++j) {
    for (size_t i = 0; i < n && bound_[j]; ++i)
      if (samplers[i] == bound_[j] && i != j) unbind_sampler(j);
  }
  for (size_t i = 0; i < n; ++i) {
    if (bound_[i] == samplers[i]) continue;
    unbind_sampler(i);
    sampler_.load((int)i, *samplers[i], stream_);
    bound_[i] = samplers[i];
  }
}

void CudaBackend::unbind_sampler(size_t i) {
  Sampler* s = bound_[i];
  if (!s) return;
  bound_[i] = nullptr;
  sampler_.store((int)i, *s, stream_);
}

void CudaBackend::finish_sampling(Sampler* const* samplers, size_t n) {
  std::lock_guard<std::mutex> lock(stream_mu_);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < bound_.size(); ++j)
      if (bound_[j] == samplers[i]) unbind_sampler(j);
}

// Enqueues the draw for rows [0, n) of `dev_logits` with the samplers of slots first .. first + n - 1.
void CudaBackend::sample_rows(float* dev_logits, size_t n, size_t first, const rwkv_kernels::sample_bias* bias) {
  sampler_.enqueue(dev_logits, (int)n, (int)first, tokens_dev_.as<int32_t>() + first, ws_.error_flag, bias,
                   stream_);
}

// The step's only copy back (4 bytes per sequence, pinned) and its one synchronisation; the
// sampler reports the embedding gathers' error flag as token -2.
void CudaBackend::take_tokens(size_t n, int32_t* tokens) {
  int32_t* host = tokens_host_.as<int32_t>();
  RWKV_CUDA_TRY(cudaMemcpyAsync(host, tokens_dev_.get(), n * sizeof(int32_t), cudaMemcpyDeviceToHost, stream_));
  RWKV_CUDA_TRY(cudaStreamSynchronize(stream_));
  for (size_t i = 0; i < n; ++i) {
    if (host[i] == -2) {
      RWKV_CUDA_TRY(cudaMemsetAsync(ws_.error_flag, 0, sizeof(int), stream_));
      RWKV_CUDA_TRY(cudaStreamSynchronize(stream_));
      throw Error("cuda backend: an embedding gather read an index outside its table (a token id outside "
                  "[0, n_vocab) or a bad row index); the round's logits and states are invalid");
    }
    if (host[i] == -3)
      throw Error("sampler: sequence " + std::to_string(i) +
                  ": a logit is NaN or +inf, or every token has a logit of -inf (all banned?)");
    tokens[i] = host[i];
  }
}

}  // namespace rwkv
