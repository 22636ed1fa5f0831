// runtime/arch/weights.h: a model's weights in fp32 with pip's load-time
// transforms applied (docs/rwkv-math.md sections 3.1, 4.2, 5.1, 6.1), the form
// both backends compute with (the CPU backend keeps it, the CUDA upload
// converts it to the device dtype):
//   ln0 folded into the embedding table (bf16-rounded for a bf16 v4-v6
//   checkpoint, as pip's RWKV class does), v4 decay -exp(d), v5 decay
//   exp(-exp(d)), v5 time_first -> exp(u) unless the checkpoint has time_faaaa,
//   per-head decay/bonus broadcast to every channel of the head, LoRA matrices
//   transposed into Linear [out, in] form.
// The version-specific part of each layer is filled by ArchSpec::load_layer
// (runtime/arch/v4.cpp ... v7.cpp).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "runtime/arch/arch.h"
#include "runtime/core/huge_page_arena.h"
#include "runtime/quant/quant_format.h"

namespace rwkv {

// A weight matrix applied as y = W x, stored [out, in] row-major (PyTorch's
// nn.Linear layout). LoRA matrices, stored [in, out] in checkpoints, are
// transposed into this form at load.
// Exactly one of `w` (fp32), `h` (fp16 or bf16 bits, the CPU backend's
// --dtype; docs/cpu-backend.md) and `q` (quantized,
// runtime/quant/quant_format.h) holds the values.
struct Linear {
  int out = 0, in = 0;
  HeldVector<float> w;     // out * in
  HeldVector<uint16_t> h;  // out * in, in h_dtype
  DType h_dtype = DType::f16;
  QuantMatrix q;
  bool quantized() const { return q.kind != QuantKind::none; }
  bool half() const { return !h.empty(); }
  // The dtype of a dense matrix's elements (fp32 for a quantized one).
  DType dense_dtype() const { return half() ? h_dtype : DType::f32; }
  // The fp32 values (dequantized or widened when not fp32).
  std::vector<float> to_f32() const;
  // Bytes the values take in memory (packed bytes, scales and offsets when quantized).
  size_t held_bytes() const;
};

// What load_weights makes of the matrices (every Linear; the embedding is
// always fp32 here):
//   keep_quantized: a matrix the file stores quantized stays so (else fp32).
//   quantize:       every other matrix is quantized to this kind (none: fp32),
//                   except the head under int8 (head_quantized(); see
//                   docs/quantization.md, "Accuracy").
// A matrix stored in the same kind as `quantize` is always kept as stored.
// Default: everything fp32, the reference form.
//   dense:          what every matrix left dense is held in: fp32 (the
//                   CUDA upload converts from fp32), or fp16 / bf16 (the CPU
//                   backend's --dtype: rounded to nearest even, exact for a
//                   checkpoint stored in that dtype).
struct WeightFormat {
  bool keep_quantized = false;
  QuantKind quantize = QuantKind::none;
  DType dense = DType::f32;
  // runtime/quant/quant_format.h quant_kind_covers_head.
  bool head_quantized() const { return quant_kind_covers_head(quantize); }
  // Where the matrices are kept once made: this arena (huge pages, the CPU
  // backend, runtime/core/huge_page_arena.h), or the heap when null.
  std::shared_ptr<HugePageArena> arena;
  bool keeps(QuantKind stored) const {
    return stored != QuantKind::none && (stored == quantize || (keep_quantized && quantize == QuantKind::none));
  }
};

struct LayerWeights {
  using Vec = std::vector<float>;
  Vec ln1_w, ln1_b, ln2_w, ln2_b;  // [C]

  // --- TimeMix ---
  Linear att_r, att_k, att_v, att_o, att_g;  // r,k,v,g: [A, C]; o: [C, A]; g absent for v4/5.0
  Vec ln_x_w, ln_x_b;                        // [A] (v5+)
  // v4 / v5: lerp weights (weight of the current token)
  Vec mix_k, mix_v, mix_r, mix_g;  // [C]
  // v4: w = -exp(time_decay), u = time_first (log space); v5: w = exp(-exp(time_decay)),
  // u = bonus (multiplicative); both broadcast to [A]. v6: u only; decay_base = time_decay.
  Vec decay, bonus;  // [A]
  // v6 ddlerp and data-dependent decay
  Vec maa_x, maa_w, maa_k, maa_v, maa_r, maa_g;  // [C]
  Linear maa_w1;                                 // [5*Dmix, C]
  Linear maa_w2[5];                              // [C, Dmix] each, order w,k,v,r,g
  Vec decay_base;                                // [A]
  Linear decay_w1, decay_w2;                     // [Ddecay, C], [A, Ddecay]
  // v7
  Vec x_r, x_w, x_k, x_v, x_a, x_g;  // [C]
  Vec w0, a0, v0, k_k, k_a, r_k;     // [A]
  Linear w1, w2, a1, a2, v1, v2, g1, g2;  // LoRA, [out, in]
  bool has_v_mix = false;                 // layer >= 1

  // --- ChannelMix ---
  Linear ffn_k, ffn_r, ffn_v;  // k: [F, C]; r: [C, C] (absent in v7); v: [C, F]
  Vec ffn_mix_k, ffn_mix_r;    // v4/v5: time_mix_*; v6: time_maa_*; v7: x_k (mix_r empty)
};

struct ModelWeights {
  Arch arch = Arch::v4;
  int C = 0, L = 0, V = 0, H = 0, N = 0, A = 0, F = 0;
  std::vector<float> emb;  // [V, C], ln0 already applied
  std::vector<LayerWeights> layers;
  std::vector<float> ln_out_w, ln_out_b;
  Linear head;  // [V, C]
};

// Builds the fp32 copy; throws rwkv::Error naming a missing or misshaped tensor.
ModelWeights load_weights(const Model& model, WeightFormat format = {});

// The same in pieces, so that a loader can hold one layer at a time (the CUDA
// backend uploads layer by layer): everything but the layers (`layers` left
// empty), then layer l.
ModelWeights load_weight_globals(const Model& model, WeightFormat format = {});
LayerWeights load_weight_layer(const Model& model, const ModelWeights& globals, int l,
                               WeightFormat format = {});

// Every Linear of a layer (absent ones have out == 0), for passes over all matrices.
template <class Layer, class Fn>
void for_each_linear(Layer& L, Fn&& fn) {
  for (auto* m : {&L.att_r, &L.att_k, &L.att_v, &L.att_o, &L.att_g, &L.maa_w1, &L.decay_w1, &L.decay_w2,
                  &L.w1, &L.w2, &L.a1, &L.a2, &L.v1, &L.v2, &L.g1, &L.g2, &L.ffn_k, &L.ffn_r, &L.ffn_v})
    fn(*m);
  for (auto& m : L.maa_w2) fn(m);
}

// Quantizes a dense Linear in place to `kind` (group: default_quant_group);
// nothing for an empty or already quantized one or kind none. rwkv::Error
// naming `what` when its input width is not a multiple of 32.
void quantize_linear(Linear& m, QuantKind kind, const std::string& what);

// Holds a dense Linear's values in `dtype` (fp16 / bf16 rounded to nearest
// even, in `arena` when given; fp32: as it is); nothing for an empty or quantized one.
void hold_linear_as(Linear& m, DType dtype, const std::shared_ptr<HugePageArena>& arena = nullptr);

// Moves a Linear's buffers into `arena` (nothing when null): where load_weights
// keeps each matrix once it has its final form (WeightFormat::arena).
void move_linear_into(Linear& m, const std::shared_ptr<HugePageArena>& arena);

// Reads a model's tensors as fp32 in the shapes the backends use; used by
// ArchSpec::load_layer. Errors name the model and the tensor.
class WeightReader {
 public:
  WeightReader(const Model& m, const ModelWeights& dims, WeightFormat format = {});

  const Tensor& get(const std::string& name) const { return m_.get(name); }
  bool has(const std::string& name) const { return m_.find(name) != nullptr; }
  const ModelWeights& dims() const { return dims_; }  // C, A, H, N, F
  // pip: any *.time_faaaa key makes every time_first a raw bonus (section 4.2).
  bool real_time_first() const { return real_time_first_; }
  [[noreturn]] void fail(const std::string& msg) const;

  // A tensor that must hold exactly n elements (any shape, e.g. [1,1,C] or [C]).
  std::vector<float> vec(const std::string& name, int64_t n) const;
  // A stored nn.Linear weight [out, in].
  Linear linear(const std::string& name, int out, int in) const;
  // A matrix stored [in, out] and used as x @ M (LoRA): transposed into [out, in].
  Linear lora(const std::string& name, int in, int out) const;
  // A LoRA pair n1 [C, D], n2 [D, A] (D read from n1).
  void lora_pair(const std::string& n1, const std::string& n2, Linear& m1, Linear& m2) const;
  // Per-head values ([H] or [H,1]) broadcast to [H*N]; per-channel ([H,N], [A]) kept.
  std::vector<float> per_channel(const std::string& name) const;
  // The v5/v6 bonus: time_faaaa raw, or time_first (exp'd unless real_time_first()).
  std::vector<float> bonus(const std::string& prefix) const;

  // `data` is an [in, out] block (already converted): transposed into [out, in].
  static Linear transpose_in_out(const float* data, int in, int out);

 private:
  const Model& m_;
  const ModelWeights& dims_;
  WeightFormat format_;
  bool real_time_first_ = false;
};

}  // namespace rwkv
