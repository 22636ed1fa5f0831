// runtime/capi/capi_model.cpp: rwkv_model_* and rwkv_eval* of rwkv_run.h.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <limits>
#include <optional>
#include <set>

#include "runtime/backend/open_backend.h"
#include "runtime/capi/capi_internal.h"
#include "runtime/generate/generate.h"
#include "runtime/tokenizer/tokenizer.h"

using rwkv::capi::ApiError;

namespace {

constexpr int32_t kMaxSlots = 1 << 20;

rwkv_model_params default_params() {
  rwkv_model_params p;
  p.device = "cpu";
  p.dtype = nullptr;
  p.n_threads = 0;
  p.n_slots = 1;
  p.chunk_len = 256;
  p.progress = nullptr;
  p.progress_user_data = nullptr;
  return p;
}

void load(const char* path, const rwkv_model_params* params_in, rwkv_model** out) {
  if (!path) throw ApiError(RWKV_ERR_INVALID_ARGUMENT, "rwkv_model_load: path is NULL");
  const rwkv_model_params p = params_in ? *params_in : default_params();
  const std::string device = p.device ? p.device : "cpu";
  int gpu = -1;
  try {
    gpu = rwkv::parse_device(device);
  } catch (const rwkv::Error& e) {
    throw ApiError(RWKV_ERR_INVALID_ARGUMENT, e.what());
  }
  std::optional<rwkv::DType> dtype;
  if (p.dtype) {
    rwkv::DType t;
    if (!rwkv::dtype_from_name(p.dtype, &t))
      throw ApiError(RWKV_ERR_INVALID_ARGUMENT, std::string("unknown dtype '") + p.dtype +
                                                    "' (expected fp32, fp16 or bf16)");
    if (gpu < 0 && t != rwkv::DType::f32)
      throw ApiError(RWKV_ERR_UNSUPPORTED, std::string("device cpu computes in fp32 only (dtype '") +
                                               p.dtype + "' asked)");
    dtype = t;
  }
  if (p.n_slots < 1 || p.n_slots > kMaxSlots)
    throw ApiError(RWKV_ERR_INVALID_ARGUMENT,
                   "n_slots must be in [1, " + std::to_string(kMaxSlots) + "], got " + std::to_string(p.n_slots));
  if (p.n_threads < 0)
    throw ApiError(RWKV_ERR_INVALID_ARGUMENT, "n_threads must not be negative");
  if (p.chunk_len < 1) throw ApiError(RWKV_ERR_INVALID_ARGUMENT, "chunk_len must be at least 1");

  // A file that cannot be opened is RWKV_ERR_FILE; a bad content RWKV_ERR_FORMAT.
  if (FILE* f = std::fopen(path, "rb")) {
    std::fclose(f);
  } else {
    throw ApiError(RWKV_ERR_FILE, std::string(path) + ": cannot open (" + std::strerror(errno) + ")");
  }
  std::unique_ptr<rwkv::Model> model;
  try {
    model = rwkv::load_model(path, p.progress, p.progress_user_data);
  } catch (const rwkv::Error& e) {
    throw ApiError(RWKV_ERR_FORMAT, e.what());
  }

  auto m = std::make_unique<rwkv_model>();
  m->engine = gpu < 0 ? rwkv::capi::make_cpu_engine(*model, p.n_threads, p.n_slots)
                      : rwkv::capi::make_cuda_engine(*model, gpu, dtype, p.n_slots);
  m->info = model->info;
  m->state_floats = m->engine->backend().state_layout().size();
  m->file_model = rwkv::state_file_model(*model, m->engine->compute_dtype(), m->state_floats);
  m->chunk_len = size_t(p.chunk_len);
  m->version = rwkv::arch_name(m->info.arch);
  m->device = gpu < 0 ? "cpu" : "cuda:" + std::to_string(gpu);
  m->dtype = rwkv::dtype_name(m->engine->compute_dtype());
  try {
    m->tokenizer_kind = rwkv::tokenizer_kind_for_vocab(m->info.n_vocab);
  } catch (const rwkv::Error&) {
    m->tokenizer_kind.clear();  // a vocabulary size without a standard tokenizer
  }
  *out = m.release();
}

void check_tokens(const rwkv_model& m, const int32_t* tokens, size_t n, const std::string& what) {
  if (n == 0) throw ApiError(RWKV_ERR_INVALID_ARGUMENT, what + ": no tokens (n_tokens is 0)");
  if (!tokens) throw ApiError(RWKV_ERR_INVALID_ARGUMENT, what + ": tokens is NULL");
  for (size_t t = 0; t < n; ++t)
    if (tokens[t] < 0 || tokens[t] >= m.info.n_vocab)
      throw ApiError(RWKV_ERR_INVALID_ARGUMENT,
                     what + ": token " + std::to_string(tokens[t]) + " at position " + std::to_string(t) +
                         " is outside the vocabulary [0, " + std::to_string(m.info.n_vocab) + ")");
}

}  // namespace

extern "C" {

rwkv_model_params rwkv_model_default_params(void) { return default_params(); }

rwkv_status rwkv_model_load(const char* path, const rwkv_model_params* params, rwkv_model** out,
                            char* error, size_t error_size) {
  if (!out) {
    rwkv::capi::copy_message("rwkv_model_load: out is NULL", error, error_size);
    return RWKV_ERR_INVALID_ARGUMENT;
  }
  *out = nullptr;
  // Errors while building the backend that are not device errors: the
  // checkpoint holds something the backend cannot take.
  return rwkv::capi::guarded_to_buffer(error, error_size, RWKV_ERR_FORMAT,
                                       [&] { load(path, params, out); });
}

void rwkv_model_free(rwkv_model** model) {
  if (!model || !*model) return;
  rwkv_model* m = *model;
  *model = nullptr;
  if (!rwkv::capi::valid(m)) return;  // not a model: leave it alone
  m->magic = 0;
  try {
    if (m->engine) m->engine->activate();
  } catch (...) {
  }
  delete m;  // destructors do not throw
}

const char* rwkv_model_last_error(const rwkv_model* model) {
  if (!model) return "model is NULL";
  if (!rwkv::capi::valid(model)) return "not a model handle";
  return model->errors.get();
}

rwkv_status rwkv_model_get_info(const rwkv_model* model, rwkv_model_info* info) {
  if (!rwkv::capi::valid(model)) return RWKV_ERR_INVALID_ARGUMENT;
  if (!info) {
    model->errors.set("rwkv_model_get_info: info is NULL");
    return RWKV_ERR_INVALID_ARGUMENT;
  }
  const rwkv::ModelInfo& i = model->info;
  info->format = i.format.c_str();
  info->version = model->version.c_str();
  info->device = model->device.c_str();
  info->dtype = model->dtype.c_str();
  info->tokenizer_kind = model->tokenizer_kind.c_str();
  info->n_embd = i.n_embd;
  info->n_layer = i.n_layer;
  info->n_vocab = i.n_vocab;
  info->n_head = i.n_head;
  info->head_size = i.head_size;
  info->n_att = i.n_att;
  info->n_ffn = i.n_ffn;
  info->n_slots = model->engine->n_slots();
  info->n_params = i.params;
  info->state_size = model->state_floats * sizeof(float);
  info->device_bytes = model->engine->backend().device_bytes();
  return RWKV_OK;
}

rwkv_status rwkv_eval(rwkv_model* model, int32_t slot, const int32_t* tokens, size_t n_tokens,
                      float* logits, size_t logits_len) {
  if (!rwkv::capi::valid(model)) return RWKV_ERR_INVALID_ARGUMENT;
  return rwkv::capi::guarded(model->errors, RWKV_ERR_INTERNAL, [&] {
    rwkv::capi::check_slot(*model, slot);
    check_tokens(*model, tokens, n_tokens, "rwkv_eval");
    if (logits && logits_len < size_t(model->info.n_vocab))
      throw ApiError(RWKV_ERR_BUFFER_SIZE, "rwkv_eval: logits_len is " + std::to_string(logits_len) +
                                               ", the model has " + std::to_string(model->info.n_vocab) +
                                               " logits");
    std::lock_guard<std::mutex> lock(model->mu);
    rwkv::capi::Engine& e = *model->engine;
    e.activate();
    rwkv::prefill(e.backend(), e.slot(slot), model->state_floats, tokens, n_tokens, model->chunk_len,
                  logits);
  });
}

rwkv_status rwkv_eval_batch(rwkv_model* model, const rwkv_seq* seqs, size_t n_seqs, float* logits,
                            size_t logits_len) {
  if (!rwkv::capi::valid(model)) return RWKV_ERR_INVALID_ARGUMENT;
  return rwkv::capi::guarded(model->errors, RWKV_ERR_INTERNAL, [&] {
    if (n_seqs == 0) throw ApiError(RWKV_ERR_INVALID_ARGUMENT, "rwkv_eval_batch: n_seqs is 0");
    if (!seqs) throw ApiError(RWKV_ERR_INVALID_ARGUMENT, "rwkv_eval_batch: seqs is NULL");
    std::set<int32_t> used;
    for (size_t i = 0; i < n_seqs; ++i) {
      const std::string what = "rwkv_eval_batch: seqs[" + std::to_string(i) + "]";
      rwkv::capi::check_slot(*model, seqs[i].slot);
      if (!used.insert(seqs[i].slot).second)
        throw ApiError(RWKV_ERR_INVALID_ARGUMENT,
                       what + ": slot " + std::to_string(seqs[i].slot) + " appears twice in the batch");
      check_tokens(*model, seqs[i].tokens, seqs[i].n_tokens, what);
    }
    const size_t V = size_t(model->info.n_vocab);
    if (logits && (logits_len / V < n_seqs))
      throw ApiError(RWKV_ERR_BUFFER_SIZE, "rwkv_eval_batch: logits_len is " + std::to_string(logits_len) +
                                               ", needs n_seqs * n_vocab = " + std::to_string(n_seqs) +
                                               " * " + std::to_string(V));

    std::lock_guard<std::mutex> lock(model->mu);
    rwkv::capi::Engine& e = *model->engine;
    e.activate();
    // Rounds of at most chunk_len tokens per sequence (rwkv-spec.md 1.1: the
    // split does not change the result); a sequence's logits come from the
    // round in which it ends.
    std::vector<size_t> done(n_seqs, 0);
    std::vector<float> round_logits;
    for (;;) {
      rwkv::Batch batch;
      std::vector<size_t> index;  // batch position -> seqs index
      bool any_ends = false;
      for (size_t i = 0; i < n_seqs; ++i) {
        const size_t left = seqs[i].n_tokens - done[i];
        if (left == 0) continue;
        rwkv::SeqInput s;
        s.tokens = seqs[i].tokens + done[i];
        s.n_tokens = std::min(left, model->chunk_len);
        s.state = e.slot(seqs[i].slot);
        s.state_floats = model->state_floats;
        any_ends |= s.n_tokens == left;
        batch.seqs.push_back(s);
        index.push_back(i);
      }
      if (batch.seqs.empty()) break;
      const bool want = logits && any_ends;
      batch.logits = want ? rwkv::LogitsMode::last : rwkv::LogitsMode::none;
      if (want) round_logits.resize(batch.seqs.size() * V);
      e.backend().forward(batch, want ? round_logits.data() : nullptr);
      for (size_t b = 0; b < index.size(); ++b) {
        const size_t i = index[b];
        done[i] += batch.seqs[b].n_tokens;
        if (want && done[i] == seqs[i].n_tokens)
          std::memcpy(logits + i * V, round_logits.data() + b * V, V * sizeof(float));
      }
    }
  });
}

}  // extern "C"
