// runtime/arch/arch_common.h: schema pieces several versions share (internal
// to runtime/arch).
#pragma once

#include <string>
#include <vector>

#include "runtime/arch/arch.h"
#include "runtime/arch/weights.h"

namespace rwkv {
namespace arch_common {

inline Shape mix_shape(const ModelInfo& in) { return {1, 1, in.n_embd}; }

// att.receptance/key/value [A, C] and att.output [C, A].
inline void add_projections(const ModelInfo& in, const std::string& att, std::vector<TensorSpec>& out) {
  const int64_t A = in.n_att, C = in.n_embd;
  for (const char* n : {"receptance.weight", "key.weight", "value.weight"}) out.push_back({att + n, {A, C}});
  out.push_back({att + "output.weight", {C, A}});
}

// The FFN: its mixing vectors, then key [F, C], value [C, F] and (v4-v6) receptance [C, C].
inline void add_channel_mix(const ModelInfo& in, const std::string& ffn, std::vector<const char*> mixes,
                            bool receptance, std::vector<TensorSpec>& out) {
  const int64_t C = in.n_embd, F = in.n_ffn;
  for (const char* n : mixes) out.push_back({ffn + n, mix_shape(in)});
  out.push_back({ffn + "key.weight", {F, C}});
  out.push_back({ffn + "value.weight", {C, F}});
  if (receptance) out.push_back({ffn + "receptance.weight", {C, C}});
}

// x_prev of both blocks around the attention state (v5, v6, v7: the [H,N,N] matrix).
inline std::vector<StatePiece> matrix_state(const ModelInfo& in) {
  const int64_t C = in.n_embd, H = in.n_head, N = in.head_size;
  return {{StateSlot::att_x, "att.x_prev", {C}},
          {StateSlot::kv, "att.kv", {H, N, N}},
          {StateSlot::ffn_x, "ffn.x_prev", {C}}};
}

// The v4-v6 FFN mixes and receptance (v7 has x_k only, no receptance).
inline void load_channel_mix(const WeightReader& r, const std::string& ffn, const char* mix_k,
                             const char* mix_r, LayerWeights& L) {
  const int C = r.dims().C;
  L.ffn_mix_k = r.vec(ffn + mix_k, C);
  L.ffn_mix_r = r.vec(ffn + mix_r, C);
  L.ffn_r = r.linear(ffn + "receptance.weight", C, C);
}

// rwkv.cpp stores every mixing vector squeezed to [C].
inline std::vector<GgmlRule> time_mix_rules() {
  return {{".time_mix_k", GgmlShape::mix}, {".time_mix_v", GgmlShape::mix},
          {".time_mix_r", GgmlShape::mix}, {".time_mix_g", GgmlShape::mix}};
}

}  // namespace arch_common
}  // namespace rwkv
