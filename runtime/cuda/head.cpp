// runtime/cuda/head.cpp: the embedding and last-row gathers and the output head; see layer.h.
#include "kernels/embedding.cuh"
#include "kernels/layernorm.cuh"
#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/gemm.h"
#include "runtime/cuda/layer.h"

namespace rwkv {
namespace cuda {

void gather_rows(const RoundRun& round, const int32_t* ids, const void* table, DType table_dtype, int n_table,
                 float* out, int n) {
  rwkv_kernels::embedding_params g;
  g.ids = ids;
  g.emb = table;
  g.emb_dtype = table_dtype;
  g.out = out;
  g.error_flag = round.ws.error_flag;
  g.n = n;
  g.V = n_table;
  g.C = round.info.n_embd;
  in_span(round.profile, PrefillPiece::gather, round.stream,
          [&] { RWKV_CUDA_TRY(rwkv_kernels::embedding_gather(g, round.stream)); });
}

void compute_logits(const RoundRun& round, LogitsMode mode) {
  const Workspace& ws = round.ws;
  const int C = round.info.n_embd, V = round.info.n_vocab;
  const bool gemv = uses_gemv(round);
  rwkv_kernels::layernorm_params ln;
  ln.weight = round.w.ln_out_w;
  ln.bias = round.w.ln_out_b;
  ln.y = ws.ln_out;
  ln.y_dtype = round.w.dtype;
  ln.C = C;
  ln.rows = round.M;
  ln.x = ws.x;  // complete on both paths: no pending delta
  // Only the last rows when those are asked for and the round has others (the decode path's
  // rounds of one row per sequence are their own last rows: no gather).
  const int S = round.dev.batch.n_seq;
  if (mode == LogitsMode::last && (!gemv || S != round.M)) {
    gather_rows(round, round.dev.last_rows, ws.x, DType::f32, round.M, ws.x_last, S);
    ln.x = ws.x_last;
    ln.rows = S;
  }
  if (gemv) {
    RWKV_CUDA_TRY(rwkv_kernels::layernorm_residual(ln, round.stream));
    grouped_gemv(round.stream, ln.rows, round.w.dtype, round.w.dtype,
                 {gemv_task(round.w.head, ws.ln_out, C, ws.logits, V, rwkv_kernels::gemv_epilogue::store,
                            DType::f32)});
    return;
  }
  in_span(round.profile, PrefillPiece::layernorm, round.stream,
          [&] { RWKV_CUDA_TRY(rwkv_kernels::layernorm_residual(ln, round.stream)); });
  in_span(round.profile, PrefillPiece::head, round.stream,
          [&] {
            linear(round.cublas, round.w.head, ws.ln_out, C, ln.rows, ws.logits, DType::f32, V, ws.dequant_scratch());
          });
}

}  // namespace cuda
}  // namespace rwkv
