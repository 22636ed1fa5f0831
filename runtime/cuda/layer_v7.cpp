// runtime/cuda/layer_v7.cpp: the RWKV-7 time mix on the GPU (docs/rwkv-math.md section 6.3),
// the counterpart of runtime/cpu/time_mix_v7.cpp:
//   cuBLAS path: LN1 + mix x6 | GEMM k, v, r (batched) | 4 LoRA-in GEMMs (3 in layer 0) | LoRA
//   activations | 4 LoRA-out GEMMs | WKV7 (decay, kk, value residual, GroupNorm,
//   bonus, gate; chunked when run.chunked_wkv) | GEMM output += x
//   decode path: LN1 + mix x6 + shift store | GEMV k, v, r + LoRA-in with their activations
//   | GEMV LoRA-out | WKV7 | GEMV output + residual
#include <utility>

#include "kernels/activation.cuh"
#include "kernels/wkv7.cuh"
#include "kernels/wkv7_chunked.cuh"
#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/gemm.h"
#include "runtime/cuda/layer.h"

namespace rwkv {
namespace cuda {

namespace {

// Widths of the LoRA middles, packed side by side in ws.lora_mid / ws.lora_act
// in the order w, a, v, g (v is absent in layer 0).
struct LoraWidths {
  int w, a, v, g;
  int total() const { return w + a + v + g; }
};

// Mix planes, in the order of CudaLayer::mix: k, v, r, w, a, g.
enum MixPlane { kMixK = 0, kMixV = 1, kMixR = 2, kMixW = 3, kMixA = 4, kMixG = 5 };
// lora_out planes: the second-matrix outputs.
enum LoraPlane { kLoraW = 0, kLoraA = 1, kLoraV = 2, kLoraG = 3 };

// cuBLAS path: k, v, r from their mix planes into proj planes 0..2 (one batched GEMM).
void projections(const LayerRun& run) {
  const CudaLayer& L = run.w;
  const Workspace& ws = run.ws;
  const size_t R = (size_t)ws.max_rows();
  linear_batched_as(PrefillPiece::att_proj, run, L.att_kvrg, 3, ws.mix_plane(kMixK), run.C,
                    (long long)(R * run.C), run.M, ws.proj, DType::f32, run.A, (long long)(R * run.A));
}

// The LoRA middles: [tanh | identity | identity | sigmoid] over w, a, (v), g.
void lora_activations(const LayerRun& run, const LoraWidths& d) {
  rwkv_kernels::activation_params act;
  act.in = run.ws.lora_mid;
  act.out = run.ws.lora_act;
  act.out_dtype = run.dtype;
  act.rows = run.M;
  act.width = d.total();
  act.n_seg = 0;
  for (auto seg : {std::make_pair(d.w, rwkv_kernels::act_kind::tanh),
                   std::make_pair(d.a, rwkv_kernels::act_kind::identity),
                   std::make_pair(d.v, rwkv_kernels::act_kind::identity),
                   std::make_pair(d.g, rwkv_kernels::act_kind::sigmoid)}) {
    if (seg.first == 0) continue;
    act.seg_width[act.n_seg] = seg.first;
    act.seg_act[act.n_seg++] = seg.second;
  }
  activation(run, act);
}

// LoRA: first matrices into one [M, width] buffer, activations, second matrices
// into the lora_out planes.
void loras(const LayerRun& run, const LoraWidths& d) {
  const CudaLayer& L = run.w;
  const Workspace& ws = run.ws;
  const int width = d.total();
  float* mid = ws.lora_mid;
  lora_linear(run, L.w1, ws.mix_plane(kMixW), run.C, run.M, mid, DType::f32, width);
  lora_linear(run, L.a1, ws.mix_plane(kMixA), run.C, run.M, mid + d.w, DType::f32, width);
  if (d.v) lora_linear(run, L.v1, ws.mix_plane(kMixV), run.C, run.M, mid + d.w + d.a, DType::f32, width);
  lora_linear(run, L.g1, ws.mix_plane(kMixG), run.C, run.M, mid + d.w + d.a + d.v, DType::f32, width);
  lora_activations(run, d);
  // Column c of the packed activations, in the GEMM input dtype.
  auto act_col = [&](int c) { return static_cast<char*>(ws.lora_act) + (size_t)c * dtype_size(run.dtype); };
  lora_linear(run, L.w2, ws.lora_act, width, run.M, ws.lora_out_plane(kLoraW), DType::f32, run.A);
  lora_linear(run, L.a2, act_col(d.w), width, run.M, ws.lora_out_plane(kLoraA), DType::f32, run.A);
  if (d.v)
    lora_linear(run, L.v2, act_col(d.w + d.a), width, run.M, ws.lora_out_plane(kLoraV), DType::f32, run.A);
  lora_linear(run, L.g2, act_col(d.w + d.a + d.v), width, run.M, ws.lora_out_plane(kLoraG), DType::f32,
              run.A);
}

void wkv7_core(const LayerRun& run, bool has_v_lora) {
  const CudaLayer& L = run.w;
  const Workspace& ws = run.ws;
  rwkv_kernels::wkv7_params p;
  p.batch = run.batch;
  p.kv_offset = run.state.kv;
  p.state_dtype = run.state_dtype;
  p.H = run.H;
  p.N = run.N;
  p.k = ws.proj_plane(0);
  p.v = ws.proj_plane(1);
  p.r = ws.proj_plane(2);
  p.w_lora = ws.lora_out_plane(kLoraW);
  p.a_lora = ws.lora_out_plane(kLoraA);
  p.v_lora = has_v_lora ? ws.lora_out_plane(kLoraV) : nullptr;
  p.g = ws.lora_out_plane(kLoraG);
  p.v_first = ws.v_first;
  p.first_layer = run.layer == 0;
  p.w0 = L.w0;
  p.a0 = L.a0;
  p.v0 = L.v0;
  p.k_k = L.k_k;
  p.k_a = L.k_a;
  p.r_k = L.r_k;
  p.ln_w = L.ln_x_w;
  p.ln_b = L.ln_x_b;
  p.out = ws.att_out;
  p.out_dtype = run.dtype;
  p.chunk_scratch = ws.wkv_y;
  p.carry_split_slots = run.wkv_carry_split_slots;
  p.split_parts = run.wkv_split_parts;
  // Prefill rounds of long enough sequences: the chunked kernels (same parameters and results
  // within fp32 rounding), each of their passes in a span of its own; decode and short prompts:
  // the sequential one.
  using rwkv_kernels::wkv7_chunk_pass;
  if (run.chunked_wkv && rwkv_kernels::wkv7_chunked_in_passes(run.N)) {
    for (auto [pass, piece] : {std::make_pair(wkv7_chunk_pass::prepare, PrefillPiece::wkv_prepare),
                               std::make_pair(wkv7_chunk_pass::carry, PrefillPiece::wkv_carry),
                               std::make_pair(wkv7_chunk_pass::output, PrefillPiece::wkv_output)})
      in_span(run.profile, piece, run.stream,
              [&] { RWKV_CUDA_TRY(rwkv_kernels::wkv7_chunked_pass(p, pass, run.stream)); });
    return;
  }
  in_span(run.profile, PrefillPiece::wkv, run.stream, [&] {
    RWKV_CUDA_TRY(run.chunked_wkv ? rwkv_kernels::wkv7_chunked_forward(p, run.stream)
                                  : rwkv_kernels::wkv7_forward(p, run.stream));
  });
}

// Decode path: k, v, r and the LoRA-in products with their activations in one launch, then the
// LoRA-out products in another.
void projections_and_loras_gemv(const LayerRun& run, const LoraWidths& d) {
  using rwkv_kernels::gemv_epilogue;
  const CudaLayer& L = run.w;
  const Workspace& ws = run.ws;
  const int width = d.total();
  auto act_col = [&](int c) { return static_cast<char*>(ws.lora_act) + (size_t)c * dtype_size(run.dtype); };
  auto lora_in = [&](const DeviceMatrix& W, int plane, int col, gemv_epilogue e) {
    return gemv_task(W, ws.mix_plane(plane), run.C, act_col(col), width, e, run.dtype);
  };
  const rwkv_kernels::gemv_task w1 = lora_in(L.w1, kMixW, 0, gemv_epilogue::tanh);
  const rwkv_kernels::gemv_task a1 = lora_in(L.a1, kMixA, d.w, gemv_epilogue::store);
  const rwkv_kernels::gemv_task g1 = lora_in(L.g1, kMixG, d.w + d.a + d.v, gemv_epilogue::sigmoid);
  auto lora_out = [&](const DeviceMatrix& W, int col, int plane) {
    return gemv_task(W, act_col(col), width, ws.lora_out_plane(plane), run.A, gemv_epilogue::store, DType::f32);
  };
  const rwkv_kernels::gemv_task w2 = lora_out(L.w2, 0, kLoraW), a2 = lora_out(L.a2, d.w, kLoraA),
                                g2 = lora_out(L.g2, d.w + d.a + d.v, kLoraG);
  const auto k = kvrg_task(run, 0, kMixK), v = kvrg_task(run, 1, kMixV), r = kvrg_task(run, 2, kMixR);
  if (d.v) {
    const auto v1 = lora_in(L.v1, kMixV, d.w + d.a, gemv_epilogue::store);
    grouped_gemv(run.stream, run.M, run.dtype, run.dtype, {k, v, r, w1, a1, v1, g1});
    grouped_gemv(run.stream, run.M, run.dtype, run.dtype, {w2, a2, lora_out(L.v2, d.w + d.a, kLoraV), g2});
  } else {
    grouped_gemv(run.stream, run.M, run.dtype, run.dtype, {k, v, r, w1, a1, g1});
    grouped_gemv(run.stream, run.M, run.dtype, run.dtype, {w2, a2, g2});
  }
}

}  // namespace

void time_mix_v7(const LayerRun& run) {
  const CudaLayer& L = run.w;
  const LoraWidths d{L.w1.out, L.a1.out, L.has_v_mix ? L.v1.out : 0, L.g1.out};
  layer_prologue(run, false, 6, L.mix, true);  // LN1 and the 6 mixes
  if (run.gemv) {
    projections_and_loras_gemv(run, d);
    wkv7_core(run, d.v != 0);
    attention_output_gemv(run);
    return;
  }
  projections(run);
  loras(run, d);
  wkv7_core(run, d.v != 0);
  attention_output(run);
}

}  // namespace cuda
}  // namespace rwkv
