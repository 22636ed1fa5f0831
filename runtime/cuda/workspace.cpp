// runtime/cuda/workspace.cpp: see workspace.h.
#include "runtime/cuda/workspace.h"

#include <algorithm>

#include "kernels/wkv7_chunked.cuh"
#include "runtime/cuda/cuda_check.h"

namespace rwkv {
namespace cuda {

namespace {

// The widest LoRA middle of any layer: v7 packs w, a, (v), g side by side; v6
// has maa_w1 (5 groups) and decay_w1.
int widest_lora(const CudaWeights& weights) {
  int widest = 0;
  for (const CudaLayer& L : weights.layers) {
    int width = L.w1.out + L.a1.out + L.v1.out + L.g1.out;
    width = std::max(width, L.maa_w1.out);
    width = std::max(width, L.decay_w1.out);
    widest = std::max(widest, width);
  }
  return widest;
}

// Floats per row of the chunked WKV kernels' scratch (wkv_y): A for v4-v6 (v5/v6: the outputs
// before GroupNorm; v4: its block states), more for v7's three passes (kernels/wkv7_chunked.cuh).
size_t wkv_scratch_floats_per_row(const ModelInfo& info) {
  const size_t A = (size_t)(info.n_att > 0 ? info.n_att : info.n_embd);
  if (info.arch != Arch::v7) return A;
  return std::max(A, rwkv_kernels::wkv7_chunked_scratch_floats(1, info.n_head, info.head_size));
}

}  // namespace

size_t Workspace::dequant_elems(const CudaWeights& weights) {
  if (weights.quant == QuantKind::none) return 0;
  size_t elems = 0;
  auto fit = [&](const DeviceMatrix& m) { elems = std::max(elems, (size_t)m.out * m.in); };
  for (const CudaLayer& L : weights.layers) {
    for (const DeviceMatrix* m : {&L.att_kvrg, &L.att_o, &L.maa_w1, &L.maa_w2, &L.decay_w1, &L.decay_w2, &L.w1,
                                  &L.w2, &L.a1, &L.a2, &L.v1, &L.v2, &L.g1, &L.g2, &L.ffn_k, &L.ffn_v, &L.ffn_r})
      fit(*m);
  }
  // The head in slices of at least 256 rows (all of it when smaller).
  const size_t head_rows = std::min<size_t>((size_t)weights.head.out, 256);
  return std::max(elems, head_rows * (size_t)weights.head.in);
}

Workspace::Workspace(const ModelInfo& info, const CudaWeights& weights, int max_rows)
    : rows_((size_t)max_rows), channels_((size_t)info.n_embd),
      att_width_((size_t)(info.n_att > 0 ? info.n_att : info.n_embd)), dtype_(weights.dtype),
      lora_width_(widest_lora(weights)) {
  const size_t R = rows_, C = channels_, A = att_width_;
  const size_t F = (size_t)info.n_ffn, V = (size_t)info.n_vocab;
  x = alloc_f32(R * C, "workspace x");
  att_in = alloc_f32(R * C, "workspace ln1");
  ffn_in = alloc_f32(R * C, "workspace ln2");
  shift_prev = alloc_f32(R * C, "workspace previous tokens");
  v_first = alloc_f32(R * A, "workspace v_first");
  mix = alloc_dtype(6 * R * C, "workspace mixes");
  proj = alloc_f32(4 * R * A, "workspace projections");
  if (lora_width_ > 0) {
    lora_mid = alloc_f32(R * (size_t)lora_width_, "workspace lora");
    lora_act = alloc_dtype(R * (size_t)lora_width_, "workspace lora");
  }
  lora_out = alloc_f32(5 * R * std::max(A, C), "workspace lora out");
  att_out = alloc_dtype(R * A, "workspace attention out");
  wkv_y = alloc_f32(R * wkv_scratch_floats_per_row(info), "workspace chunked wkv");
  ffn_key = alloc_f32(R * F, "workspace ffn key");
  ffn_key_act = alloc_dtype(R * F, "workspace ffn key");
  ffn_r = alloc_f32(R * C, "workspace ffn receptance");
  ffn_v = alloc_f32(R * C, "workspace ffn value");
  x_last = alloc_f32(R * C, "workspace last rows");
  ln_out = alloc_dtype(R * C, "workspace ln_out");
  logits = alloc_f32(R * V, "workspace logits");
  dequant_elems_ = dequant_elems(weights);
  if (dequant_elems_ > 0) {
    buffers_.emplace_back(dequant_elems_ * dtype_size(dtype_), "workspace dequantization scratch");
    dequant = buffers_.back().get();
  }
  buffers_.emplace_back(sizeof(int), "error flag");
  error_flag = buffers_.back().as<int>();
  RWKV_CUDA_TRY(cudaMemset(error_flag, 0, sizeof(int)));
}

size_t Workspace::bytes_per_row(const ModelInfo& info, const CudaWeights& weights) {
  const size_t C = (size_t)info.n_embd, A = (size_t)(info.n_att > 0 ? info.n_att : info.n_embd);
  const size_t F = (size_t)info.n_ffn, V = (size_t)info.n_vocab, lora = (size_t)widest_lora(weights);
  // The constructor's planes, per row: fp32 ones in f32, the dtype ones (feeding a GEMM) in dtype.
  const size_t f32 = 4 * C                // x, att_in, ffn_in, shift_prev
                     + A                  // v_first
                     + 4 * A              // proj
                     + lora               // lora_mid (none when lora is 0)
                     + 5 * std::max(A, C) // lora_out
                     + wkv_scratch_floats_per_row(info)  // wkv_y
                     + F                  // ffn_key
                     + 2 * C              // ffn_r, ffn_v
                     + C                  // x_last
                     + V;                 // logits
  const size_t in_dtype = 6 * C + lora + A + F + C;  // mix, lora_act, att_out, ffn_key_act, ln_out
  return f32 * sizeof(float) + in_dtype * dtype_size(weights.dtype);
}

void* Workspace::mix_plane(int z) const {
  return static_cast<char*>(mix) + (size_t)z * rows_ * channels_ * dtype_size(dtype_);
}

float* Workspace::alloc_f32(size_t n, const char* what) {
  buffers_.emplace_back(n * sizeof(float), what);
  bytes_ += buffers_.back().bytes();
  return buffers_.back().as<float>();
}

void* Workspace::alloc_dtype(size_t n, const char* what) {
  buffers_.emplace_back(n * dtype_size(dtype_), what);
  bytes_ += buffers_.back().bytes();
  return buffers_.back().get();
}

}  // namespace cuda
}  // namespace rwkv
