// runtime/cuda/layer.h: one layer of the GPU forward pass over one round, in the
// shape of the CPU reference (runtime/cpu/cpu_layers.h): a time mix per version
// family (layer_v4_v5.cpp, layer_v6.cpp, layer_v7.cpp) and the shared channel
// mix (channel_mix.cpp), around the LayerNorms and the shift-state store of
// layer_common.cpp. Every function here only enqueues work on run.stream; nothing
// synchronises.
//
// Two paths, chosen per round (uses_gemv): rounds of M <= RoundRun::gemv_max_rows rows (decode;
// default 16, 0 = never) take the decode path, larger rounds the cuBLAS path.
//
// Decode path: the residual stream ws.x is always complete (the output projections add into it
// in their GEMV epilogues), each mix starts with one prologue kernel (kernels/layer_prologue.cuh:
// LN + every token-shift mix + the shift-state store; v6's time mix instead runs LN1 and its first
// mix as the input transform of its first GEMV) and the projections run as grouped GEMVs
// (kernels/gemv.cuh) with their activations fused. Launches per layer:
//   v4    prologue(LN1, mixes k v r) | GEMV k, v, r | WKV4 | GEMV output += x
//         | prologue(LN2, mixes k r) | GEMV key relu^2, receptance sigmoid | GEMV value, x += r * v   7
//   v5.x  as v4 with g (5.1, 5.2) and WKV5                                                           7
//   v6    GEMV maa_w1 tanh over LN1 + maa_x mix (its input transform, also writing LN1 and the
//         previous tokens) | GEMV maa_w2 x5 + ddlerp + shift store | GEMV decay_w1 tanh, k, v, r, g
//         | WKV5 with decay_w2 (w_lora computed in the kernel) | GEMV output += x
//         | channel mix as v4 (3)                                                                    8
//   v7    prologue(LN1, 6 mixes) | GEMV k, v, r, LoRA-in w tanh, a, (v), g sigmoid | GEMV LoRA-out
//         w, a, (v), g | WKV7 | GEMV output += x | prologue(LN2, mix k) | GEMV key relu^2
//         | GEMV value += x                                                                          8
//   head  LN(ln_out) | GEMV head (+ one gather of the last rows when a sequence has several rows)  2
// cuBLAS path: the residual stream is complete here too (the output GEMMs add into ws.x, beta 1,
// and v4-v6's gate_mul adds r * v), so each mix starts with one row-parallel prologue
// (LN + the first token-shift mixes, kernels/layer_prologue.cuh; the shift states are stored
// after the layer, once every mix has read them):
//   v4, v5.x  LN1 + mixes | GEMM k v r (g) batched | WKV | GEMM output += x | LN2 + mixes
//             | GEMM key | relu^2 | GEMM value | GEMM receptance | x += gate_mul | store           11
//   v6        LN1 + maa_x mix | GEMM maa_w1 | tanh | GEMM maa_w2 batched | shift_mix | GEMM decay_w1
//             | tanh | GEMM decay_w2 | GEMM k v r g batched | WKV5 | GEMM output += x | channel
//             mix (6) | store                                                                       18
//   v7        LN1 + 6 mixes | GEMM k v r batched | 4 GEMM LoRA-in (3 in layer 0) | activations
//             | 4 GEMM LoRA-out (3) | WKV7 | GEMM output += x | LN2 + mix k | GEMM key | relu^2
//             | GEMM value += x | store                                                         18 (16)
//   head      gather x (last rows) | LN | GEMM head                                                   3
// Per step both paths add one embedding gather.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <utility>

#include "kernels/activation.cuh"
#include "kernels/common/ragged_batch.cuh"
#include "kernels/gemv.cuh"
#include "kernels/shift_mix.cuh"
#include "runtime/backend/backend.h"
#include "runtime/backend/state_layout.h"
#include "runtime/cuda/batch_descriptor.h"
#include "runtime/cuda/cuda_weights.h"
#include "runtime/cuda/device_state.h"
#include "runtime/cuda/prefill_profile.h"
#include "runtime/cuda/workspace.h"

namespace rwkv {
namespace cuda {

// What every launch of one round needs (CudaBackend::run_round builds it).
struct RoundRun {
  cublasHandle_t cublas;
  cudaStream_t stream;
  const ModelInfo& info;
  const CudaWeights& w;
  const DeviceStateLayout& layout;  // the states' device layout (offsets, att.kv dtype)
  const Workspace& ws;
  const DeviceRound& dev;
  int M;              // rows of the round
  int gemv_max_rows;  // CudaOptions::gemv_max_rows
  int wkv_chunk_min_tokens;  // CudaOptions::wkv_chunk_min_tokens
  int wkv_carry_split_slots;  // CudaOptions::wkv_carry_split_slots
  int wkv_split_parts;        // the chunked WKV's operand parts (wkv_split_parts_for, cuda_backend.h)
  PrefillProfile* profile = nullptr;  // prefill rounds with CudaOptions::profile_prefill: mark the GEMM
                                      // and WKV launches (prefill_profile.h); null otherwise
};

// Layer l of the round (the sequence of launches above).
void run_layer(const RoundRun& round, int l);

// out[i, :] = table[ids[i], :] (as fp32) for i < n: the embedding, or last rows.
void gather_rows(const RoundRun& round, const int32_t* ids, const void* table, DType table_dtype, int n_table,
                 float* out, int n);

// ln_out of the rows whose logits are wanted (every row, or each sequence's last row, gathered
// first), then the head into ws.logits (head.cpp).
void compute_logits(const RoundRun& round, LogitsMode mode);

// What the launches of one layer over one round need.
struct LayerRun {
  cublasHandle_t cublas;
  cudaStream_t stream;
  const CudaLayer& w;              // this layer's weights
  const LayerStateOffsets& state;  // this layer's pieces of every state (device layout)
  const Workspace& ws;
  rwkv_kernels::ragged_batch batch;
  int layer;                       // index (v7: layer 0 sets v_first)
  int M;                           // rows of the round
  int C, A, F, H, N;               // n_embd, n_att, n_ffn, n_head, head_size
  DType dtype;                     // of the matrices and GEMM inputs
  Arch arch;
  bool gemv;                       // the decode path: fused prologues and grouped GEMVs
  DType state_dtype;               // of att.kv in the states (CudaOptions::state_dtype)
  bool chunked_wkv;                // prefill: the chunked WKV kernels (uses_chunked_wkv)
  int wkv_carry_split_slots;       // RoundRun::wkv_carry_split_slots (wkv7_params::carry_split_slots)
  int wkv_split_parts;             // RoundRun::wkv_split_parts (wkv5/wkv7_params::split_parts)
  PrefillProfile* profile;         // RoundRun::profile
};

// Runs enqueue() inside a span of `piece` of the prefill profile (none without a profile).
template <class F>
void in_span(PrefillProfile* profile, PrefillPiece piece, cudaStream_t stream, F&& enqueue) {
  if (profile) profile->begin(piece, stream);
  enqueue();
  if (profile) profile->end(piece, stream);
}

// gemm.h's products inside spans of `piece` of the round's profile (a matrix role: att_proj,
// ffn_key, ...); lora_linear and lora_linear_batched for the LoRA matrices.
template <class... Args>
void linear_as(PrefillPiece piece, const LayerRun& run, Args&&... args) {
  in_span(run.profile, piece, run.stream,
          [&] { linear(run.cublas, std::forward<Args>(args)..., run.ws.dequant_scratch()); });
}
template <class... Args>
void linear_batched_as(PrefillPiece piece, const LayerRun& run, Args&&... args) {
  in_span(run.profile, piece, run.stream,
          [&] { linear_batched(run.cublas, std::forward<Args>(args)..., run.ws.dequant_scratch()); });
}
template <class... Args>
void lora_linear(const LayerRun& run, Args&&... args) {
  linear_as(PrefillPiece::lora, run, std::forward<Args>(args)...);
}
template <class... Args>
void lora_linear_batched(const LayerRun& run, Args&&... args) {
  linear_batched_as(PrefillPiece::lora, run, std::forward<Args>(args)...);
}

// The cuBLAS path's element-wise launches inside spans of their pieces (kernels/shift_mix.cuh,
// kernels/activation.cuh).
void shift_mix(const LayerRun& run, const rwkv_kernels::shift_mix_params& sm);
void activation(const LayerRun& run, const rwkv_kernels::activation_params& act);

// Whether the round takes the decode path (M <= gemv_max_rows; gemv_max_rows = 0: never).
inline bool uses_gemv(const RoundRun& round) { return round.M <= round.gemv_max_rows; }

// Whether the round's WKV runs chunked: not the decode path, and its sequences average at least
// wkv_chunk_min_tokens rows (0 = never).
inline bool uses_chunked_wkv(const RoundRun& round) {
  return !uses_gemv(round) && round.wkv_chunk_min_tokens > 0 &&
         (long long)round.M >= (long long)round.wkv_chunk_min_tokens * round.dev.batch.n_seq;
}

// The start of a mix, both paths: LN1 (channel_mix false: into ws.att_in, state att_x) or LN2
// (true: ws.ffn_in, ffn_x) of the complete residual stream ws.x, then mixes z < n_out with mu[z]
// into mix planes first_plane.. (kernels/layer_prologue.cuh). The decode path's prologue (a block
// per sequence) also stores the shift state; the cuBLAS path's (row_parallel, a span of the shift
// piece) only reads it (store_shift_states, after the layer) and writes LN's output for each
// sequence's last row, or for every row with ln_every_row (v6's ddlerp reads LN1 again).
void layer_prologue(const LayerRun& run, bool channel_mix, int n_out, float* const* mu, bool prev_weighted,
                    int first_plane = 0, bool ln_every_row = false);

// cuBLAS path: ws.x += W X over the round's rows (an output projection adding into the residual
// stream: one GEMM with beta 1), a span of `piece`.
void add_to_residual(PrefillPiece piece, const LayerRun& run, const DeviceMatrix& W, const void* X, int ldx);

// The parameters of a time-mix token-shift mix over ws.att_in (batch, width, dtype, the state's
// att.x_prev): v6's ddlerp mix, after the prologue.
rwkv_kernels::shift_mix_params att_shift_mix(const LayerRun& run);

// The v6 decode's decay LoRA second matrix, run inside the WKV kernel (kernels/wkv5.cuh):
// w_lora = lora_act decay_w2 ([rows, Dd] in the model dtype times [A, Dd]).
struct DecayLora {
  const void* lora_act = nullptr;
  const void* decay_w2 = nullptr;
  int Dd = 0;
};

// The v5/v6 WKV kernel over proj planes k, v, r: v6 passes its per-token decays
// (w_lora, or at decode `lora` for the kernel to compute them), 5.1+ and v6 a gate; the result
// goes to ws.att_out.
void wkv5_core(const LayerRun& run, const float* w_lora, const float* gate, const DecayLora& lora = {});

// Time mixes (docs/rwkv-math.md section 3.3, 4.4, 5.2, 6.3): LN1 of ws.x (into ws.att_in) and its
// mixes -> ws.att_out, updating the WKV part of the state; then ws.x += att.output.
void time_mix_v4(const LayerRun& run);
void time_mix_v5(const LayerRun& run);  // 5.0, 5.1, 5.2
void time_mix_v6(const LayerRun& run);
void time_mix_v7(const LayerRun& run);
void attention_output(const LayerRun& run);

// Channel mix (docs/rwkv-math.md section 3.4, 5.3, 6.4): LN2 of ws.x (into ws.ffn_in) and its
// mixes -> ws.x += the channel mix's output.
void channel_mix(const LayerRun& run);

// Every sequence's att.x_prev and ffn.x_prev take its last row of ws.att_in and ws.ffn_in.
void store_shift_states(const LayerRun& run);

// ---- the decode path (run.gemv) ----
// Task k, v, r or g (z = 0..3) of att_kvrg from mix plane `plane` into proj plane z, fp32.
rwkv_kernels::gemv_task kvrg_task(const LayerRun& run, int z, int plane);
// att.output with the residual add in its epilogue: ws.x += W ws.att_out.
void attention_output_gemv(const LayerRun& run);

}  // namespace cuda
}  // namespace rwkv
