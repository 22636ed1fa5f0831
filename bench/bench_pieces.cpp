// bench/bench_pieces.cpp: see bench_pieces.h.
#include "bench/bench_pieces.h"

namespace rwkv {
namespace bench {

namespace {

// A GEMM piece over `params` matrix elements: 2 FLOPs per element and row, the matrices once a round.
PieceCost gemm(double params, double rows, int rounds, double es) {
  return {2.0 * params * rows, params * es * rounds};
}

// The chunked v7 passes per token, head and layer, in floats (bench_pieces.h); N the head size.
PieceCost v7_pass(const std::string& piece, double N, double out_size) {
  if (piece == "wkv_prepare") return {12.0 * 16.0 * N + 50.0 * N, (8.0 * N + 7.0 * N + 1.0 + N / 16.0) * 4.0};
  if (piece == "wkv_carry") return {8.0 * N * N, (7.0 * N + 1.0 + N) * 4.0};
  return {10.0 * N, (3.0 * N + 1.0) * 4.0 + N * out_size};  // wkv_output
}

}  // namespace

PieceCost prefill_piece_cost(const ModelCost& c, const std::string& piece, int batch, int tokens, int rounds,
                             DType dtype, DType state_dtype) {
  const double rows = double(batch) * double(tokens), L = c.n_layer, C = c.n_embd;
  const double es = double(dtype_size(dtype));
  if (piece == "att_proj") return gemm(double(c.att_proj_params), rows, rounds, es);
  if (piece == "att_out") return gemm(double(c.att_out_params), rows, rounds, es);
  if (piece == "ffn_key") return gemm(double(c.ffn_key_params), rows, rounds, es);
  if (piece == "ffn_value") return gemm(double(c.ffn_value_params), rows, rounds, es);
  if (piece == "ffn_r") return gemm(double(c.ffn_r_params), rows, rounds, es);
  if (piece == "lora") return gemm(double(c.lora_params), rows, rounds, es);
  if (piece == "head") return gemm(double(c.head_params), double(batch), rounds, es);
  if (piece == "wkv")
    return {c.prefill_wkv_flops(batch, tokens), c.prefill_wkv_bytes(batch, tokens, rounds, dtype, state_dtype)};
  if (piece == "wkv_prepare" || piece == "wkv_carry" || piece == "wkv_output") {
    const double N = c.head_size, H = N > 0 ? double(c.n_att) / N : 0.0;
    PieceCost per = v7_pass(piece, N, es);
    PieceCost out{per.flops * rows * H * L, per.bytes * rows * H * L};
    // The carry reads and writes each sequence's state once per round.
    if (piece == "wkv_carry")
      out.bytes += 2.0 * double(c.state_kv_floats) * double(dtype_size(state_dtype)) * batch * rounds;
    return out;
  }
  if (piece == "layernorm") return {0, double(batch) * C * (4.0 + es)};  // the head's, on the last rows
  if (piece == "shift") {
    // LN1 and LN2 each read x and write their mixes; LN1's output is written for every row where
    // v6's second ddlerp launch reads it again (with five fp32 deltas), else like LN2's only for
    // each sequence's last row of a round, which the shift store copies into the state.
    const bool v6 = c.arch == Arch::v6;
    const double mixes = double(c.att_mixes + c.ffn_mixes);
    const double ddlerp = v6 ? C * 4.0 + 5.0 * C * 4.0 + C * 4.0 : 0.0;
    const double per_row = 2.0 * C * 4.0 + mixes * C * es + ddlerp;
    const double last_rows = double(batch) * rounds * C * 4.0 * (v6 ? 1.0 : 2.0);
    const double store = double(batch) * rounds * 2.0 * 2.0 * C * 4.0;
    return {0, L * (rows * per_row + last_rows + store)};
  }
  if (piece == "activation") {
    const double widths = double(c.lora_act_width) + double(c.n_ffn);
    const double gate = c.ffn_gate ? 4.0 * C * 4.0 : 0.0;  // r, v and x read, x written
    return {0, L * rows * (widths * (4.0 + es) + gate)};
  }
  if (piece == "gather") return {0, rows * C * (es + 4.0) + double(batch) * 2.0 * C * 4.0};
  return {};
}

}  // namespace bench
}  // namespace rwkv
