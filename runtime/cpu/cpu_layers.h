// runtime/cpu/cpu_layers.h: one layer's TimeMix and ChannelMix for every
// version, over all tokens of a batch at once.
//
// Rows: the batch's tokens are stacked into M rows (sequence after sequence).
// Projections run as one GEMM over the M rows; the recurrences run per sequence
// in token order, in parallel over (sequence, head or channel). The inputs `a`
// are LayerNorm outputs [M, C] and `prev` their token-shifted copy (row r holds
// row r-1, or the stored x_prev for a sequence's first token).
#pragma once

#include <cstddef>
#include <initializer_list>
#include <vector>

#include "runtime/backend/state_layout.h"
#include "runtime/cpu/cpu_ops.h"
#include "runtime/cpu/cpu_weights.h"
#include "runtime/cpu/thread_pool.h"

namespace rwkv {
namespace cpu {

struct BatchRows {
  size_t M = 0;                // total tokens
  std::vector<size_t> begin;   // first row of each sequence; begin[S] = M
  std::vector<float*> state;   // flat state of each sequence (StateLayout order)
  size_t n_seq() const { return state.size(); }
};

struct LayerCtx {
  ThreadPool& pool;
  const CpuWeights& w;
  const LayerWeights& lw;
  const LayerStateOffsets& st;  // offsets of this layer's state pieces
  const BatchRows& rows;
  const LinearOptions& products;  // how cpu::linear runs (the backend's CpuOptions)

  // Y = W X with the pool and the backend's product options (cpu_ops.h).
  void linear(const Linear& W, const float* X, size_t ldx, size_t M, float* Y, size_t ldy) const {
    cpu::linear(pool, W, X, ldx, M, Y, ldy, products);
  }
  // Independent products over this batch's M rows in one hand-off (cpu_ops.h linear_group).
  void linear_group(std::initializer_list<Product> group) const { linear_group(group.begin(), group.size()); }
  void linear_group(const Product* group, size_t n) const { cpu::linear_group(pool, rows.M, group, n, products); }
};

// prev[r] = x[r-1] within a sequence, the stored shift state (at `state_offset`)
// for the first row; then the shift state takes the sequence's last row of x.
void token_shift(const LayerCtx& c, const float* x, int width, size_t state_offset, float* prev);

// out[M, C] = TimeMix(a) (docs/rwkv-math.md section 3.3, 4.4, 5.2, 6.3); updates the layer's state.
void time_mix_v4(const LayerCtx& c, const float* a, const float* prev, float* out);
void time_mix_v5(const LayerCtx& c, const float* a, const float* prev, float* out);
void time_mix_v6(const LayerCtx& c, const float* a, const float* prev, float* out);
// v_first [M, A]: written by layer 0, read by the later layers (docs/rwkv-math.md section 6.3).
void time_mix_v7(const LayerCtx& c, const float* a, const float* prev, float* v_first, float* out);

// out[M, C] = ChannelMix(f) (docs/rwkv-math.md section 3.4, 5.3, 6.4).
void channel_mix(const LayerCtx& c, const float* f, const float* prev, float* out);

// The v5/v6 WKV of one head over rows [r0, r1) of one sequence (docs/rwkv-math.md section 4.4):
// y = r^T (diag(u) k v^T + S), then S = diag(w) S + k v^T, S laid out [key][value].
// w_rows: the decay of each row (v6), or null with w_fixed used for every row (v5).
void wkv5_head(int N, size_t A, size_t r0, size_t r1, int h, const float* r, const float* k,
               const float* v, const float* w_rows, const float* w_fixed, const float* u,
               float* S, float* y);

// The v4 WKV of channels [c0, c1) over rows [r0, r1) of one sequence (docs/rwkv-math.md section 3.3),
// pip's max-exponent form: y = wkv (before the receptance), then aa, bb, pp
// (this sequence's state, [A] each) advance. w = -exp(time_decay), u = time_first.
void wkv4_channels(size_t A, size_t r0, size_t r1, size_t c0, size_t c1, const float* k, const float* v,
                   const float* w, const float* u, float* aa, float* bb, float* pp, float* y);

// The v7 WKV (docs/rwkv-math.md section 6.3) in four steps over [M, A] rows, A = H*N:
// wkv7_prepare: alpha = sigmoid(a0 + alpha), kk = per-head normalize(k * k_k),
//   k = k * (1 + (alpha - 1) * k_a), w = exp(-0.606531 * sigmoid(w0 + w)), in place
//   (alpha, w enter as the LoRA outputs);
// wkv7_value_residual: v += (v_first - v) * sigmoid(v0 + v_lora) (layers after 0);
// wkv7_head: one head over rows [r0, r1) of one sequence, S laid out [value][key],
//   y read out after the update;
// wkv7_output: o = (GN_H(y; ln_x, 64e-5) + (sum_j r_j k_j r_k_j) v) * g.
void wkv7_prepare(size_t M, int H, int N, const float* a0, const float* k_k, const float* k_a,
                  const float* w0, float* k, float* w, float* alpha, float* kk);
void wkv7_value_residual(size_t M, size_t A, const float* v0, const float* v_lora, const float* v_first,
                         float* v);
void wkv7_head(int N, size_t A, size_t r0, size_t r1, int h, const float* r, const float* w,
               const float* k, const float* v, const float* kk, const float* alpha, float* S, float* y);
void wkv7_output(size_t M, int H, int N, const float* y, const float* r, const float* k, const float* v,
                 const float* r_k, const float* ln_w, const float* ln_b, const float* g, float* o);

}  // namespace cpu
}  // namespace rwkv
