// runtime/capi/capi_generate.cpp: rwkv_generate of rwkv_run.h, a thin layer
// over the generation loop (runtime/generate/generate.h).
#include <algorithm>
#include <cstring>

#include "runtime/capi/capi_internal.h"
#include "runtime/generate/generate.h"
#include "runtime/tokenizer/unicode_text.h"

using rwkv::capi::ApiError;

namespace {

rwkv_generate_params default_params() {
  rwkv_generate_params p;
  p.max_tokens = 256;
  p.stop_strings = nullptr;
  p.n_stop_strings = 0;
  p.on_text = nullptr;
  p.user_data = nullptr;
  p.tokens_out = nullptr;
  p.tokens_out_capacity = 0;
  p.keep_penalties = 0;
  return p;
}

rwkv_stop_reason stop_reason(rwkv::StopReason r) {
  switch (r) {
    case rwkv::StopReason::max_tokens: return RWKV_STOP_MAX_TOKENS;
    case rwkv::StopReason::stop_token: return RWKV_STOP_TOKEN;
    case rwkv::StopReason::stop_string: return RWKV_STOP_STRING;
    case rwkv::StopReason::callback: return RWKV_STOP_CALLBACK;
  }
  return RWKV_STOP_MAX_TOKENS;
}

}  // namespace

extern "C" {

rwkv_generate_params rwkv_generate_default_params(void) { return default_params(); }

rwkv_status rwkv_generate(rwkv_model* model, int32_t slot, const rwkv_tokenizer* tokenizer,
                          rwkv_sampler* sampler, const char* prompt, size_t prompt_len,
                          const rwkv_generate_params* params_in, rwkv_generate_result* result) {
  if (!rwkv::capi::valid(model)) return RWKV_ERR_INVALID_ARGUMENT;
  return rwkv::capi::guarded(model->errors, RWKV_ERR_INTERNAL, [&] {
    model->engine->check_slot(slot);
    if (!rwkv::capi::valid(tokenizer))
      throw ApiError(RWKV_ERR_INVALID_ARGUMENT, "rwkv_generate: tokenizer is NULL or not a tokenizer");
    if (!rwkv::capi::valid(sampler))
      throw ApiError(RWKV_ERR_INVALID_ARGUMENT, "rwkv_generate: sampler is NULL or not a sampler");
    if (!prompt && prompt_len > 0)
      throw ApiError(RWKV_ERR_INVALID_ARGUMENT, "rwkv_generate: prompt is NULL but prompt_len is not 0");
    const rwkv_generate_params p = params_in ? *params_in : default_params();
    if (p.max_tokens < 0) throw ApiError(RWKV_ERR_INVALID_ARGUMENT, "rwkv_generate: max_tokens is negative");
    if (!p.stop_strings && p.n_stop_strings)
      throw ApiError(RWKV_ERR_INVALID_ARGUMENT, "rwkv_generate: stop_strings is NULL but n_stop_strings is not 0");
    if (!p.tokens_out && p.tokens_out_capacity)
      throw ApiError(RWKV_ERR_INVALID_ARGUMENT,
                     "rwkv_generate: tokens_out is NULL but tokens_out_capacity is not 0");
    rwkv::GenerateOptions o;
    o.max_tokens = size_t(p.max_tokens);
    o.chunk_len = model->engine->chunk_len();
    for (size_t i = 0; i < p.n_stop_strings; ++i) {
      if (!p.stop_strings[i])
        throw ApiError(RWKV_ERR_INVALID_ARGUMENT, "rwkv_generate: stop_strings[" + std::to_string(i) + "] is NULL");
      o.stop_strings.emplace_back(p.stop_strings[i]);
      if (!rwkv::is_valid_utf8(o.stop_strings.back()))
        throw ApiError(RWKV_ERR_INVALID_ARGUMENT,
                       "rwkv_generate: stop_strings[" + std::to_string(i) + "] is not valid UTF-8");
    }
    const rwkv::Tokenizer& tok = *tokenizer->tokenizer;
    if (tok.vocab_size() != model->info.n_vocab)
      throw ApiError(RWKV_ERR_INVALID_ARGUMENT,
                     "rwkv_generate: the tokenizer (\"" + std::string(tok.kind()) + "\", " +
                         std::to_string(tok.vocab_size()) + " ids) does not fit the model's " +
                         std::to_string(model->info.n_vocab) + "-token vocabulary");
    const std::vector<int32_t> ids = tok.encode(prompt_len ? std::string(prompt, prompt_len) : std::string());
    if (ids.empty()) throw ApiError(RWKV_ERR_INVALID_ARGUMENT, "rwkv_generate: the prompt is empty");

    rwkv::TextCallback on_text;
    if (p.on_text) {
      on_text = [&p](const std::string& piece) {
        return p.on_text(piece.c_str(), piece.size(), p.user_data) == 0;
      };
    }
    if (!p.keep_penalties) sampler->sampler->reset_penalties();
    // Behind the engine's lock one forward pass at a time, so other threads
    // can use other slots between the steps of a generation.
    rwkv::Engine& e = *model->engine;
    const rwkv::GenerateResult r = rwkv::generate(e.locked_backend(), e.slot(slot), e.state_floats(), tok,
                                                  *sampler->sampler, ids, o, on_text);
    if (p.tokens_out)
      std::copy_n(r.tokens.begin(), std::min(r.tokens.size(), p.tokens_out_capacity), p.tokens_out);
    if (result) {
      result->n_prompt_tokens = ids.size();
      result->n_tokens = r.tokens.size();
      result->stop_reason = stop_reason(r.reason);
      result->stop_token = r.stop_token;
      result->prefill_seconds = r.prefill_seconds;
      result->decode_seconds = r.decode_seconds;
    }
  });
}

}  // extern "C"
