// runtime/cuda/layer_v4_v5.cpp: the RWKV-4 and RWKV-5.x time mix on the GPU
// (docs/rwkv-math.md section 3.3, 4.4), the counterpart of runtime/cpu/time_mix_v4.cpp and
// time_mix_v5.cpp:
//   cuBLAS path: shift mixes k, v, r (, g) weighting the current token | GEMM k, v, r (, g)
//   (batched) | WKV4 (+ sigmoid(r)) or WKV5 (+ GroupNorm, silu gate) | GEMM output
//   decode path: LN1 + mixes + shift store | GEMV k, v, r (, g) | WKV4 or WKV5 | GEMV output
//   + residual
#include "kernels/wkv4.cuh"
#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/gemm.h"
#include "runtime/cuda/layer.h"

namespace rwkv {
namespace cuda {

namespace {

void wkv4_core(const LayerRun& run) {
  rwkv_kernels::wkv4_params p;
  p.batch = run.batch;
  p.aa_offset = run.state.aa;
  p.bb_offset = run.state.bb;
  p.pp_offset = run.state.pp;
  p.A = run.A;
  p.k = run.ws.proj_plane(0);
  p.v = run.ws.proj_plane(1);
  p.r = run.ws.proj_plane(2);
  p.w = run.w.decay;
  p.u = run.w.bonus;
  p.out = run.ws.att_out;
  p.out_dtype = run.dtype;
  // Prefill: the chunked form, its scratch in ws.wkv_y (v4 has no GroupNorm that would use the
  // plane); it fits unless max_rows is below 6 rows (kernels/wkv4.cuh).
  p.chunk_state = run.ws.wkv_y;
  p.chunk_state_floats = (size_t)run.ws.max_rows() * (size_t)run.A;
  const bool chunked =
      run.chunked_wkv && p.chunk_state_floats >= rwkv_kernels::wkv4_chunk_state_floats(run.M, run.A, p.chunk_rows);
  in_span(run.profile, PrefillPiece::wkv, run.stream, [&] {
    RWKV_CUDA_TRY(chunked ? rwkv_kernels::wkv4_forward_chunked(p, run.stream) : rwkv_kernels::wkv4_forward(p, run.stream));
  });
}

// v4, v5: lerp mixes k, v, r (, g) weighting the current token, then their
// projections into proj planes 0..3 (one batched GEMM).
void lerp_mixes_and_projections(const LayerRun& run) {
  const CudaLayer& L = run.w;
  const Workspace& ws = run.ws;
  layer_prologue(run, false, L.n_kvrg, L.mix, false);
  if (run.gemv) {
    if (L.n_kvrg == 4)
      grouped_gemv(run.stream, run.M, run.dtype, run.dtype,
                   {kvrg_task(run, 0, 0), kvrg_task(run, 1, 1), kvrg_task(run, 2, 2), kvrg_task(run, 3, 3)});
    else
      grouped_gemv(run.stream, run.M, run.dtype, run.dtype,
                   {kvrg_task(run, 0, 0), kvrg_task(run, 1, 1), kvrg_task(run, 2, 2)});
    return;
  }
  const size_t R = (size_t)ws.max_rows();
  linear_batched_as(PrefillPiece::att_proj, run, L.att_kvrg, L.n_kvrg, ws.mix_plane(0), run.C,
                    (long long)(R * run.C), run.M, ws.proj, DType::f32, run.A, (long long)(R * run.A));
}

}  // namespace

void time_mix_v4(const LayerRun& run) {
  lerp_mixes_and_projections(run);
  wkv4_core(run);
  if (run.gemv)
    attention_output_gemv(run);
  else
    attention_output(run);
}

void time_mix_v5(const LayerRun& run) {
  lerp_mixes_and_projections(run);
  // 5.0 has no gate; 5.1 and 5.2 project one (n_kvrg == 4).
  wkv5_core(run, nullptr, run.w.n_kvrg == 4 ? run.ws.proj_plane(3) : nullptr);
  if (run.gemv)
    attention_output_gemv(run);
  else
    attention_output(run);
}

}  // namespace cuda
}  // namespace rwkv
