// runtime/cpu/cpu_weights.h: the CPU backend's own fp32 copy of a model, with
// pip's load-time transforms applied (rwkv-spec.md 3.1, 4.2, 5.1, 6.1):
//   ln0 folded into the embedding table (bf16-rounded for a bf16 v4-v6
//   checkpoint, as pip's RWKV class does), v4 decay -exp(d), v5 decay
//   exp(-exp(d)), v5 time_first -> exp(u) unless the checkpoint has time_faaaa,
//   per-head decay/bonus broadcast to every channel of the head, LoRA matrices
//   transposed into Linear [out, in] form.
#pragma once

#include <vector>

#include "runtime/cpu/cpu_ops.h"
#include "runtime/model/model.h"

namespace rwkv {
namespace cpu {

using Vec = std::vector<float>;

struct LayerWeights {
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

struct CpuWeights {
  Arch arch = Arch::v4;
  int C = 0, L = 0, V = 0, H = 0, N = 0, A = 0, F = 0;
  Vec emb;  // [V, C], ln0 already applied
  std::vector<LayerWeights> layers;
  Vec ln_out_w, ln_out_b;
  Linear head;  // [V, C]
};

// Builds the fp32 copy; throws rwkv::Error naming a missing or misshaped tensor.
CpuWeights load_cpu_weights(const Model& model);

// The same in pieces, so that a loader can hold one layer at a time (the CUDA
// backend uploads layer by layer): everything but the layers (`layers` left
// empty), then layer l.
CpuWeights load_cpu_globals(const Model& model);
LayerWeights load_cpu_layer(const Model& model, const CpuWeights& globals, int l);

}  // namespace cpu
}  // namespace rwkv
