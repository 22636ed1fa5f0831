// runtime/cuda/workspace.h: the device buffers one round of CudaBackend::forward
// works in, as named planes.
//
// Every plane has R = max_rows rows (the most token rows of one round); the
// backend processes longer batches in rounds, so the workspace is fixed
// however long the prompt. Planes marked "dtype" hold the weights' dtype (they
// feed a GEMM); all others are fp32.
#pragma once
#include <cstddef>
#include <vector>

#include "runtime/cuda/cuda_weights.h"
#include "runtime/cuda/device_buffer.h"
#include "runtime/model/model.h"

namespace rwkv {
namespace cuda {

class Workspace {
 public:
  Workspace() = default;
  Workspace(const ModelInfo& info, const CudaWeights& weights, int max_rows);

  // Residual stream and the layer norms around it.
  float* x = nullptr;            // [R, C] the residual stream (both paths' output products add into it)
  float* att_in = nullptr;       // [R, C] LN1 output (time-mix input)
  float* ffn_in = nullptr;       // [R, C] LN2 output (channel-mix input)
  float* shift_prev = nullptr;   // [R, C] each row's previous token (GEMV path, v6 ddlerp)
  // Time mix.
  float* v_first = nullptr;      // [R, A] v7 value residual, written by layer 0
  void* mix = nullptr;           // [6][R, C] dtype: token-shift mixes (mix_plane)
  float* proj = nullptr;         // [4][R, A] k, v, r, g projections (proj_plane)
  float* lora_mid = nullptr;     // [R, lora_width] LoRA first-matrix outputs
  void* lora_act = nullptr;      // [R, lora_width] dtype: their activations
  float* lora_out = nullptr;     // [5][R, max(A, C)] LoRA second-matrix outputs
  void* att_out = nullptr;       // [R, A] dtype: WKV kernel output, input of att.output
  float* wkv_y = nullptr;        // the chunked WKV kernels' scratch: [R, A] for v4-v6 (v5/v6: the
                                 // outputs before GroupNorm), wkv7_chunked_scratch_floats(R, H, N) for v7
  // Channel mix.
  float* ffn_key = nullptr;      // [R, F] ffn.key output (GEMV path, fp16 weights: relu(key)^2)
  void* ffn_key_act = nullptr;   // [R, F] dtype: relu(key)^2
  float* ffn_r = nullptr;        // [R, C] ffn.receptance output (v4-v6)
  float* ffn_v = nullptr;        // [R, C] ffn.value output (v4-v6)
  // Output head.
  float* x_last = nullptr;       // [R, C] gathered last rows of x (LogitsMode::last)
  void* ln_out = nullptr;        // [R, C] dtype: ln_out output, input of the head
  float* logits = nullptr;       // [R, V]
  // Set to 1 by the embedding gathers when an index is out of range (device int).
  int* error_flag = nullptr;
  // Quantized weights only: where the cuBLAS path expands a matrix before its GEMM (gemm.h,
  // linear()), in dtype, the size of the largest matrix but the head (which goes in slices); fixed,
  // not per row (not in bytes() / bytes_per_row()).
  void* dequant = nullptr;
  DequantScratch dequant_scratch() const { return {dequant, dequant_elems_}; }
  // Elements of the scratch the weights need (0 for dense weights).
  static size_t dequant_elems(const CudaWeights& weights);
  size_t dequant_bytes() const { return dequant_elems_ * dtype_size(dtype_); }

  void* mix_plane(int z) const;
  float* proj_plane(int z) const { return proj + (size_t)z * rows_ * att_width_; }
  // Plane z of lora_out as the v7 layer uses it: [R, A] planes, R*A apart.
  float* lora_out_plane(int z) const { return lora_out + (size_t)z * rows_ * att_width_; }

  int max_rows() const { return (int)rows_; }
  // Device bytes of the planes per row of max_rows: Workspace(info, weights, R).bytes() is exactly
  // R times this (the automatic max_rows of cuda_backend.h divides free memory by it). A new plane
  // must be counted here too (tests/kernels/test_cuda_batch.cpp checks the two agree).
  static size_t bytes_per_row(const ModelInfo& info, const CudaWeights& weights);
  int lora_width() const { return lora_width_; }
  // Device bytes of the planes (the error flag not counted).
  size_t bytes() const { return bytes_; }

 private:
  float* alloc_f32(size_t n, const char* what);
  void* alloc_dtype(size_t n, const char* what);

  std::vector<DeviceBuffer> buffers_;
  size_t rows_ = 0, channels_ = 0, att_width_ = 0;
  DType dtype_ = DType::f32;
  int lora_width_ = 0;
  size_t bytes_ = 0;
  size_t dequant_elems_ = 0;
};

}  // namespace cuda
}  // namespace rwkv
