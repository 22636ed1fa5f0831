// runtime/state/model_fingerprint.cpp: see model_fingerprint.h.
#include "runtime/state/model_fingerprint.h"

#include <cstring>

#include "runtime/state/fnv1a.h"

namespace rwkv {

ModelFingerprint model_fingerprint(const Model& model) {
  const ModelInfo& i = model.info;
  Fnv1a64 h;
  const int64_t values[] = {int64_t(i.arch), i.n_embd,   i.n_layer,    i.n_vocab,     i.n_head,
                            i.head_size,     i.n_att,    i.n_ffn,      i.lora_w,      i.lora_a,
                            i.lora_v,        i.lora_g,   i.lora_maa,   i.lora_decay,  i.has_time_state};
  for (int64_t v : values) h.add_u64(uint64_t(v));

  Fnv1a64 w;
  constexpr int64_t kSamples = 16;
  for (const auto& [name, t] : model.tensors()) {  // std::map: sorted by name
    w.add(name.data(), name.size());
    w.add_u64(t.shape.size());
    for (int64_t d : t.shape) w.add_u64(uint64_t(d));
    const int64_t n = t.numel();
    const int64_t k = n < kSamples ? n : kSamples;
    for (int64_t s = 0; s < k; ++s) {
      const float v = t.at(s * n / k);
      uint32_t bits;
      std::memcpy(&bits, &v, 4);
      w.add_u64(bits);
    }
  }
  return {h.value(), w.value()};
}

}  // namespace rwkv
