// runtime/capi/capi_sampler.cpp: rwkv_sampler_* of rwkv_run.h.
#include <cmath>
#include <cstring>

#include "runtime/capi/capi_internal.h"
#include "runtime/sampler/penalty_weight.h"

using rwkv::capi::ApiError;

namespace {

rwkv_sampler_params default_params() {
  const rwkv::SamplerParams d;  // pip's PIPELINE_ARGS
  rwkv_sampler_params p;
  p.temperature = d.temperature;
  p.top_p = d.top_p;
  p.top_k = d.top_k;
  p.alpha_presence = d.alpha_presence;
  p.alpha_frequency = d.alpha_frequency;
  p.alpha_decay = d.alpha_decay;
  p.banned_tokens = nullptr;
  p.n_banned_tokens = 0;
  p.stop_tokens = nullptr;
  p.n_stop_tokens = 0;
  p.seed = d.seed;
  p.tokenizer = nullptr;
  return p;
}

void init(const rwkv_sampler_params* p, rwkv_sampler** out) {
  if (!p) throw ApiError(RWKV_ERR_INVALID_ARGUMENT, "rwkv_sampler_init: params is NULL");
  auto bad = [](const std::string& m) { return ApiError(RWKV_ERR_INVALID_ARGUMENT, "rwkv_sampler_init: " + m); };
  if (!(p->temperature >= 0) || std::isinf(p->temperature))
    throw bad("temperature must be a finite number >= 0");
  if (!(p->top_p >= 0 && p->top_p <= 1)) throw bad("top_p must be in [0, 1]");
  if (p->top_k < 0) throw bad("top_k must not be negative");
  if (!std::isfinite(p->alpha_presence) || !std::isfinite(p->alpha_frequency) ||
      !std::isfinite(p->alpha_decay))
    throw bad("alpha_presence, alpha_frequency and alpha_decay must be finite");
  if (!p->banned_tokens && p->n_banned_tokens) throw bad("banned_tokens is NULL but n_banned_tokens is not 0");
  if (!p->stop_tokens && p->n_stop_tokens) throw bad("stop_tokens is NULL but n_stop_tokens is not 0");
  if (p->tokenizer && !rwkv::capi::valid(p->tokenizer)) throw bad("tokenizer is not a tokenizer handle");

  rwkv::SamplerParams sp;
  sp.temperature = p->temperature;
  sp.top_p = p->top_p;
  sp.top_k = p->top_k;
  sp.alpha_presence = p->alpha_presence;
  sp.alpha_frequency = p->alpha_frequency;
  sp.alpha_decay = p->alpha_decay;
  if (p->n_banned_tokens) sp.token_ban.assign(p->banned_tokens, p->banned_tokens + p->n_banned_tokens);
  if (p->n_stop_tokens) sp.token_stop.assign(p->stop_tokens, p->stop_tokens + p->n_stop_tokens);
  sp.seed = p->seed;
  rwkv::PenaltyWeightFn weight;
  if (p->tokenizer) {
    // pip's weights, copied now so the tokenizer need not outlive the sampler.
    const rwkv::Tokenizer& tok = *p->tokenizer->tokenizer;
    auto table = std::make_shared<std::vector<double>>(size_t(tok.vocab_size()));
    for (int32_t t = 0; t < tok.vocab_size(); ++t) (*table)[size_t(t)] = rwkv::official_penalty_weight(tok, t);
    weight = [table](int32_t t) { return t >= 0 && size_t(t) < table->size() ? (*table)[size_t(t)] : 1.0; };
  }
  auto s = std::make_unique<rwkv_sampler>();
  s->sampler = std::make_unique<rwkv::Sampler>(std::move(sp), std::move(weight));
  *out = s.release();
}

}  // namespace

extern "C" {

rwkv_sampler_params rwkv_sampler_default_params(void) { return default_params(); }

rwkv_status rwkv_sampler_init(const rwkv_sampler_params* params, rwkv_sampler** out, char* error,
                              size_t error_size) {
  if (!out) {
    rwkv::capi::copy_message("rwkv_sampler_init: out is NULL", error, error_size);
    return RWKV_ERR_INVALID_ARGUMENT;
  }
  *out = nullptr;
  return rwkv::capi::guarded_to_buffer(error, error_size, RWKV_ERR_INVALID_ARGUMENT,
                                       [&] { init(params, out); });
}

void rwkv_sampler_free(rwkv_sampler** sampler) {
  if (!sampler || !*sampler) return;
  rwkv_sampler* s = *sampler;
  *sampler = nullptr;
  if (!rwkv::capi::valid(s)) return;
  s->magic = 0;
  delete s;
}

const char* rwkv_sampler_last_error(const rwkv_sampler* sampler) {
  if (!sampler) return "sampler is NULL";
  if (!rwkv::capi::valid(sampler)) return "not a sampler handle";
  return sampler->errors.get();
}

rwkv_status rwkv_sampler_sample(rwkv_sampler* sampler, const float* logits, size_t n_logits,
                                int32_t* token, int32_t* is_stop) {
  if (!rwkv::capi::valid(sampler)) return RWKV_ERR_INVALID_ARGUMENT;
  // Bad logits (NaN, all -inf after bans) are the caller's input.
  return rwkv::capi::guarded(sampler->errors, RWKV_ERR_INVALID_ARGUMENT, [&] {
    if (!logits) throw ApiError(RWKV_ERR_INVALID_ARGUMENT, "rwkv_sampler_sample: logits is NULL");
    if (n_logits == 0) throw ApiError(RWKV_ERR_INVALID_ARGUMENT, "rwkv_sampler_sample: n_logits is 0");
    if (n_logits > size_t(INT32_MAX))
      throw ApiError(RWKV_ERR_INVALID_ARGUMENT, "rwkv_sampler_sample: n_logits is too large");
    if (!token) throw ApiError(RWKV_ERR_INVALID_ARGUMENT, "rwkv_sampler_sample: token is NULL");
    sampler->scratch.assign(logits, logits + n_logits);
    const rwkv::Sampler::Result r = sampler->sampler->next(sampler->scratch.data(), n_logits);
    *token = r.token;
    if (is_stop) *is_stop = r.stop ? 1 : 0;
  });
}

rwkv_status rwkv_sampler_reset(rwkv_sampler* sampler) {
  if (!rwkv::capi::valid(sampler)) return RWKV_ERR_INVALID_ARGUMENT;
  sampler->sampler->reset_penalties();
  return RWKV_OK;
}

rwkv_status rwkv_sampler_set_seed(rwkv_sampler* sampler, uint64_t seed) {
  if (!rwkv::capi::valid(sampler)) return RWKV_ERR_INVALID_ARGUMENT;
  sampler->sampler->rng().reseed(seed);
  return RWKV_OK;
}

}  // extern "C"
