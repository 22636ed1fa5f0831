// bench/bench_accounting.cpp: see bench_accounting.h.
#include "bench/bench_accounting.h"

#include <string>

#include "runtime/backend/state_layout.h"

namespace rwkv {
namespace bench {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

bool is_matrix(const Tensor& t) {
  int dims = 0;
  for (int64_t d : t.shape) dims += d > 1;
  if (dims < 2) return false;
  for (const char* v : {".time_decay", ".time_faaaa", ".time_first", ".r_k", ".time_state"})
    if (ends_with(t.name, v)) return false;
  return true;
}

ModelCost model_cost(const Model& model) {
  ModelCost c;
  for (const auto& kv : model.tensors()) {
    const Tensor& t = kv.second;
    const int64_t n = t.numel();
    c.params += n;
    if (!is_matrix(t)) {
      c.vector_params += n;
      continue;
    }
    c.matrix_params += n;
    if (t.name == "emb.weight") c.emb_params += n;
    else if (t.name == "head.weight") c.head_params += n;
    else c.layer_matrix_params += n;
  }
  c.n_embd = model.info.n_embd;
  c.n_vocab = model.info.n_vocab;
  const StateLayout layout(model.info);
  c.state_floats = layout.size();
  for (int l = 0; l < layout.n_layer(); ++l)
    if (layout.layer(l).kv != SIZE_MAX)
      for (const StateTensor& t : layout.tensors())
        if (t.offset == layout.layer(l).kv) c.state_kv_floats += t.numel;
  return c;
}

double ModelCost::weight_bytes(DType dtype) const {
  return double(matrix_params) * double(dtype_size(dtype)) + double(vector_params) * 4.0;
}

double ModelCost::decode_weight_bytes(DType dtype, int batch) const {
  const double es = double(dtype_size(dtype));
  return double(matrix_params - emb_params) * es + double(batch) * n_embd * es + double(vector_params) * 4.0;
}

double ModelCost::state_bytes(DType state_dtype) const {
  return double(state_floats - state_kv_floats) * 4.0 + double(state_kv_floats) * double(dtype_size(state_dtype));
}

double ModelCost::decode_state_bytes(int batch, DType state_dtype) const {
  return double(batch) * state_bytes(state_dtype) * 2.0;
}

double ModelCost::prefill_flops(int batch, int tokens) const {
  return 2.0 * double(layer_matrix_params) * double(batch) * double(tokens) +
         2.0 * double(head_params) * double(batch);
}

}  // namespace bench
}  // namespace rwkv
