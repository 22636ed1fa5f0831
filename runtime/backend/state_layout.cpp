// runtime/backend/state_layout.cpp: official state order and initial state
// (rwkv-spec.md sections 3.2, 4.3, 5.4, 6.2).
#include "runtime/backend/state_layout.h"

#include <cstdio>

namespace rwkv {

StateLayout::StateLayout(const ModelInfo& info) {
  const int C = info.n_embd, L = info.n_layer;
  if (C <= 0 || L <= 0) throw Error("state layout: model has n_embd=" + std::to_string(C) +
                                    ", n_layer=" + std::to_string(L));
  auto add = [&](const std::string& name, std::vector<int64_t> shape) {
    StateTensor t;
    t.name = name;
    t.shape = std::move(shape);
    t.numel = 1;
    for (int64_t d : t.shape) t.numel *= static_cast<size_t>(d);
    t.offset = size_;
    size_ += t.numel;
    tensors_.push_back(t);
    return t.offset;
  };
  layers_.resize(static_cast<size_t>(L));
  for (int l = 0; l < L; ++l) {
    const std::string p = "blocks." + std::to_string(l) + ".";
    LayerStateOffsets& o = layers_[static_cast<size_t>(l)];
    o.att_x = add(p + "att.x_prev", {C});
    if (info.arch == Arch::v4) {
      const int A = info.n_att > 0 ? info.n_att : C;
      o.aa = add(p + "att.aa", {A});
      o.bb = add(p + "att.bb", {A});
      o.pp = add(p + "att.pp", {A});
    } else {
      const int H = info.n_head, N = info.head_size;
      if (H <= 0 || N <= 0)
        throw Error("state layout: model of version " + std::string(arch_name(info.arch)) +
                    " has n_head=" + std::to_string(H) + ", head_size=" + std::to_string(N));
      o.kv = add(p + "att.kv", {H, N, N});
    }
    o.ffn_x = add(p + "ffn.x_prev", {C});
  }
}

std::string StateLayout::file_name(size_t i) const {
  char num[16];
  std::snprintf(num, sizeof num, "%03zu_", i);
  return num + tensors_.at(i).name + ".f32";
}

std::vector<float> initial_state(const Model& model, const StateLayout& layout) {
  const ModelInfo& info = model.info;
  std::vector<float> s(layout.size(), 0.0f);
  for (int l = 0; l < layout.n_layer(); ++l) {
    const LayerStateOffsets& o = layout.layer(l);
    if (info.arch == Arch::v4) {
      const size_t A = o.bb - o.aa;
      for (size_t i = 0; i < A; ++i) s[o.pp + i] = -1e30f;  // "minus infinity" (spec 3.2)
    }
    if (info.arch == Arch::v6) {
      const Tensor* ts = model.find("blocks." + std::to_string(l) + ".att.time_state");
      if (!ts) continue;
      const int64_t H = info.n_head, N = info.head_size;
      if (ts->numel() != H * N * N)
        throw Error("model " + info.path + ": " + ts->name + " has " +
                    std::to_string(ts->numel()) + " elements, expected H*N*N = " +
                    std::to_string(H * N * N));
      const std::vector<float> v = ts->to_f32();  // [h][v][k]
      float* kv = s.data() + o.kv;                   // [h][k][v]
      for (int64_t h = 0; h < H; ++h)
        for (int64_t i = 0; i < N; ++i)
          for (int64_t j = 0; j < N; ++j) kv[(h * N + j) * N + i] = v[static_cast<size_t>((h * N + i) * N + j)];
    }
  }
  return s;
}

}  // namespace rwkv
