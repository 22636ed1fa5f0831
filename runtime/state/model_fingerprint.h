// runtime/state/model_fingerprint.h: identifies a model, so that a saved state
// is only loaded into the model it belongs to.
//   hparams: FNV-1a over the architecture and every hyper-parameter of
//            ModelInfo (n_embd, n_layer, n_vocab, n_head, head_size, n_att,
//            n_ffn, LoRA widths, time_state flag): the state layout follows.
//   weights: FNV-1a over every tensor's name and shape and 16 of its elements
//            (evenly spaced, first included) as float32 bits. Values, not
//            stored bytes: the same weights give the same fingerprint from a
//            .pth, a safetensors or an fp32 rwkv.cpp file; a fine-tune, a
//            quantised copy or a bf16 copy of an fp32 model (values rounded)
//            gives another one.
#pragma once

#include <cstdint>

#include "runtime/model/model.h"

namespace rwkv {

struct ModelFingerprint {
  uint64_t hparams = 0;
  uint64_t weights = 0;
};

ModelFingerprint model_fingerprint(const Model& model);

}  // namespace rwkv
