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
#include <vector>

#include "runtime/backend/state_layout.h"
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
};

// prev[r] = x[r-1] within a sequence, the stored shift state (at `state_offset`)
// for the first row; then the shift state takes the sequence's last row of x.
void token_shift(const LayerCtx& c, const float* x, int width, size_t state_offset, float* prev);

// out[M, C] = TimeMix(a) (rwkv-spec.md 3.3, 4.4, 5.2, 6.3); updates the layer's state.
void time_mix_v4(const LayerCtx& c, const float* a, const float* prev, float* out);
void time_mix_v5(const LayerCtx& c, const float* a, const float* prev, float* out);
void time_mix_v6(const LayerCtx& c, const float* a, const float* prev, float* out);
// v_first [M, A]: written by layer 0, read by the later layers (spec 6.3).
void time_mix_v7(const LayerCtx& c, const float* a, const float* prev, float* v_first, float* out);

// out[M, C] = ChannelMix(f) (spec 3.4, 5.3, 6.4).
void channel_mix(const LayerCtx& c, const float* f, const float* prev, float* out);

// The v5/v6 WKV of one head over rows [r0, r1) of one sequence (spec 4.4):
// y = r^T (diag(u) k v^T + S), then S = diag(w) S + k v^T, S laid out [key][value].
// w_rows: the decay of each row (v6), or null with w_fixed used for every row (v5).
void wkv5_head(int N, size_t A, size_t r0, size_t r1, int h, const float* r, const float* k,
               const float* v, const float* w_rows, const float* w_fixed, const float* u,
               float* S, float* y);

}  // namespace cpu
}  // namespace rwkv
