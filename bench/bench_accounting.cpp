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

// The LoRA matrices of v6 (time_maa_w1/w2, time_decay_w1/w2) and v7 (att.w1 ... att.g2).
bool is_lora(const std::string& name) {
  for (const char* s : {".time_maa_w1", ".time_maa_w2", ".time_decay_w1", ".time_decay_w2", ".att.w1", ".att.w2",
                        ".att.a1", ".att.a2", ".att.v1", ".att.v2", ".att.g1", ".att.g2"})
    if (ends_with(name, s)) return true;
  return false;
}

// The element-wise shape of a layer (bench_pieces.h): mixes, activated LoRA widths, the gate.
void shape_counts(const ModelInfo& m, ModelCost& c) {
  c.n_ffn = m.n_ffn;
  switch (m.arch) {
    case Arch::v4:
    case Arch::v5_0: c.att_mixes = 3; break;
    case Arch::v5_1:
    case Arch::v5_2: c.att_mixes = 4; break;
    case Arch::v6: c.att_mixes = 6; break;
    case Arch::v7: c.att_mixes = 6; break;
  }
  c.ffn_mixes = m.arch == Arch::v7 ? 1 : 2;
  c.ffn_gate = m.arch != Arch::v7;
  if (m.arch == Arch::v6) c.lora_act_width = 5 * m.lora_maa + m.lora_decay;
  if (m.arch == Arch::v7) c.lora_act_width = m.lora_w + m.lora_a + m.lora_v + m.lora_g;
}

// A layer matrix's role among the full-width GEMMs (ModelCost::att_proj_params ... ffn_r_params).
void add_role(const std::string& name, int64_t n, ModelCost& c) {
  for (const char* s : {".att.key.weight", ".att.value.weight", ".att.receptance.weight", ".att.gate.weight"})
    if (ends_with(name, s)) c.att_proj_params += n;
  if (ends_with(name, ".att.output.weight")) c.att_out_params += n;
  if (ends_with(name, ".ffn.key.weight")) c.ffn_key_params += n;
  if (ends_with(name, ".ffn.value.weight")) c.ffn_value_params += n;
  if (ends_with(name, ".ffn.receptance.weight")) c.ffn_r_params += n;
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
    if (is_lora(t.name)) c.lora_params += n;
    add_role(t.name, n, c);
  }
  shape_counts(model.info, c);
  c.arch = model.info.arch;
  c.n_layer = model.info.n_layer;
  c.n_att = model.info.n_att > 0 ? model.info.n_att : model.info.n_embd;
  c.head_size = model.info.head_size;
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

double ModelCost::decode_weight_bytes_held(double held, DType dtype, int batch) const {
  const double es = double(dtype_size(dtype));
  return held - double(emb_params) * es + double(batch) * n_embd * es;
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

namespace {

// FLOPs of one token's WKV in one layer (bench_accounting.h).
double wkv_flops_per_token_layer(const ModelCost& c) {
  const double A = double(c.n_att), N = double(c.head_size);
  switch (c.arch) {
    case Arch::v4: return 16.0 * A;
    case Arch::v7: return 9.0 * N * A;  // H heads of N x N = N x A elements
    default: return 7.0 * N * A;        // v5.x, v6
  }
}

// fp32 input vectors of A floats per token and layer the WKV kernel reads.
double wkv_inputs(Arch arch) {
  switch (arch) {
    case Arch::v6: return 4.0;  // r, k, v, w
    case Arch::v7: return 6.0;  // r, k, v, w, a, b
    default: return 3.0;        // r, k, v (v4: k, v and the per-channel constants, counted as r)
  }
}

}  // namespace

double ModelCost::prefill_wkv_flops(int batch, int tokens) const {
  return wkv_flops_per_token_layer(*this) * double(batch) * double(tokens) * double(n_layer);
}

double ModelCost::prefill_wkv_bytes(int batch, int tokens, int rounds, DType act_dtype, DType state_dtype) const {
  const double rows = double(batch) * double(tokens);
  const double per_row_layer = wkv_inputs(arch) * double(n_att) * 4.0 + double(n_att) * double(dtype_size(act_dtype));
  // v4's state (aa, bb, pp per channel) is not att.kv: count it as 3 fp32 vectors.
  const double kv_per_layer = n_layer > 0 ? double(state_kv_floats) / double(n_layer) : 0.0;
  const double state_per_seq_layer =
      arch == Arch::v4 ? 3.0 * double(n_att) * 4.0 : kv_per_layer * double(dtype_size(state_dtype));
  return rows * per_row_layer * double(n_layer) +
         2.0 * state_per_seq_layer * double(batch) * double(n_layer) * double(rounds);
}

double ModelCost::prefill_gemm_bytes(int rounds, DType dtype) const {
  return double(layer_matrix_params + head_params) * double(dtype_size(dtype)) * double(rounds);
}

}  // namespace bench
}  // namespace rwkv
