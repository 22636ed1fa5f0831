// tools/rwkv-run/cli_model.h: model + engine + tokenizer loading for
// `generate` and `chat` (rwkv-run is a C++ client of the engine,
// runtime/engine/engine.h), with a progress line on stderr when it is a
// terminal. Failures become cli::CliError with one line naming the problem
// and what to do.
#pragma once

#include <memory>
#include <string>

#include "cli_args.h"
#include "runtime/engine/engine.h"
#include "runtime/sampler/sampler.h"
#include "runtime/tokenizer/tokenizer.h"

namespace cli {

struct LoadedModel {
  std::unique_ptr<rwkv::Engine> engine;
  std::unique_ptr<rwkv::Tokenizer> tokenizer;
  rwkv::ModelInfo info;
  std::string version;  // "4", "5.2", "7", ...
  std::string device;   // "cpu", "cuda:N"
  std::string dtype;    // compute dtype of the weights
  double load_seconds = 0;  // model file to device, tokenizer included
};

// Loads o.path on o.device with n_slots state slots, and the tokenizer. A
// device picked by "auto" is named in one note on stderr.
LoadedModel load_model_and_tokenizer(const ModelOptions& o, int n_slots);

// "rwkv-run <cmd>: note: N bytes of the input are not valid UTF-8; ..." on stderr when the
// tokenizer replaced bytes of `text` by U+FFFD (the 20B tokenizer; Tokenizer::replaced_bytes).
void note_replaced_bytes(const char* cmd, const rwkv::Tokenizer& tokenizer, const std::string& text);

// The sampler parameters of the sampling options (temperature, top-p, top-k,
// penalties, bans); stop tokens and the seed are the command's.
rwkv::SamplerParams sampler_params(const SamplerOptions& o);

// Runs f(); an rwkv::Error it throws becomes a run-time CliError "<what>: <message>".
template <class F>
void check(const std::string& what, F&& f) {
  try {
    f();
  } catch (const rwkv::Error& e) {
    runtime_fail(what + ": " + e.what());
  }
}

}  // namespace cli
