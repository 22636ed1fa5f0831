// runtime/cuda/layer_common.cpp: the launches every version shares; see layer.h.
#include "kernels/layer_prologue.cuh"
#include "kernels/wkv5.cuh"
#include "kernels/wkv5_chunked.cuh"
#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/gemm.h"
#include "runtime/cuda/layer.h"

namespace rwkv {
namespace cuda {

void add_to_residual(PrefillPiece piece, const LayerRun& run, const DeviceMatrix& W, const void* X, int ldx) {
  in_span(run.profile, piece, run.stream, [&] {
    linear(run.cublas, W, X, ldx, run.M, run.ws.x, DType::f32, run.C, run.ws.dequant_scratch(), true);
  });
}

void shift_mix(const LayerRun& run, const rwkv_kernels::shift_mix_params& sm) {
  in_span(run.profile, PrefillPiece::shift, run.stream, [&] { RWKV_CUDA_TRY(rwkv_kernels::shift_mix(sm, run.stream)); });
}

void activation(const LayerRun& run, const rwkv_kernels::activation_params& act) {
  in_span(run.profile, PrefillPiece::activation, run.stream,
          [&] { RWKV_CUDA_TRY(rwkv_kernels::activation(act, run.stream)); });
}

rwkv_kernels::shift_mix_params att_shift_mix(const LayerRun& run) {
  rwkv_kernels::shift_mix_params sm;
  sm.batch = run.batch;
  sm.state_offset = run.state.att_x;
  sm.cur = run.ws.att_in;
  sm.C = run.C;
  sm.out_dtype = run.dtype;
  return sm;
}

void wkv5_core(const LayerRun& run, const float* w_lora, const float* gate, const DecayLora& lora) {
  const CudaLayer& L = run.w;
  rwkv_kernels::wkv5_params p;
  p.batch = run.batch;
  p.kv_offset = run.state.kv;
  p.state_dtype = run.state_dtype;
  p.H = run.H;
  p.N = run.N;
  p.k = run.ws.proj_plane(0);
  p.v = run.ws.proj_plane(1);
  p.r = run.ws.proj_plane(2);
  p.g = gate;
  p.decay = L.decay;
  p.w_lora = w_lora;
  p.lora_act = lora.lora_act;
  p.decay_w2 = lora.decay_w2;
  p.Dd = lora.Dd;
  p.u = L.bonus;
  p.ln_w = L.ln_x_w;
  p.ln_b = L.ln_x_b;
  p.out = run.ws.att_out;
  p.out_dtype = run.dtype;
  p.split_parts = run.wkv_split_parts;
  in_span(run.profile, PrefillPiece::wkv, run.stream, [&] {
    if (run.chunked_wkv && !lora.decay_w2)  // prefill: chunks on tensor cores, then the GroupNorm
      RWKV_CUDA_TRY(rwkv_kernels::wkv5_chunked_forward(p, run.ws.wkv_y, run.stream));
    else
      RWKV_CUDA_TRY(rwkv_kernels::wkv5_forward(p, run.stream));
  });
}

void attention_output(const LayerRun& run) {
  add_to_residual(PrefillPiece::att_out, run, run.w.att_o, run.ws.att_out, run.A);
}

void attention_output_gemv(const LayerRun& run) {
  grouped_gemv(run.stream, run.M, run.dtype, run.dtype,
               {gemv_task(run.w.att_o, run.ws.att_out, run.A, run.ws.x, run.C, rwkv_kernels::gemv_epilogue::add,
                          DType::f32)});
}

void layer_prologue(const LayerRun& run, bool channel_mix, int n_out, float* const* mu, bool prev_weighted,
                    int first_plane, bool ln_every_row) {
  rwkv_kernels::layer_prologue_params p;
  p.batch = run.batch;
  p.x = run.ws.x;
  p.ln_w = channel_mix ? run.w.ln2_w : run.w.ln1_w;
  p.ln_b = channel_mix ? run.w.ln2_b : run.w.ln1_b;
  p.cur = channel_mix ? run.ws.ffn_in : run.ws.att_in;
  p.state_offset = channel_mix ? run.state.ffn_x : run.state.att_x;
  p.C = run.C;
  p.n_out = n_out;
  for (int z = 0; z < n_out; ++z) {
    p.mu[z] = mu[z];
    p.out[z] = run.ws.mix_plane(first_plane + z);
  }
  p.prev_weighted = prev_weighted;
  p.out_dtype = run.dtype;
  if (run.gemv) {
    RWKV_CUDA_TRY(rwkv_kernels::layer_prologue(p, run.stream));
    return;
  }
  p.row_parallel = true;
  p.store_state = false;
  p.cur_all_rows = ln_every_row;
  in_span(run.profile, PrefillPiece::shift, run.stream,
          [&] { RWKV_CUDA_TRY(rwkv_kernels::layer_prologue(p, run.stream)); });
}

rwkv_kernels::gemv_task kvrg_task(const LayerRun& run, int z, int plane) {
  return gemv_task(matrix_at(run.w.att_kvrg, z), run.ws.mix_plane(plane), run.C, run.ws.proj_plane(z), run.A,
                   rwkv_kernels::gemv_epilogue::store, DType::f32);
}

void store_shift_states(const LayerRun& run) {
  rwkv_kernels::shift_store_params st;
  st.batch = run.batch;
  st.att_offset = run.state.att_x;
  st.ffn_offset = run.state.ffn_x;
  st.att_cur = run.ws.att_in;
  st.ffn_cur = run.ws.ffn_in;
  st.C = run.C;
  in_span(run.profile, PrefillPiece::shift, run.stream, [&] { RWKV_CUDA_TRY(rwkv_kernels::shift_store(st, run.stream)); });
}

}  // namespace cuda
}  // namespace rwkv
