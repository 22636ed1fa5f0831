// runtime/cuda/cuda_weights.h: a model's weights on the device.
//
// Matrices in the dtype chosen at load (fp32, fp16 or bf16), PyTorch Linear
// layout [out, in] (LoRA matrices transposed into it), with pip's load-time
// transforms applied (docs/rwkv-math.md section 3.1, 4.2, 5.1, 6.1; the same transforms as
// the CPU reference, both taken from runtime/arch/weights.h).
// Per-channel vectors (LayerNorm, mixes, decays, bonus, v7 parameters) are kept
// in fp32: they are small, and the kernels do all element-wise math in fp32.
#pragma once
#include <vector>

#include "runtime/arch/weights.h"
#include "runtime/cuda/device_buffer.h"
#include "runtime/cuda/gemm.h"
#include "runtime/model/model.h"

namespace rwkv {
namespace cuda {

struct CudaLayer {
  float *ln1_w = nullptr, *ln1_b = nullptr, *ln2_w = nullptr, *ln2_b = nullptr;

  // TimeMix projections k, v, r (and g for v5.1+/v6) back to back: [n_kvrg][A, C]
  DeviceMatrix att_kvrg;
  int n_kvrg = 3;
  DeviceMatrix att_o;  // [C, A]
  // Token-shift mix vectors in the order of the mix outputs:
  //   v4/v5: k, v, r, (g)     (weight of the current token)
  //   v6:    maa_x; then w, k, v, r, g (the order of time_maa_w1/w2 groups)
  //   v7:    k, v, r, w, a, g
  float* mix[6] = {};
  float *decay = nullptr, *bonus = nullptr;  // v4: -exp(td), time_first; v5: exp(-exp(td)), u; v6: td, u
  float *ln_x_w = nullptr, *ln_x_b = nullptr;
  // v6
  DeviceMatrix maa_w1;    // [5*Dmix, C]
  DeviceMatrix maa_w2;    // [5][C, Dmix], order w, k, v, r, g
  DeviceMatrix decay_w1;  // [Ddecay, C]
  DeviceMatrix decay_w2;  // [A, Ddecay]
  // v7
  DeviceMatrix w1, w2, a1, a2, v1, v2, g1, g2;
  float *w0 = nullptr, *a0 = nullptr, *v0 = nullptr, *k_k = nullptr, *k_a = nullptr, *r_k = nullptr;
  bool has_v_mix = false;

  // ChannelMix
  DeviceMatrix ffn_k;  // [F, C]
  DeviceMatrix ffn_v;  // [C, F]
  DeviceMatrix ffn_r;  // [C, C] (v4-v6)
  float* ffn_mix[2] = {};  // k, r
};

struct CudaWeights {
  DType dtype = DType::f32;  // of the dense matrices, the embedding and the GEMM inputs
  QuantKind quant = QuantKind::none;  // every Linear quantized in this kind (gemm.h), or none
  DeviceMatrix emb;          // [V, C], ln0 folded
  std::vector<CudaLayer> layers;
  float *ln_out_w = nullptr, *ln_out_b = nullptr;
  DeviceMatrix head;  // [V, C]
  size_t bytes = 0;   // device memory held
  std::vector<DeviceBuffer> buffers;
};

// Uploads `model` in `dtype`, its Linears as `format` makes them (runtime/arch/weights.h:
// quantized ones keep their packed values and fp16 scales on the device; the embedding and every
// dense matrix in `dtype`). Checks first that the weights fit and throws rwkv::Error naming the
// bytes required and free when they do not.
CudaWeights upload_weights(const Model& model, DType dtype, WeightFormat format = {});

// Device bytes upload_weights() will allocate for `model` in `dtype` and `format` (what
// CudaWeights::bytes then holds, up to the tensors the load-time transforms drop or fold).
size_t weight_bytes(const Model& model, DType dtype, WeightFormat format = {});

}  // namespace cuda
}  // namespace rwkv
