// bench/synthetic_models.h: the synthetic models `rwkv-run bench
// --synthetic NAME` builds in memory, with no download.
//
// NAME is "v<version>-<size>": the shapes of a released model, taken from
// runtime/model/synth.h (its table cites the released checkpoints), e.g.
//   v7-0.1B v7-0.4B v7-1.5B v7-2.9B v7-7.2B
//   v4-169M v4-430M v4-1.5B v4-3B v4-7B v4-14B
//   v5-0.4B v5-1.5B v5-3B v5-7B            (v5 means 5.2; "v5.2-..." also works)
//   v6-1.6B v6-3B v6-7B v6-14B
// or "v<version>-tiny": a small shape of our own (C 128, L 2, V 512; not a
// released model) so tests can run the whole benchmark path in seconds.
// The model itself is built by make_synth_model (runtime/model/synth.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/model/model.h"
#include "runtime/model/synth.h"

namespace rwkv {
namespace bench {

// Throws rwkv::Error listing the accepted names when `name` is not one.
SynthSpec synthetic_spec(const std::string& name);

// Every accepted name (released shapes first, then the tiny ones).
std::vector<std::string> synthetic_names();

}  // namespace bench
}  // namespace rwkv
