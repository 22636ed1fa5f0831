// bench/bench_accounting.h: what one prefill token and one decode step
// must move and compute, from a model's tensor list, so that measured times
// can be set against the hardware's bandwidth and GEMM peak.
//
// A "matrix" is a tensor used as a GEMM operand: every tensor with two or more
// dimensions larger than 1, except the per-head vectors stored as [H, N]
// (v5/v6 time_decay and time_faaaa, v7 r_k) and a v6 time_state, which the
// kernels use element-wise. Matrices are held in the compute dtype; every
// other tensor in fp32 (as runtime/cuda/cuda_weights.h and the CPU backend
// hold them).
#pragma once

#include <cstddef>
#include <cstdint>

#include "runtime/model/model.h"

namespace rwkv {
namespace bench {

struct ModelCost {
  int64_t params = 0;          // every element of every tensor
  int64_t matrix_params = 0;   // elements of the matrices, emb.weight and head.weight included
  int64_t layer_matrix_params = 0;  // matrices inside blocks.* (the per-token GEMMs)
  int64_t emb_params = 0;      // emb.weight: a row gather, never a GEMM
  int64_t head_params = 0;     // head.weight: a GEMM only for rows whose logits are wanted
  int64_t lora_params = 0;     // of layer_matrix_params, the LoRA matrices (v6 time_maa_w1/w2,
                               // time_decay_w1/w2; v7 w1 w2 a1 a2 v1 v2 g1 g2)
  // The rest of layer_matrix_params by role (the prefill pieces att_proj ... ffn_r): att.key,
  // value, receptance (, gate); att.output; ffn.key; ffn.value; ffn.receptance.
  int64_t att_proj_params = 0, att_out_params = 0, ffn_key_params = 0, ffn_value_params = 0, ffn_r_params = 0;
  int64_t vector_params = 0;   // everything that is not a matrix (kept in fp32)
  int n_embd = 0, n_vocab = 0;
  size_t state_floats = 0;     // StateLayout::size(): floats of one sequence's state
  size_t state_kv_floats = 0;  // of which the WKV matrix state (att.kv; v5-v7), held in the state dtype

  // Weight bytes held on the device in `dtype` (matrices in dtype, the rest fp32).
  double weight_bytes(DType dtype) const;
  // Bytes read by one decode step of `batch` sequences: every matrix except the
  // embedding table once (a GEMM over B rows reads its weights once), `batch`
  // rows of the embedding, every fp32 vector.
  double decode_weight_bytes(DType dtype, int batch) const;
  // The same from the bytes a backend holds (`held`: every matrix as stored, quantized ones as their
  // packed values and scales; the embedding in `dtype`): held less the embedding table plus `batch` rows.
  double decode_weight_bytes_held(double held, DType dtype, int batch) const;
  // Bytes of one sequence's state in device memory with the WKV matrix state in `state_dtype`
  // (cuda --state-dtype; the rest of the state is fp32): StateLayout::size() x 4 for fp32.
  double state_bytes(DType state_dtype = DType::f32) const;
  // Bytes of recurrent state read and written by one decode step: batch x state_bytes x 2.
  double decode_state_bytes(int batch, DType state_dtype = DType::f32) const;
  // FLOPs of a prefill of `batch` sequences of `tokens` tokens with the logits
  // of each sequence's last token only (LogitsMode::last): 2 x layer matrix
  // params per token plus 2 x V x C per sequence for the head. Element-wise
  // work and the WKV recurrences are left out (under 1% for real shapes).
  double prefill_flops(int batch, int tokens) const;

  // The WKV recurrence of a prefill (the counted estimate of the GEMM/WKV split), every layer:
  Arch arch = Arch::v4;
  int n_layer = 0, n_att = 0, head_size = 0;  // L, A (v4: C), N (v4: 0)
  int n_ffn = 0;
  int att_mixes = 0, ffn_mixes = 0;  // token-shift mixes a layer writes per row (v6: 1 + 5 ddlerp)
  int lora_act_width = 0;            // LoRA middle columns activated per row and layer (v6 5 D + D_decay,
                                     // v7 the w a v g widths; layer 0 of v7 has no v: counted anyway)
  bool ffn_gate = false;             // v4-v6: the channel mix's sigmoid(r) * value launch
  // FLOPs per token and layer, counting a multiply-add as 2 and an exp as 1
  // (docs/rwkv-math.md sections 3.3, 4.4, 5.2, 6.3; GroupNorm, bonus and gate left out):
  //   v4     16 per channel: e^(u+k), e^(w+pp), e^(k-pp) and the running max, two fractions,
  //          the aa/bb/pp updates
  //   v5/v6  7 per state element (N x N per head): k v^T 1, r . (u kv + S) 4, S = w S + kv 2
  //   v7     9 per state element: S a 2, S diag(w) + (S a) b^T + v k^T 5, S r 2
  // times batch x tokens x L.
  double prefill_wkv_flops(int batch, int tokens) const;
  // Bytes the WKV kernels move: per token and layer the fp32 inputs (r, k, v: 3 A floats; v6 adds
  // its decays w, v7 w, a, b: 6 A) and the output (A values in `act_dtype`); per sequence and layer
  // the WKV matrix state read once and written once per round (`rounds` rounds, in `state_dtype`).
  double prefill_wkv_bytes(int batch, int tokens, int rounds, DType act_dtype, DType state_dtype) const;
  // Bytes the GEMMs of a prefill read at least: every layer matrix once per round (`rounds`) in
  // `dtype`, and the head once per round.
  double prefill_gemm_bytes(int rounds, DType dtype) const;
};

bool is_matrix(const Tensor& t);
ModelCost model_cost(const Model& model);

}  // namespace bench
}  // namespace rwkv
