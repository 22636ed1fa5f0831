// runtime/model/synth.h: synthetic checkpoints with the shapes of released
// RWKV models and realistic value ranges, for tests and benchmarks.
//
// Values are a deterministic function of (seed, tensor name, element index),
// so a tensor can be produced in pieces and a multi-GB file written one
// tensor at a time without holding the model in memory.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/model/model.h"
#include "runtime/model/safetensors_writer.h"

namespace rwkv {

struct SynthSpec {
  Arch arch = Arch::v7;
  std::string size;  // e.g. "1.5B", or "custom"
  int n_embd = 0, n_layer = 0, n_vocab = 0, n_ffn = 0, head_size = 64;
  int lora_w = 0, lora_a = 0, lora_v = 0, lora_g = 0;  // v7
  int lora_maa = 0, lora_decay = 0;                    // v6
};

// The released shapes (version "4", "5.2", "6" or "7"; size as in the release
// names, e.g. "169M", "1.5B", "7.2B"). Throws rwkv::Error listing the known sizes.
SynthSpec synth_spec(const std::string& version, const std::string& size);
std::vector<std::string> synth_sizes(const std::string& version);

// Official tensor names and shapes of a spec, all with dtype `dtype`.
std::vector<SafetensorsEntry> synth_tensors(const SynthSpec& spec, DType dtype);

// Elements [begin, begin + count) of tensor `name`, as fp32.
void synth_values(const SynthSpec& spec, const std::string& name, uint64_t seed, int64_t begin,
                  int64_t count, float* out);

// The whole model in memory (for small specs).
std::unique_ptr<Model> make_synth_model(const SynthSpec& spec, DType dtype, uint64_t seed);

// Streams the model into a safetensors file (atomically; see SafetensorsWriter).
void write_synth_safetensors(const SynthSpec& spec, DType dtype, uint64_t seed, const std::string& path,
                             ProgressFn progress = nullptr, void* progress_user = nullptr);

}  // namespace rwkv
