// runtime/engine/chunked_forward.h: the one place where long token spans are
// cut into rounds (the engine, the C API and the generation loop use it).
//
// A span longer than chunk_len tokens runs as several forward() calls of at
// most chunk_len tokens each; docs/rwkv-math.md section 1.1: prefill equals
// RNN, so the split does not change the result beyond rounding. Logits are
// computed only in the rounds where a sequence ends (LogitsMode::last), never
// for the rounds before.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "runtime/backend/backend.h"

namespace rwkv {

// Runs every sequence of `seqs` (token spans of any length, each with its own
// state in the backend's memory space) through `backend` in rounds of at most
// chunk_len tokens per sequence. Row i of `logits` (n_vocab floats each, host
// memory; null for none) receives the logits after seqs[i]'s last token.
// Checks the whole spans (validate_spans) and chunk_len before the first
// round, so bad input throws InputError with no state touched; a failure in a
// later round leaves the states partly advanced.
void forward_chunked(Backend& backend, const std::vector<SeqInput>& seqs, size_t chunk_len,
                     float* logits);

// One sequence: `tokens` run through the model in chunks of chunk_len,
// updating `state`; `logits` (n_vocab floats, or null) receives the logits
// after the last token.
void prefill(Backend& backend, float* state, size_t state_floats, const int32_t* tokens,
             size_t n_tokens, size_t chunk_len, float* logits);

// prefill() whose last chunk goes through Backend::forward_sample: returns the token `sampler`
// draws after the last token (not yet fed; a stop token is returned, not counted). The same
// checks and the same chunks as prefill().
int32_t prefill_and_sample(Backend& backend, float* state, size_t state_floats, const int32_t* tokens,
                           size_t n_tokens, size_t chunk_len, Sampler& sampler);

}  // namespace rwkv
