// runtime/state/state_file.h: one sequence's recurrent state saved to a file.
//
// Layout (all integers little-endian; 104 + 4*state_floats bytes):
//   offset size  field
//        0    8  magic "RWKVSTAT"
//        8    4  u32 format version (1)
//       12    4  u32 header size in bytes (96)
//       16    8  u64 model fingerprint: hyper-parameters hash (model_fingerprint.h)
//       24    8  u64 model fingerprint: weights hash
//       32    4  u32 architecture (0 "4", 1 "5.0", 2 "5.1", 3 "5.2", 4 "6", 5 "7")
//       36    4  u32 n_layer       } copies of hyper-parameters, for
//       40    4  u32 n_embd        } readable error messages
//       44    4  u32 n_head        }
//       48    4  u32 head_size     }
//       52    4  u32 n_vocab       }
//       56    4  u32 state dtype (0 = float32, the only one)
//       60    4  u32 compute dtype of the saving backend (0 fp32, 1 fp16, 2 bf16;
//                informational: states are float32 on every backend, so a state
//                saved on one device loads on another)
//       64    8  u64 state_floats (StateLayout::size(), runtime/backend/state_layout.h)
//       72    8  u64 payload bytes (= 4 * state_floats)
//       80   16  reserved, zero
//       96    P  payload: the flat state, float32 little-endian, official order
//     96+P    8  u64 checksum: FNV-1a 64 over bytes [0, 96+P)
// Written atomically: a temporary file beside the target (mkstemp), fsync,
// rename over the target.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/model/model.h"
#include "runtime/state/model_fingerprint.h"

namespace rwkv {

// What a state file says about the model it belongs to.
struct StateFileModel {
  ModelFingerprint fingerprint;
  Arch arch = Arch::v4;
  int n_layer = 0, n_embd = 0, n_head = 0, head_size = 0, n_vocab = 0;
  DType compute_dtype = DType::f32;
  uint64_t state_floats = 0;
};

// The StateFileModel of a loaded model.
StateFileModel state_file_model(const Model& model, DType compute_dtype, uint64_t state_floats);

struct StateFileError : Error {
  enum Kind { io, format, corrupt, mismatch };
  StateFileError(Kind k, const std::string& msg) : Error(msg), kind(k) {}
  Kind kind;
};

// Writes `state` (m.state_floats floats) for model `m` to `path` atomically.
// Throws StateFileError(io) naming the path on failure (the target is then unchanged).
void write_state_file(const std::string& path, const StateFileModel& m, const float* state);

// Reads and verifies a state file for model `m` (format, size, checksum, then
// fingerprint) and returns its m.state_floats floats. Throws StateFileError:
// io (cannot open/read), format (not a state file, other version), corrupt
// (size or checksum wrong), mismatch (another model), naming the path.
// A FIFO, socket, device or directory is refused (io) without blocking.
std::vector<float> read_state_file(const std::string& path, const StateFileModel& m);

// The same checks on a whole state file already in memory (`size` bytes at
// `data`; `what` names it in messages): the entry point for fuzzing the header
// parser. Throws StateFileError format, corrupt or mismatch; never reads
// outside [data, data + size).
std::vector<float> parse_state_file(const uint8_t* data, size_t size, const StateFileModel& m,
                                    const std::string& what);

}  // namespace rwkv
