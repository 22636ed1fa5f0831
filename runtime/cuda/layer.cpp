// runtime/cuda/layer.cpp: the launches of one layer, in the order of layer.h.
#include "runtime/cuda/layer.h"

namespace rwkv {
namespace cuda {

void run_layer(const RoundRun& round, int l) {
  const ModelInfo& info = round.info;
  const CudaLayer& L = round.w.layers[(size_t)l];
  const int A = info.n_att > 0 ? info.n_att : info.n_embd;
  const LayerRun run{round.cublas, round.stream, L,         round.layout.layer(l), round.ws,
                     round.dev.batch, l,         round.M,   info.n_embd,           A,
                     info.n_ffn,   info.n_head,  info.head_size, round.w.dtype,    info.arch,
                     uses_gemv(round),  round.layout.kv_dtype(), uses_chunked_wkv(round),
                     round.wkv_carry_split_slots, round.wkv_split_parts, round.profile};

  // Each mix starts with LN of the complete residual stream inside its first launch (both paths).
  switch (info.arch) {
    case Arch::v4: time_mix_v4(run); break;
    case Arch::v5_0:
    case Arch::v5_1:
    case Arch::v5_2: time_mix_v5(run); break;
    case Arch::v6: time_mix_v6(run); break;
    case Arch::v7: time_mix_v7(run); break;
  }
  channel_mix(run);
  // The decode path's prologues store the shift states; the cuBLAS path's row-parallel ones only
  // read them, so they are stored once the layer is done.
  if (!run.gemv) store_shift_states(run);
}

}  // namespace cuda
}  // namespace rwkv
