// kernels/wkv5_chunked.cuh: the RWKV-5 / RWKV-6 WKV of a prefill in chunks of tokens, on tensor
// cores (docs/performance.md, "Chunked prefill: RWKV-5 and RWKV-6"): the same results as
// kernels/wkv5.cuh's token-by-token kernel (within fp32 rounding), with the work of a chunk of
// kWkv5ChunkTokens tokens done as a few matrix products instead of one barrier-bound step per token.
//
// Host declarations only; the kernels are in wkv5_chunked.cu.
#pragma once

#include "kernels/common/cuda_compat.cuh"
#include "kernels/wkv5.cuh"

namespace rwkv_kernels {

constexpr int kWkv5ChunkTokens = 32;  // tokens per chunk
// A token's log decay is raised to this when it is lower (its factor e^-40 ~ 4e-18 instead of a
// smaller one, or 0): it keeps every cumulative log decay finite, so no exponent is inf - inf.
constexpr float kWkv5MinLogDecay = -40.0f;

// Enqueues the chunked WKV and then the GroupNorm (+ silu gate) of its outputs: p as for
// wkv5_forward, with the decay given as the v5 factor or as v6's w_lora (not the decode mode
// decay_w2); y_scratch: fp32 [rows, H*N] that holds the outputs before the GroupNorm (not
// overlapping the inputs). Head sizes 8, 16, 32, 64. Returns cudaErrorInvalidValue for what
// wkv5_forward refuses, decay_w2 set, no y_scratch, or split_parts not 2 or 3; cudaSuccess
// without launching for no sequence; otherwise the launch status.
cudaError_t wkv5_chunked_forward(const wkv5_params& p, float* y_scratch, cudaStream_t stream);

}  // namespace rwkv_kernels
