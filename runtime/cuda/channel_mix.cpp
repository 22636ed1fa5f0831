// runtime/cuda/channel_mix.cpp: the channel mix of every version on the GPU
// (docs/rwkv-math.md section 3.4, 5.3, 6.4), the counterpart of channel_mix() in
// runtime/cpu/cpu_layers_common.cpp:
//   cuBLAS path: LN2 + mix k (, r) | GEMM key | relu^2 | GEMM value += x
//   (v4-v6: GEMM value | GEMM receptance | x += sigmoid(r) * value)
//   decode path: LN2 + mix k (, r) + shift store | GEMV key with relu^2 (+ v4-v6: GEMV
//   receptance with sigmoid) | GEMV value + residual (v4-v6: x += sigmoid(r) * value)
#include "kernels/activation.cuh"
#include "runtime/arch/arch.h"
#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/gemm.h"
#include "runtime/cuda/layer.h"

namespace rwkv {
namespace cuda {

namespace {

// How a version's channel mix differs: whether the mixes weight the previous
// token (v6, v7) or the current one (v4, v5), and whether a receptance gates
// the value (all but v7).
struct ChannelMixForm {
  bool prev_weighted;
  bool receptance;
};

// The channel mix's form, from the version registry (docs/rwkv-math.md sections 3.4, 5.3, 6.4).
ChannelMixForm channel_mix_form(Arch arch) {
  const ArchSpec& spec = arch_spec(arch);
  return {spec.mixes_toward_previous(), spec.has_ffn_receptance()};
}

// ws.ffn_key_act = relu(ws.ffn_key)^2.
void relu_squared_key(const LayerRun& run) {
  rwkv_kernels::activation_params sq;
  sq.in = run.ws.ffn_key;
  sq.out = run.ws.ffn_key_act;
  sq.out_dtype = run.dtype;
  sq.rows = run.M;
  sq.width = run.F;
  sq.seg_width[0] = run.F;
  sq.seg_act[0] = rwkv_kernels::act_kind::relu_sq;
  activation(run, sq);
}

// Decode path. relu(key)^2 is kept in fp32 for fp16 weights (fp16 overflows above 256), else in
// the weights' dtype (bf16 has fp32's range).
void channel_mix_gemv(const LayerRun& run, const ChannelMixForm& form) {
  using rwkv_kernels::gemv_epilogue;
  const CudaLayer& L = run.w;
  const Workspace& ws = run.ws;
  const DType key_dtype = run.dtype == DType::f16 ? DType::f32 : run.dtype;
  void* key = run.dtype == DType::f16 ? static_cast<void*>(ws.ffn_key) : ws.ffn_key_act;
  const auto key_task = gemv_task(L.ffn_k, ws.mix_plane(0), run.C, key, run.F, gemv_epilogue::relu_sq, key_dtype);
  if (!form.receptance) {
    grouped_gemv(run.stream, run.M, run.dtype, run.dtype, {key_task});
    grouped_gemv(run.stream, run.M, run.dtype, key_dtype,
                 {gemv_task(L.ffn_v, key, run.F, ws.x, run.C, gemv_epilogue::add, DType::f32)});
    return;
  }
  grouped_gemv(run.stream, run.M, run.dtype, run.dtype,
               {key_task, gemv_task(L.ffn_r, ws.mix_plane(1), run.C, ws.ffn_r, run.C, gemv_epilogue::sigmoid,
                                    DType::f32)});
  rwkv_kernels::gemv_task value = gemv_task(L.ffn_v, key, run.F, ws.x, run.C, gemv_epilogue::mul_add, DType::f32);
  value.aux = ws.ffn_r;
  grouped_gemv(run.stream, run.M, run.dtype, key_dtype, {value});
}

}  // namespace

void channel_mix(const LayerRun& run) {
  const CudaLayer& L = run.w;
  const Workspace& ws = run.ws;
  const ChannelMixForm form = channel_mix_form(run.arch);
  // LN2 with mix planes 0 (key) and, before v7, 1 (receptance).
  layer_prologue(run, true, form.receptance ? 2 : 1, L.ffn_mix, form.prev_weighted);
  if (run.gemv) {
    channel_mix_gemv(run, form);
    return;
  }
  linear_as(PrefillPiece::ffn_key, run, L.ffn_k, ws.mix_plane(0), run.C, run.M, ws.ffn_key, DType::f32, run.F);
  relu_squared_key(run);
  if (!form.receptance) {
    add_to_residual(PrefillPiece::ffn_value, run, L.ffn_v, ws.ffn_key_act, run.F);
  } else {
    linear_as(PrefillPiece::ffn_value, run, L.ffn_v, ws.ffn_key_act, run.F, run.M, ws.ffn_v, DType::f32, run.C);
    linear_as(PrefillPiece::ffn_r, run, L.ffn_r, ws.mix_plane(1), run.C, run.M, ws.ffn_r, DType::f32, run.C);
    in_span(run.profile, PrefillPiece::activation, run.stream, [&] {
      RWKV_CUDA_TRY(rwkv_kernels::gate_mul(ws.ffn_r, ws.ffn_v, ws.x, (size_t)run.M * run.C, run.stream, true));
    });
  }
}

}  // namespace cuda
}  // namespace rwkv
