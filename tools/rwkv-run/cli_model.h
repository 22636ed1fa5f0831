// tools/rwkv-run/cli_model.h: the C API handles (rwkv_run.h) as owning C++
// objects, and model + tokenizer loading for `generate` and `chat`, with a
// progress line on stderr when it is a terminal. Failures become cli::CliError
// with one line naming the problem and what to do.
#pragma once

#include <memory>
#include <string>

#include "cli_args.h"
#include "rwkv_run.h"

namespace cli {

struct ModelFree {
  void operator()(rwkv_model* m) const { rwkv_model_free(&m); }
};
struct TokenizerFree {
  void operator()(rwkv_tokenizer* t) const { rwkv_tokenizer_free(&t); }
};
struct SamplerFree {
  void operator()(rwkv_sampler* s) const { rwkv_sampler_free(&s); }
};
using ModelPtr = std::unique_ptr<rwkv_model, ModelFree>;
using TokenizerPtr = std::unique_ptr<rwkv_tokenizer, TokenizerFree>;
using SamplerPtr = std::unique_ptr<rwkv_sampler, SamplerFree>;

struct LoadedModel {
  ModelPtr model;
  TokenizerPtr tokenizer;
  rwkv_model_info info{};
  double load_seconds = 0;  // model file to device, tokenizer included
};

// Loads o.path on o.device with n_slots state slots, and the tokenizer.
LoadedModel load_model_and_tokenizer(const ModelOptions& o, int n_slots);

// Throws a run-time CliError for a failed C API call on `model`:
// "<what>: <rwkv_model_last_error>".
void check(rwkv_status s, const rwkv_model* model, const std::string& what);

// A sampler from the options (bans included), or a usage error naming the bad value.
SamplerPtr make_sampler(const rwkv_sampler_params& p);

}  // namespace cli
