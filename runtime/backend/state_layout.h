// runtime/backend/state_layout.h: the recurrent state of one sequence as one flat
// float32 buffer, in the official (pip) per-version order and shapes, so that
// saved states compare directly with golden/<model>/state_rnn_*/NNN_<name>.f32
// (file NNN is tensor NNN of the list below, concatenated in that order).
//
// Per layer l (docs/rwkv-math.md sections 3.2, 4.3, 5.4, 6.2; each version's pieces
// are its ArchSpec::layer_state in runtime/arch/):
//   v4      blocks.l.att.x_prev [C]   ln1 output of the previous token
//           blocks.l.att.aa     [A]   WKV numerator   (relative to e^pp)
//           blocks.l.att.bb     [A]   WKV denominator (relative to e^pp)
//           blocks.l.att.pp     [A]   running max exponent, initially -1e30
//           blocks.l.ffn.x_prev [C]   ln2 output of the previous token
//   v5, v6  blocks.l.att.x_prev [C]
//           blocks.l.att.kv     [H,N,N] laid out [head][key][value]
//           blocks.l.ffn.x_prev [C]
//   v7      blocks.l.att.x_prev [C]
//           blocks.l.att.kv     [H,N,N] laid out [head][value][key]  (transposed vs v5/v6)
//           blocks.l.ffn.x_prev [C]
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/model/model.h"

namespace rwkv {

struct StateTensor {
  std::string name;            // e.g. "blocks.0.att.kv"
  std::vector<int64_t> shape;  // e.g. {H, N, N}
  size_t offset = 0;           // in floats from the start of the buffer
  size_t numel = 0;
  float initial = 0.0f;        // value in a fresh sequence (v4 att.pp: -1e30)
};

// Offsets (in floats) of one layer's pieces; SIZE_MAX for pieces the version lacks.
struct LayerStateOffsets {
  size_t att_x = SIZE_MAX, aa = SIZE_MAX, bb = SIZE_MAX, pp = SIZE_MAX, kv = SIZE_MAX,
         ffn_x = SIZE_MAX;
};

class StateLayout {
 public:
  StateLayout() = default;
  explicit StateLayout(const ModelInfo& info);

  size_t size() const { return size_; }  // floats per sequence
  const std::vector<StateTensor>& tensors() const { return tensors_; }
  const LayerStateOffsets& layer(int l) const { return layers_.at(static_cast<size_t>(l)); }
  int n_layer() const { return static_cast<int>(layers_.size()); }

  // "NNN_<name>.f32", the golden file name of tensor i.
  std::string file_name(size_t i) const;

 private:
  std::vector<StateTensor> tensors_;
  std::vector<LayerStateOffsets> layers_;
  size_t size_ = 0;
};

// The initial state of a sequence for `model` (size() floats): zeros, v4
// att.pp = -1e30, and for v6 checkpoints with att.time_state the transpose of
// time_state ([h][v][k] in the file) into [h][k][v] (docs/rwkv-math.md section 5.4).
std::vector<float> initial_state(const Model& model, const StateLayout& layout);

}  // namespace rwkv
