// runtime/capi/capi_state.cpp: rwkv_state_* of rwkv_run.h over the engine's
// slots and state files (runtime/engine/engine.h, runtime/state/state_file.h).
#include <cstring>
#include <vector>

#include "runtime/capi/capi_internal.h"

using rwkv::capi::ApiError;

namespace {

void check_path(const char* path, const char* fn) {
  if (!path) throw ApiError(RWKV_ERR_INVALID_ARGUMENT, std::string(fn) + ": path is NULL");
  if (!*path) throw ApiError(RWKV_ERR_INVALID_ARGUMENT, std::string(fn) + ": path is empty");
}

}  // namespace

extern "C" {

rwkv_status rwkv_state_size(const rwkv_model* model, size_t* bytes) {
  if (!rwkv::capi::valid(model)) return RWKV_ERR_INVALID_ARGUMENT;
  if (!bytes) {
    model->errors.set("rwkv_state_size: bytes is NULL");
    return RWKV_ERR_INVALID_ARGUMENT;
  }
  *bytes = model->engine->state_floats() * sizeof(float);
  return RWKV_OK;
}

rwkv_status rwkv_state_reset(rwkv_model* model, int32_t slot) {
  if (!rwkv::capi::valid(model)) return RWKV_ERR_INVALID_ARGUMENT;
  return rwkv::capi::guarded(model->errors, RWKV_ERR_INTERNAL, [&] {
    model->engine->reset(slot);
  });
}

rwkv_status rwkv_state_copy(rwkv_model* model, int32_t src_slot, int32_t dst_slot) {
  if (!rwkv::capi::valid(model)) return RWKV_ERR_INVALID_ARGUMENT;
  return rwkv::capi::guarded(model->errors, RWKV_ERR_INTERNAL, [&] {
    model->engine->copy(src_slot, dst_slot);
  });
}

rwkv_status rwkv_state_read(const rwkv_model* model, int32_t slot, void* dst, size_t dst_bytes) {
  if (!rwkv::capi::valid(model)) return RWKV_ERR_INVALID_ARGUMENT;
  return rwkv::capi::guarded(model->errors, RWKV_ERR_INTERNAL, [&] {
    model->engine->check_slot(slot);
    if (!dst) throw ApiError(RWKV_ERR_INVALID_ARGUMENT, "rwkv_state_read: dst is NULL");
    const size_t need = model->engine->state_floats() * sizeof(float);
    if (dst_bytes < need)
      throw ApiError(RWKV_ERR_BUFFER_SIZE, "rwkv_state_read: dst_bytes is " + std::to_string(dst_bytes) +
                                               ", the state has " + std::to_string(need) + " bytes");
    // Through an aligned buffer: the caller's pointer need not be float-aligned.
    std::vector<float> tmp(model->engine->state_floats());
    model->engine->read(slot, tmp.data());
    std::memcpy(dst, tmp.data(), need);
  });
}

rwkv_status rwkv_state_write(rwkv_model* model, int32_t slot, const void* src, size_t src_bytes) {
  if (!rwkv::capi::valid(model)) return RWKV_ERR_INVALID_ARGUMENT;
  return rwkv::capi::guarded(model->errors, RWKV_ERR_INTERNAL, [&] {
    model->engine->check_slot(slot);
    if (!src) throw ApiError(RWKV_ERR_INVALID_ARGUMENT, "rwkv_state_write: src is NULL");
    const size_t need = model->engine->state_floats() * sizeof(float);
    if (src_bytes != need)
      throw ApiError(RWKV_ERR_BUFFER_SIZE, "rwkv_state_write: src_bytes is " + std::to_string(src_bytes) +
                                               ", the state has exactly " + std::to_string(need) + " bytes");
    std::vector<float> tmp(model->engine->state_floats());
    std::memcpy(tmp.data(), src, need);
    model->engine->write(slot, tmp.data());
  });
}

rwkv_status rwkv_state_save(const rwkv_model* model, int32_t slot, const char* path) {
  if (!rwkv::capi::valid(model)) return RWKV_ERR_INVALID_ARGUMENT;
  return rwkv::capi::guarded(model->errors, RWKV_ERR_INTERNAL, [&] {
    model->engine->check_slot(slot);
    check_path(path, "rwkv_state_save");
    model->engine->save_state(slot, path);
  });
}

rwkv_status rwkv_state_load(rwkv_model* model, int32_t slot, const char* path) {
  if (!rwkv::capi::valid(model)) return RWKV_ERR_INVALID_ARGUMENT;
  return rwkv::capi::guarded(model->errors, RWKV_ERR_INTERNAL, [&] {
    model->engine->check_slot(slot);
    check_path(path, "rwkv_state_load");
    model->engine->load_state(slot, path);
  });
}

}  // extern "C"
