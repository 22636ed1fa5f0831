// bench/bench_pieces.h: the counted work of each piece of a prefill (runtime/cuda/prefill_profile.h,
// PrefillPiece: one kind of launch), so that the bench prints a floor next to each measured piece.
// FLOPs and bytes per call of `batch` sequences of `tokens` tokens in `rounds` rounds, from the
// model's shapes and what each launch reads and writes (docs/performance.md "Prefill rounds and the
// split"):
//
//   att_proj, att_out,       2 x params x rows FLOPs; each matrix read once per round in the dtype
//   ffn_key, ffn_value,      (the layers' matrices by role, ModelCost::att_proj_params ...; the
//   ffn_r, lora, head        head's over the last rows)
//   wkv                      ModelCost::prefill_wkv_flops / prefill_wkv_bytes (the recurrence's floor)
//   wkv_prepare / _carry /   the chunked v7 kernel's passes as written (kernels/wkv7_chunked.cu, its
//   _output                  FLOPs and bytes per chunk and head): per token and head, prepare reads
//                            8 N fp32 and writes 7 N + 1 + N / 16, carry reads 7 N + 1 and writes N
//                            (plus the state once per round), output reads 3 N + 1 and writes N
//   layernorm                the head's LayerNorm: each last row read in fp32, written in the dtype
//   shift                    LN1 and LN2 with the mixes they start (one launch each): per row x read
//                            (fp32) and each mix written in the dtype; the LN output written for the
//                            last rows (v6: every row, which its second ddlerp launch reads with
//                            its five fp32 deltas); the shift store
//   activation               per row each activated width read in fp32, written in the dtype (the
//                            v4-v6 gate: r, v and x read, x written, fp32)
//   gather                   per row an embedding row read in the dtype, written in fp32; the head's
//                            last rows of x
// Element-wise FLOPs are left out (a few per byte: bandwidth-bound).
#pragma once

#include <string>

#include "bench/bench_accounting.h"

namespace rwkv {
namespace bench {

struct PieceCost {
  double flops = 0, bytes = 0;
};

// `piece` is a PrefillPiece name ("att_proj", ..., "gather"); an unknown name costs nothing.
PieceCost prefill_piece_cost(const ModelCost& c, const std::string& piece, int batch, int tokens, int rounds,
                             DType dtype, DType state_dtype);

}  // namespace bench
}  // namespace rwkv
