// runtime/capi/capi_model.cpp: rwkv_model_* and rwkv_eval* of rwkv_run.h.
#include <cstring>
#include <algorithm>
#include <limits>
#include <optional>
#include <vector>

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
  rwkv::EngineOptions eo;
  eo.device = p.device ? p.device : "cpu";
  rwkv::parse_device(eo.device);  // a bad device string before the file is read
  if (p.dtype) {
    rwkv::DType t;
    if (!rwkv::dtype_from_name(p.dtype, &t))
      throw ApiError(RWKV_ERR_INVALID_ARGUMENT, std::string("unknown dtype '") + p.dtype +
                                                    "' (expected fp32, fp16 or bf16)");
    eo.backend.dtype = t;
  }
  if (p.n_slots < 1 || p.n_slots > kMaxSlots)
    throw ApiError(RWKV_ERR_INVALID_ARGUMENT,
                   "n_slots must be in [1, " + std::to_string(kMaxSlots) + "], got " + std::to_string(p.n_slots));
  if (p.n_threads < 0)
    throw ApiError(RWKV_ERR_INVALID_ARGUMENT, "n_threads must not be negative");
  if (p.chunk_len < 1) throw ApiError(RWKV_ERR_INVALID_ARGUMENT, "chunk_len must be at least 1");
  eo.backend.threads = p.n_threads;
  eo.backend.n_slots = p.n_slots;
  eo.chunk_len = size_t(p.chunk_len);

  // A file that cannot be opened or read (a directory, FIFO or device is
  // refused without blocking) is RWKV_ERR_FILE (a FileError); memory a file
  // asks for and cannot have, RWKV_ERR_OUT_OF_MEMORY; any other problem with
  // its content RWKV_ERR_FORMAT.
  std::unique_ptr<rwkv::Model> model;
  try {
    model = rwkv::load_model(path, p.progress, p.progress_user_data);
  } catch (const rwkv::FileError& e) {
    throw ApiError(RWKV_ERR_FILE, e.what());
  } catch (const rwkv::OutOfMemoryError& e) {
    throw ApiError(RWKV_ERR_OUT_OF_MEMORY, e.what());
  } catch (const rwkv::Error& e) {
    throw ApiError(RWKV_ERR_FORMAT, e.what());
  }

  auto m = std::make_unique<rwkv_model>();
  m->engine = std::make_unique<rwkv::Engine>(*model, eo);
  m->info = model->info;
  m->version = rwkv::arch_name(m->info.arch);
  m->device = m->engine->device().name();
  m->dtype = rwkv::dtype_name(m->engine->compute_dtype());
  try {
    m->tokenizer_kind = rwkv::tokenizer_kind_for_vocab(m->info.n_vocab);
  } catch (const rwkv::Error&) {
    m->tokenizer_kind.clear();  // a vocabulary size without a standard tokenizer
  }
  *out = m.release();
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
  info->state_size = model->engine->state_floats() * sizeof(float);
  info->device_bytes = model->engine->device_bytes();
  return RWKV_OK;
}

rwkv_status rwkv_eval(rwkv_model* model, int32_t slot, const int32_t* tokens, size_t n_tokens,
                      float* logits, size_t logits_len) {
  if (!rwkv::capi::valid(model)) return RWKV_ERR_INVALID_ARGUMENT;
  return rwkv::capi::guarded(model->errors, RWKV_ERR_INTERNAL, [&] {
    model->engine->check_slot(slot);
    if (!tokens && n_tokens) throw ApiError(RWKV_ERR_INVALID_ARGUMENT, "rwkv_eval: tokens is NULL");
    if (logits && logits_len < size_t(model->info.n_vocab))
      throw ApiError(RWKV_ERR_BUFFER_SIZE, "rwkv_eval: logits_len is " + std::to_string(logits_len) +
                                               ", the model has " + std::to_string(model->info.n_vocab) +
                                               " logits");
    model->engine->eval(slot, tokens, n_tokens, logits);
  });
}

rwkv_status rwkv_eval_batch(rwkv_model* model, const rwkv_seq* seqs, size_t n_seqs, float* logits,
                            size_t logits_len) {
  if (!rwkv::capi::valid(model)) return RWKV_ERR_INVALID_ARGUMENT;
  return rwkv::capi::guarded(model->errors, RWKV_ERR_INTERNAL, [&] {
    if (n_seqs == 0) throw ApiError(RWKV_ERR_INVALID_ARGUMENT, "rwkv_eval_batch: n_seqs is 0");
    if (!seqs) throw ApiError(RWKV_ERR_INVALID_ARGUMENT, "rwkv_eval_batch: seqs is NULL");
    const size_t V = size_t(model->info.n_vocab);
    if (logits && (logits_len / V < n_seqs))
      throw ApiError(RWKV_ERR_BUFFER_SIZE, "rwkv_eval_batch: logits_len is " + std::to_string(logits_len) +
                                               ", needs n_seqs * n_vocab = " + std::to_string(n_seqs) +
                                               " * " + std::to_string(V));
    std::vector<rwkv::Engine::Span> spans;
    for (size_t i = 0; i < n_seqs; ++i) {
      if (!seqs[i].tokens && seqs[i].n_tokens)
        throw ApiError(RWKV_ERR_INVALID_ARGUMENT, "rwkv_eval_batch: seqs[" + std::to_string(i) + "].tokens is NULL");
      spans.push_back({seqs[i].slot, seqs[i].tokens, seqs[i].n_tokens});
    }
    model->engine->eval_batch(spans, logits);
  });
}

}  // extern "C"
