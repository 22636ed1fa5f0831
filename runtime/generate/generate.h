// runtime/generate/generate.h: the generation loop, shared by the C API and
// the CLI. Backend-agnostic: it calls Backend::forward with the state pointer
// the caller gives (host memory for "cpu", device memory for "cuda") and never
// reads or writes the state itself.
//
// What generate() does (pip PIPELINE.generate, docs/rwkv-math.md section 8.2, plus text
// streaming):
//   1. The prompt is prefilled in chunks of chunk_len tokens (prefill() of
//      runtime/engine/chunked_forward.h): LogitsMode::none for every chunk but
//      the last, ::last for the last (docs/rwkv-math.md section 1.1: chunked
//      prefill gives the same result as one call).
//   2. The sampler picks a token from the logits: bans, presence/frequency
//      penalties (prompt tokens not counted), sample_logits; a stop token ends
//      generation and is neither kept nor fed to the model; otherwise the
//      sampler decays and counts it (runtime/sampler/sampler.h).
//   3. The token's bytes go through Utf8Stream (complete characters only) and
//      StopStringFilter (a stop string ends generation and is not emitted);
//      the resulting text goes to on_text, which returns false to stop.
//   4. The token is fed back (one token, RNN mode) and the loop repeats until
//      a stop token, a stop string, the callback, or max_tokens tokens.
// Steps 1-2 and 4 go through Backend::forward_sample (the prompt's last chunk
// and every fed token also draw the next token), so on cuda the sampler runs
// on the device and only token ids come back; the sampler's host state is
// stale during the call (on_text must not use it) and current again on
// return, also when generate() throws (Backend::finish_sampling).
// On return the state has consumed the prompt and every token of
// GenerateResult::tokens, in order (the last one with LogitsMode::none), so a
// later call continues the same text. Cancelled during the prompt
// (GenerateOptions::cancel, checked before every chunk), generate() returns
// with reason callback, no token drawn and the state after exactly the first
// prompt_consumed tokens (a multiple of chunk_len). At the end (token budget or stop token)
// held-back bytes are flushed: an incomplete character as U+FFFD, a partial
// stop string as text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "runtime/backend/backend.h"
#include "runtime/engine/chunked_forward.h"  // prefill: the one chunking of the runtime
#include "runtime/sampler/sampler.h"
#include "runtime/tokenizer/tokenizer.h"

namespace rwkv {

// Polled by generate() before each prefill chunk; true asks it to stop (e.g. the CLI's Ctrl-C flag).
using CancelCheck = std::function<bool()>;

struct GenerateOptions {
  size_t max_tokens = 256;  // generated tokens at most (the stop token not counted); 0: prefill only
  size_t chunk_len = 256;   // prompt tokens per forward() call; >= 1
  std::vector<std::string> stop_strings;  // UTF-8; empty strings ignored
  CancelCheck cancel;       // empty: never cancelled
};

enum class StopReason {
  max_tokens,   // the token budget is spent
  stop_token,   // the sampler drew one of its stop tokens
  stop_string,  // the text contained a stop string
  callback,     // on_text returned false
};
const char* stop_reason_name(StopReason r);  // "max_tokens", "stop_token", ...

struct GenerateResult {
  std::vector<int32_t> tokens;  // generated tokens, fed to the model; no stop token
  std::string text;             // every piece given to on_text, concatenated
  StopReason reason = StopReason::max_tokens;
  int32_t stop_token = -1;      // the stop token drawn (reason stop_token), else -1
  double prefill_seconds = 0;   // wall time of the prompt's prefill
  double decode_seconds = 0;    // wall time of sampling, streaming and feeding the generated tokens
  size_t prompt_consumed = 0;   // prompt tokens the state has consumed (all of them unless cancelled)
};

// Receives a piece of complete UTF-8 text (never empty); returns false to stop.
using TextCallback = std::function<bool(const std::string& piece)>;

// Generates from `prompt` (token ids, at least one). `tokenizer` gives the
// tokens' bytes and must have the model's vocabulary size; `sampler` keeps its
// penalty counts and random stream across calls (reset_penalties() for pip's
// fresh start). `on_text` may be empty. Throws rwkv::Error on bad input or a
// backend failure (the state is then partly advanced); exceptions thrown by
// on_text pass through.
GenerateResult generate(Backend& backend, float* state, size_t state_floats,
                        const Tokenizer& tokenizer, Sampler& sampler,
                        const std::vector<int32_t>& prompt, const GenerateOptions& options,
                        const TextCallback& on_text);

}  // namespace rwkv
