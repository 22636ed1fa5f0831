// runtime/capi/capi_tokenizer.cpp: rwkv_tokenizer_* of rwkv_run.h.
#include <cstring>

#include "runtime/capi/capi_internal.h"

using rwkv::capi::ApiError;

namespace {

// Why `path` does not open as a regular file ("<path>: not a regular file (a
// FIFO)"), or "" when it does. Never blocks (runtime/core/regular_file.h).
std::string open_problem(const std::string& path) {
  try {
    rwkv::RegularFile f(path);
    return "";
  } catch (const rwkv::FileError& e) {
    return e.what();
  }
}

void load(const char* path_or_kind, rwkv_tokenizer** out) {
  if (!path_or_kind) throw ApiError(RWKV_ERR_INVALID_ARGUMENT, "rwkv_tokenizer_load: path_or_kind is NULL");
  const std::string what = path_or_kind;
  if (what.empty()) throw ApiError(RWKV_ERR_INVALID_ARGUMENT, "rwkv_tokenizer_load: path_or_kind is empty");
  if (what != "bytes") {
    const bool standard = !rwkv::tokenizer_file_for_kind(what, "").empty();
    const std::string file = standard ? rwkv::find_tokenizer_file(what) : what;
    if (file.empty()) throw ApiError(RWKV_ERR_FILE, rwkv::missing_tokenizer_message(what));
    const std::string problem = open_problem(file);
    if (!problem.empty()) throw ApiError(RWKV_ERR_FILE, standard ? "tokenizer \"" + what + "\": " + problem : problem);
  }
  auto t = std::make_unique<rwkv_tokenizer>();
  try {
    t->tokenizer = rwkv::load_tokenizer(what);
  } catch (const rwkv::FileError& e) {
    throw ApiError(RWKV_ERR_FILE, e.what());
  } catch (const rwkv::Error& e) {
    throw ApiError(RWKV_ERR_FORMAT, e.what());
  }
  *out = t.release();
}

// The two-call convention of rwkv_run.h for an output of `need` elements.
// Returns true when the caller's buffer takes them.
bool fits(const void* buf, size_t capacity, size_t need, const char* fn) {
  if (!buf && capacity > 0)
    throw ApiError(RWKV_ERR_INVALID_ARGUMENT, std::string(fn) + ": buffer is NULL but capacity is not 0");
  if (!buf) return false;  // size query
  if (capacity < need)
    throw ApiError(RWKV_ERR_BUFFER_TOO_SMALL, std::string(fn) + ": capacity " + std::to_string(capacity) +
                                                  ", needs " + std::to_string(need));
  return true;
}

}  // namespace

extern "C" {

rwkv_status rwkv_tokenizer_load(const char* path_or_kind, rwkv_tokenizer** out, char* error,
                                size_t error_size) {
  if (!out) {
    rwkv::capi::copy_message("rwkv_tokenizer_load: out is NULL", error, error_size);
    return RWKV_ERR_INVALID_ARGUMENT;
  }
  *out = nullptr;
  return rwkv::capi::guarded_to_buffer(error, error_size, RWKV_ERR_FORMAT,
                                       [&] { load(path_or_kind, out); });
}

void rwkv_tokenizer_free(rwkv_tokenizer** tokenizer) {
  if (!tokenizer || !*tokenizer) return;
  rwkv_tokenizer* t = *tokenizer;
  *tokenizer = nullptr;
  if (!rwkv::capi::valid(t)) return;
  t->magic = 0;
  delete t;
}

const char* rwkv_tokenizer_last_error(const rwkv_tokenizer* tokenizer) {
  if (!tokenizer) return "tokenizer is NULL";
  if (!rwkv::capi::valid(tokenizer)) return "not a tokenizer handle";
  return tokenizer->errors.get();
}

const char* rwkv_tokenizer_kind(const rwkv_tokenizer* tokenizer) {
  return rwkv::capi::valid(tokenizer) ? tokenizer->tokenizer->kind() : nullptr;
}

int32_t rwkv_tokenizer_n_vocab(const rwkv_tokenizer* tokenizer) {
  return rwkv::capi::valid(tokenizer) ? tokenizer->tokenizer->vocab_size() : -1;
}

rwkv_status rwkv_tokenizer_encode(const rwkv_tokenizer* tokenizer, const char* text, size_t text_len,
                                  int32_t* tokens, size_t capacity, size_t* n_tokens) {
  if (!rwkv::capi::valid(tokenizer)) return RWKV_ERR_INVALID_ARGUMENT;
  return rwkv::capi::guarded(tokenizer->errors, RWKV_ERR_INTERNAL, [&] {
    if (!text && text_len > 0)
      throw ApiError(RWKV_ERR_INVALID_ARGUMENT, "rwkv_tokenizer_encode: text is NULL but text_len is not 0");
    const std::vector<int32_t> ids =
        tokenizer->tokenizer->encode(text_len ? std::string(text, text_len) : std::string());
    if (n_tokens) *n_tokens = ids.size();
    if (fits(tokens, capacity, ids.size(), "rwkv_tokenizer_encode") && !ids.empty())
      std::memcpy(tokens, ids.data(), ids.size() * sizeof(int32_t));
  });
}

rwkv_status rwkv_tokenizer_count(const rwkv_tokenizer* tokenizer, const char* text, size_t text_len,
                                 size_t* n_tokens) {
  if (!rwkv::capi::valid(tokenizer)) return RWKV_ERR_INVALID_ARGUMENT;
  if (!n_tokens) {
    tokenizer->errors.set("rwkv_tokenizer_count: n_tokens is NULL");
    return RWKV_ERR_INVALID_ARGUMENT;
  }
  return rwkv_tokenizer_encode(tokenizer, text, text_len, nullptr, 0, n_tokens);
}

rwkv_status rwkv_tokenizer_decode(const rwkv_tokenizer* tokenizer, const int32_t* tokens, size_t n_tokens,
                                  char* text, size_t capacity, size_t* text_len) {
  if (!rwkv::capi::valid(tokenizer)) return RWKV_ERR_INVALID_ARGUMENT;
  return rwkv::capi::guarded(tokenizer->errors, RWKV_ERR_INTERNAL, [&] {
    if (!tokens && n_tokens > 0)
      throw ApiError(RWKV_ERR_INVALID_ARGUMENT, "rwkv_tokenizer_decode: tokens is NULL but n_tokens is not 0");
    const int32_t V = tokenizer->tokenizer->vocab_size();
    for (size_t i = 0; i < n_tokens; ++i)
      if (tokens[i] < 0 || tokens[i] >= V)
        throw ApiError(RWKV_ERR_INVALID_ARGUMENT, "rwkv_tokenizer_decode: token " + std::to_string(tokens[i]) +
                                                      " at position " + std::to_string(i) +
                                                      " is outside the vocabulary [0, " + std::to_string(V) + ")");
    const std::string bytes =
        tokenizer->tokenizer->decode(std::vector<int32_t>(tokens, tokens + n_tokens));
    if (text_len) *text_len = bytes.size();
    if (fits(text, capacity, bytes.size() + 1, "rwkv_tokenizer_decode")) {
      std::memcpy(text, bytes.data(), bytes.size());
      text[bytes.size()] = '\0';
    }
  });
}

}  // extern "C"
