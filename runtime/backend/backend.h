// runtime/backend/backend.h: the interface every compute backend implements
// (runtime/cpu/ now, runtime/cuda/ later), so callers never care which one runs.
//
// One forward() call runs any number of independent sequences, each with its
// own token span and its own recurrent state, updated in place. A span of one
// token is "RNN mode"; a longer span is "sequence mode" (prefill). Both give the
// same result (docs/rwkv-math.md section 1.1, "Prefill = RNN").
//
// The state of one sequence is one flat float32 buffer in the official per-
// version order (see state_layout.h), so it can be saved, compared with the
// golden files and restored bit for bit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/backend/state_layout.h"
#include "runtime/model/model.h"

namespace rwkv {

class Sampler;  // runtime/sampler/sampler.h

// Which logits a forward() call writes.
enum class LogitsMode {
  none,  // nothing (e.g. a prompt chunk whose logits are not needed)
  last,  // one row per sequence: the logits after its last token  -> [n_seq, V]
  all,   // one row per token, sequences one after another          -> [sum T, V]
};

// One sequence of a batch.
struct SeqInput {
  const int32_t* tokens = nullptr;  // token ids, each in [0, n_vocab)
  size_t n_tokens = 0;              // >= 1
  float* state = nullptr;           // StateLayout::size() floats, read and updated in place,
                                    // in the backend's memory space (host memory for "cpu")
  size_t state_floats = 0;          // size of `state` in floats; must equal StateLayout::size()
};

struct Batch {
  std::vector<SeqInput> seqs;
  LogitsMode logits = LogitsMode::all;

  // Number of logits rows forward() writes for this batch.
  size_t logits_rows() const;
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual const char* name() const = 0;  // "cpu", "cuda"
  virtual const ModelInfo& info() const = 0;
  virtual const StateLayout& state_layout() const = 0;

  // Writes the initial state of one sequence (size() floats): zeros, except v4
  // att.pp = -1e30 and a v6 att.time_state when the checkpoint has one.
  virtual void init_state(float* state) const = 0;

  // Runs the batch. `logits` receives batch.logits_rows() x n_vocab floats
  // (may be null for LogitsMode::none). Validates everything first (token ids,
  // empty spans, state sizes, null pointers) and throws rwkv::Error before any
  // state is touched. Sequences must not share a state buffer.
  virtual void forward(const Batch& batch, float* logits) = 0;

  // Runs the batch (LogitsMode::last whatever batch.logits says) and draws each sequence's next
  // token with its sampler, samplers[i] for batch.seqs[i] (Sampler::next: bans, penalties,
  // sample_logits; a stop token is reported in tokens[i] and not counted, see Sampler::is_stop);
  // the drawn tokens are not fed. Each sampler's step bias (Sampler::set_step_bias) applies to
  // this draw and is consumed; a step bias token outside the vocabulary throws InputError before
  // any state is touched. The default runs forward() into host memory and calls
  // Sampler::next. A backend may instead keep the samplers' state in its own memory from the
  // first call that uses them (cuda: device memory, so that only the token ids come back); the
  // host Sampler objects are then stale, and must not be used, until finish_sampling().
  virtual void forward_sample(const Batch& batch, Sampler* const* samplers, int32_t* tokens);

  // Makes the host state of `samplers` current again (penalty counts, random stream) and lets
  // the backend forget them. A no-op for the default forward_sample.
  virtual void finish_sampling(Sampler* const* samplers, size_t n) {
    (void)samplers;
    (void)n;
  }

  // Device memory the backend holds (weights, workspace, state slots); 0 on the CPU.
  virtual size_t device_bytes() const { return 0; }
  // The part of device_bytes() that is weights (quantized matrices in their packed bytes and
  // scales); 0 on the CPU.
  virtual size_t device_weight_bytes() const { return 0; }
};

// A caller's bad input (token ids, empty spans, state buffers, slots, device
// options), as opposed to a failure of a file or of the device. The C API maps
// the kind onto its status codes.
struct InputError : Error {
  enum class Kind {
    argument,      // a bad value: token outside the vocabulary, empty span, null pointer
    out_of_range,  // a state slot outside the pool
    unsupported,   // an option this build or device does not offer
  };
  InputError(Kind k, const std::string& msg) : Error(msg), kind(k) {}
  Kind kind;
};

// Checks the token spans of a batch: at least one sequence, non-empty spans,
// non-null token pointers, every id in [0, n_vocab). The one token-range check
// of the runtime: validate_batch calls it, and so does forward_chunked
// (runtime/engine/chunked_forward.h) over whole spans before its first round.
// Throws InputError describing the first problem.
void validate_spans(const Batch& batch, int32_t n_vocab);

// Throws InputError when a sampler's step bias (Sampler::set_step_bias) names a token outside
// [0, n_vocab); null samplers are skipped. Backends call it at the start of forward_sample().
void validate_step_bias(Sampler* const* samplers, size_t n, int32_t n_vocab);

// validate_spans, then the states (right size, non-null, distinct) and the
// logits pointer; throws InputError describing the first problem. Backends
// call it at the start of forward().
void validate_batch(const Batch& batch, const ModelInfo& info, const StateLayout& layout,
                    bool logits_null);

}  // namespace rwkv
