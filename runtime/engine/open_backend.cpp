// runtime/engine/open_backend.cpp: see open_backend.h.
#include "runtime/engine/open_backend.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "runtime/cpu/cpu_backend.h"
#ifdef RWKV_HAVE_GPU
#include "runtime/cuda/cuda_backend.h"
#include "runtime/cuda/cuda_check.h"
static_assert(rwkv::kMaxWkvCarrySplitSlots == rwkv::cuda::kMaxCarrySplitSlots, "one bound for both checks");
#endif

namespace rwkv {

namespace {

// Host-memory slots of the CPU backend.
class CpuSlots final : public SlotPool {
 public:
  CpuSlots(const Backend& backend, int n)
      : backend_(backend), floats_(backend.state_layout().size()), data_(size_t(n) * floats_), n_(n) {
    for (int i = 0; i < n; ++i) reset(i);
  }
  int size() const override { return n_; }
  float* slot(int i) override { return data_.data() + size_t(i) * floats_; }
  void reset(int i) override { backend_.init_state(slot(i)); }
  void copy(int src, int dst) override {
    if (src != dst) std::memcpy(slot(dst), slot(src), floats_ * sizeof(float));
  }
  void read(int i, float* host) const override {
    std::memcpy(host, data_.data() + size_t(i) * floats_, floats_ * sizeof(float));
  }
  void write(int i, const float* host) override { std::memcpy(slot(i), host, floats_ * sizeof(float)); }

 private:
  const Backend& backend_;
  size_t floats_;
  std::vector<float> data_;
  int n_;
};

#ifdef RWKV_HAVE_GPU
// The CUDA backend's own device-memory slots.
class CudaSlots final : public SlotPool {
 public:
  CudaSlots(CudaBackend& backend, int device) : be_(backend), device_(device) {}
  int size() const override { return be_.n_slots(); }
  float* slot(int i) override { return be_.slot(i); }
  void reset(int i) override { be_.reset_slot(i); }
  void copy(int src, int dst) override {
    if (src != dst) be_.copy_slot(src, dst);
  }
  void read(int i, float* host) const override { be_.read_slot(i, host); }
  void write(int i, const float* host) override { be_.write_slot(i, host); }
  void activate() const override { RWKV_CUDA_TRY(cudaSetDevice(device_)); }

 private:
  CudaBackend& be_;
  int device_;
};
#endif

// The cuda round options, checked on every device so that a bad value is refused alike.
void check_round_options(const BackendOptions& o) {
  auto check = [](const char* what, int v, int lo, int hi, const char* note) {
    if (v < lo || v > hi)
      throw InputError(InputError::Kind::argument, std::string(what) + " must be in [" + std::to_string(lo) +
                                                       ", " + std::to_string(hi) + "]" + note + ", got " +
                                                       std::to_string(v));
  };
  check("max_rows", o.max_rows, 0, 65535, " (0: automatic)");
  check("gemv_max_rows", o.gemv_max_rows, 0, 65535, " (0: cuBLAS always)");
  check("wkv_chunk_min_tokens", o.wkv_chunk_min_tokens, 0, 65535, " (0: never chunked)");
  check("wkv_carry_split_slots", o.wkv_carry_split_slots, -1, kMaxWkvCarrySplitSlots,
        " (-1: automatic, 0: never split)");
  if (o.wkv_split_parts != 0 && o.wkv_split_parts != 2 && o.wkv_split_parts != 3)
    throw InputError(InputError::Kind::argument, "wkv_split_parts must be 0 (automatic), 2 or 3, got " +
                                                     std::to_string(o.wkv_split_parts));
}

}  // namespace

WeightFormat weight_format(const BackendOptions& options, const Model& model) {
  WeightFormat f;
  f.quantize = options.quant;
  if (options.quant != QuantKind::none || options.dtype) return f;
  for (const auto& kv : model.tensors())
    if (kv.second.quantized()) {
      f.quantize = kv.second.quant.kind;
      break;
    }
  return f;
}

DType stored_matrix_dtype(const Model& model) {
  for (const char* name : {"head.weight", "blocks.0.att.key.weight", "emb.weight"}) {
    const Tensor* t = model.find(name);
    if (t && !t->quantized()) return t->dtype;
  }
  return DType::f32;
}

OpenedBackend open_backend(const Model& model, const Device& device, const BackendOptions& options) {
  check_round_options(options);
  const int n_slots = std::max(1, options.n_slots);
  OpenedBackend out;
  if (!device.is_cuda()) {
    if (options.state_dtype != DType::f32)
      throw InputError(InputError::Kind::unsupported,
                       std::string("device cpu keeps the recurrent state in fp32 only (--state-dtype ") +
                           dtype_name(options.state_dtype) + " asked)");
    CpuOptions cpu;
    cpu.n_threads = options.threads;
    cpu.weights = weight_format(options, model);
    cpu.weights.dense = options.dtype ? *options.dtype : stored_matrix_dtype(model);
    out.compute_dtype = cpu.weights.dense;
    out.backend = std::make_unique<CpuBackend>(model, cpu);
    out.slots = std::make_unique<CpuSlots>(*out.backend, n_slots);
    return out;
  }
#ifdef RWKV_HAVE_GPU
  CudaOptions c;
  c.device = device.index;
  c.dtype = options.dtype;
  c.weights = weight_format(options, model);
  c.n_slots = n_slots;
  c.max_rows = options.max_rows;
  c.graphs = options.cuda_graphs;
  c.gemv_max_rows = options.gemv_max_rows;
  c.wkv_chunk_min_tokens = options.wkv_chunk_min_tokens;
  c.wkv_carry_split_slots = options.wkv_carry_split_slots;
  c.wkv_split_parts = options.wkv_split_parts;
  c.profile_prefill = options.profile_prefill;
  if (options.state_dtype != DType::f32 && options.state_dtype != DType::bf16)
    throw InputError(InputError::Kind::unsupported, std::string("device cuda keeps the state in fp32 or bf16 (") +
                                                        dtype_name(options.state_dtype) + " asked)");
  c.state_dtype = options.state_dtype;
  auto cuda = std::make_unique<CudaBackend>(model, c);
  out.compute_dtype = cuda->dtype();
  out.max_rows = cuda->max_rows();
  out.max_rows_automatic = cuda->max_rows_automatic();
  out.slots = std::make_unique<CudaSlots>(*cuda, device.index);
  out.backend = std::move(cuda);
  return out;
#else
  throw InputError(InputError::Kind::unsupported,
                   "device " + device.name() + " needs a build with a GPU path (this one is CPU-only)");
#endif
}

}  // namespace rwkv
