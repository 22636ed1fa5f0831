// runtime/backend/state_layout.cpp: official state order and initial state
// (docs/rwkv-math.md sections 3.2, 4.3, 5.4, 6.2); the pieces of each version are
// its ArchSpec's (runtime/arch/).
#include "runtime/backend/state_layout.h"

#include <algorithm>
#include <cstdio>

#include "runtime/arch/arch.h"

namespace rwkv {

namespace {

// Where a piece lives in LayerStateOffsets.
size_t& slot_offset(LayerStateOffsets& o, StateSlot slot) {
  switch (slot) {
    case StateSlot::att_x: return o.att_x;
    case StateSlot::aa: return o.aa;
    case StateSlot::bb: return o.bb;
    case StateSlot::pp: return o.pp;
    case StateSlot::kv: return o.kv;
    case StateSlot::ffn_x: return o.ffn_x;
  }
  throw Error("state layout: unknown state slot");
}

}  // namespace

StateLayout::StateLayout(const ModelInfo& info) {
  const int C = info.n_embd, L = info.n_layer;
  if (C <= 0 || L <= 0) throw Error("state layout: model has n_embd=" + std::to_string(C) +
                                    ", n_layer=" + std::to_string(L));
  const ArchSpec& spec = arch_spec(info.arch);
  if (spec.has_heads() && (info.n_head <= 0 || info.head_size <= 0))
    throw Error("state layout: model of version " + std::string(arch_name(info.arch)) + " has n_head=" +
                std::to_string(info.n_head) + ", head_size=" + std::to_string(info.head_size));
  const std::vector<StatePiece> pieces = spec.layer_state(info);
  layers_.resize(static_cast<size_t>(L));
  for (int l = 0; l < L; ++l) {
    const std::string p = "blocks." + std::to_string(l) + ".";
    for (const StatePiece& piece : pieces) {
      StateTensor t;
      t.name = p + piece.name;
      t.shape = piece.shape;
      t.numel = 1;
      for (int64_t d : t.shape) t.numel *= static_cast<size_t>(d);
      t.offset = size_;
      t.initial = piece.initial;
      size_ += t.numel;
      slot_offset(layers_[static_cast<size_t>(l)], piece.slot) = t.offset;
      tensors_.push_back(t);
    }
  }
}

std::string StateLayout::file_name(size_t i) const {
  char num[16];
  std::snprintf(num, sizeof num, "%03zu_", i);
  return num + tensors_.at(i).name + ".f32";
}

std::vector<float> initial_state(const Model& model, const StateLayout& layout) {
  std::vector<float> s(layout.size(), 0.0f);
  for (const StateTensor& t : layout.tensors())
    if (t.initial != 0.0f) std::fill(s.begin() + long(t.offset), s.begin() + long(t.offset + t.numel), t.initial);
  const ArchSpec& spec = arch_spec(model.info.arch);
  for (int l = 0; l < layout.n_layer(); ++l) {
    const size_t kv = layout.layer(l).kv;
    if (kv != SIZE_MAX) spec.load_tuned_state(model, l, s.data() + kv);
  }
  return s;
}

}  // namespace rwkv
