// runtime/cuda/layer_v6.cpp: the RWKV-6 time mix on the GPU (docs/rwkv-math.md section 5.2),
// the counterpart of runtime/cpu/time_mix_v6.cpp:
//   mix maa_x | GEMM maa_w1 | tanh | GEMM maa_w2 x5 (batched) | mix x5 (ddlerp)
//   | GEMM decay_w1 | tanh | GEMM decay_w2 | GEMM k, v, r, g (batched)
//   | WKV5 (per-token decay, GroupNorm, silu gate) | GEMM output
// decode path (8 launches with the channel mix's 3):
//   GEMV maa_w1 + tanh over LN1 + mix maa_x (its input transform) | GEMV maa_w2 x5 + ddlerp (into
//   the mixes) + shift store | GEMV decay_w1 + tanh, k, v, r, g | WKV5 with decay_w2 inside
//   | GEMV output + residual
#include "kernels/activation.cuh"
#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/gemm.h"
#include "runtime/cuda/layer.h"

namespace rwkv {
namespace cuda {

namespace {

// ws.lora_act = tanh(ws.lora_mid) over `width` columns of the round's rows.
void tanh_lora(const LayerRun& run, int width) {
  rwkv_kernels::activation_params act;
  act.in = run.ws.lora_mid;
  act.out = run.ws.lora_act;
  act.out_dtype = run.dtype;
  act.rows = run.M;
  act.width = width;
  act.seg_width[0] = width;
  act.seg_act[0] = rwkv_kernels::act_kind::tanh;
  activation(run, act);
}

// ddlerp (docs/rwkv-math.md section 5.2): xxx = a + (prev - a) * maa_x; m = tanh(xxx maa_w1);
// x_z = a + (prev - a) * (maa_z + m_z maa_w2[z]) into mix planes 0..4 (w, k, v, r, g).
void ddlerp_mixes(const LayerRun& run) {
  const CudaLayer& L = run.w;
  const Workspace& ws = run.ws;
  const int D = L.maa_w1.out / 5;
  // LN1 and xxx into mix plane 5; LN1 kept for every row, which the ddlerp mixes below read.
  layer_prologue(run, false, 1, L.mix, true, 5, true);
  lora_linear(run, L.maa_w1, ws.mix_plane(5), run.C, run.M, ws.lora_mid, DType::f32, 5 * D);
  tanh_lora(run, 5 * D);
  // The five data-dependent deltas, [5][M, C] in lora_out.
  lora_linear_batched(run, L.maa_w2, 5, ws.lora_act, 5 * D, D, run.M, ws.lora_out, DType::f32, run.C,
                 (long long)run.M * run.C);
  rwkv_kernels::shift_mix_params sm = att_shift_mix(run);
  sm.n_out = 5;
  for (int z = 0; z < 5; ++z) {
    sm.mu[z] = L.mix[1 + z];
    sm.out[z] = ws.mix_plane(z);
  }
  sm.delta = ws.lora_out;
  shift_mix(run, sm);
}

// maa_w1 with LN1 and the maa_x mix as its input transform (kernels/gemv.cuh, gemv_ln_mix):
// ws.lora_act = tanh(xxx maa_w1), ws.att_in = LN1(x), ws.shift_prev = each row's previous token.
void maa_w1_with_ln1(const LayerRun& run) {
  const CudaLayer& L = run.w;
  const Workspace& ws = run.ws;
  rwkv_kernels::gemv_params p;
  p.M = run.M;
  p.n_tasks = 1;
  p.w_dtype = p.x_dtype = run.dtype;
  p.task[0] = gemv_task(L.maa_w1, nullptr, run.C, ws.lora_act, L.maa_w1.out, rwkv_kernels::gemv_epilogue::tanh,
                        run.dtype);
  p.batch = run.batch;
  rwkv_kernels::gemv_ln_mix& t = p.ln_mix;
  t.x = ws.x;
  t.ln_w = L.ln1_w;
  t.ln_b = L.ln1_b;
  t.mu = L.mix[0];
  t.state_offset = run.state.att_x;
  t.cur_out = ws.att_in;
  t.prev_out = ws.shift_prev;
  RWKV_CUDA_TRY(rwkv_kernels::gemv(p, run.stream));
}

// Decode path (docs/rwkv-math.md section 5.2): LN1 and the maa_x mix are maa_w1's input transform;
// the ddlerp's second matrices write the five mixes in their epilogue (x_z = a + (prev - a) *
// (maa_z + m_z maa_w2[z])), the first of them also the shift state (the old one was read by the
// launch before); the decay LoRA's first matrix shares a launch with k, v, r, g and its second
// runs inside the WKV kernel.
void time_mix_v6_gemv(const LayerRun& run) {
  using rwkv_kernels::gemv_epilogue;
  const CudaLayer& L = run.w;
  const Workspace& ws = run.ws;
  const int D = L.maa_w1.out / 5, Dd = L.decay_w1.out;
  maa_w1_with_ln1(run);
  rwkv_kernels::gemv_params p;
  p.M = run.M;
  p.n_tasks = 5;
  p.w_dtype = p.x_dtype = run.dtype;
  for (int z = 0; z < 5; ++z) {
    const void* m_z = static_cast<const char*>(ws.lora_act) + (size_t)z * D * dtype_size(run.dtype);
    p.task[z] = gemv_task(matrix_at(L.maa_w2, z), m_z, 5 * D, ws.mix_plane(z), run.C, gemv_epilogue::lerp,
                          run.dtype);
    p.task[z].aux = ws.att_in;
    p.task[z].aux2 = ws.shift_prev;
    p.task[z].mu = L.mix[1 + z];
  }
  p.batch = run.batch;
  p.store_state = true;  // task 0's a = att_in: each sequence's last row into att.x_prev
  p.store_state_offset = run.state.att_x;
  RWKV_CUDA_TRY(rwkv_kernels::gemv(p, run.stream));
  grouped_gemv(run.stream, run.M, run.dtype, run.dtype,
               {gemv_task(L.decay_w1, ws.mix_plane(0), run.C, ws.lora_act, Dd, gemv_epilogue::tanh, run.dtype),
                kvrg_task(run, 0, 1), kvrg_task(run, 1, 2), kvrg_task(run, 2, 3), kvrg_task(run, 3, 4)});
  if (L.decay_w2.quantized()) {
    // The fused decay LoRA of the WKV kernel reads dense weights: a quantized decay_w2 runs as
    // its own GEMV into lora_out (unused on the decode path: the ddlerp writes the mixes directly).
    grouped_gemv(run.stream, run.M, run.dtype, run.dtype,
                 {gemv_task(L.decay_w2, ws.lora_act, Dd, ws.lora_out, run.A, gemv_epilogue::store, DType::f32)});
    wkv5_core(run, ws.lora_out, ws.proj_plane(3));
  } else {
    wkv5_core(run, nullptr, ws.proj_plane(3), {ws.lora_act, L.decay_w2.data, Dd});
  }
  attention_output_gemv(run);
}

}  // namespace

void time_mix_v6(const LayerRun& run) {
  if (run.gemv) {
    time_mix_v6_gemv(run);
    return;
  }
  const CudaLayer& L = run.w;
  const Workspace& ws = run.ws;
  const size_t R = (size_t)ws.max_rows();
  ddlerp_mixes(run);
  // Data-dependent decay: time_decay + tanh(x_w decay_w1) decay_w2 (exp(-exp) in the kernel).
  const int Dd = L.decay_w1.out;
  lora_linear(run, L.decay_w1, ws.mix_plane(0), run.C, run.M, ws.lora_mid, DType::f32, Dd);
  tanh_lora(run, Dd);
  float* w_lora = ws.lora_out;  // the ddlerp deltas are consumed
  lora_linear(run, L.decay_w2, ws.lora_act, Dd, run.M, w_lora, DType::f32, run.A);
  linear_batched_as(PrefillPiece::att_proj, run, L.att_kvrg, 4, ws.mix_plane(1), run.C, (long long)(R * run.C),
                    run.M, ws.proj, DType::f32, run.A, (long long)(R * run.A));
  wkv5_core(run, w_lora, ws.proj_plane(3));
  attention_output(run);
}

}  // namespace cuda
}  // namespace rwkv
