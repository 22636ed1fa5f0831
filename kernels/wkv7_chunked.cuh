// kernels/wkv7_chunked.cuh: the RWKV-7 time-mix core of wkv7.cuh in chunked form for prefill
// (issue 15; docs/rwkv-math.md section 6.3, docs/performance.md "Chunked prefill: RWKV-7"):
// the same inputs, outputs and state as wkv7_forward, computed chunk by chunk of
// kWkv7ChunkTokens tokens per sequence instead of token by token. Within a chunk the delta-rule
// terms (S a_t) solve a lower-triangular system (the WY/UT form of the generalised delta rule);
// the chunk's outputs and end state are then matrix products (on tensor cores for N = 32, 64, with
// split operands; fp32 FMAs for N = 8, 16). The results agree with wkv7_forward within fp32
// rounding (different summation order), not bit for bit; with wkv7_params::split_parts = 2 (runs
// with 16-bit activations) within about 2^-16 of each product instead.
//
// Host declarations only; the kernel is in wkv7_chunked.cu.
#pragma once

#include "kernels/wkv7.cuh"

namespace rwkv_kernels {

constexpr int kWkv7ChunkTokens = 16;  // L: tokens per chunk (see wkv7_chunked.cu)

// Floats of p.chunk_scratch a call over `rows` token rows needs: nine [rows, H*N] planes (the
// chunks' prepared operands, their end decays and the outputs before GroupNorm) and the per-token
// bonus [rows, H]; 0 at N = 8, 16 (one kernel, no scratch).
size_t wkv7_chunked_scratch_floats(int rows, int H, int N);

// The key slices of pass 2's block shape (the state carried chunk to chunk): 4, the quarter shape (N
// = 64: a block per 16 value rows of a head, each warp on a quarter of the keys), when its H n_seq
// 4 blocks all fit the device at once (`slots` of them; wkv7_params::carry_split_slots); else 2,
// the split shape (a block per 32 value rows, each warp on half of the keys), when its H n_seq N / 32
// blocks fit; else 1, a block per head. 1 for N = 8, 16 (one kernel, no pass 2).
int wkv7_chunk_carry_slices(int H, int n_seq, int N, int slots);

// Enqueues the chunked kernels with wkv7_forward's parameters and contract (same validation:
// cudaErrorInvalidValue for an unsupported N or a missing pointer, p.chunk_scratch included at
// N = 32, 64, and for p.split_parts not 2 or 3): the three passes below in order.
cudaError_t wkv7_chunked_forward(const wkv7_params& p, cudaStream_t stream);

// The passes of wkv7_chunked_forward one at a time (for a caller that times each; the same
// launches in the same order): at N = 32, 64 (wkv7_chunked_in_passes) pass 1 prepares every
// chunk's state-free operands, pass 2 carries the state from chunk to chunk and writes the outputs
// before GroupNorm, pass 3 applies GroupNorm, bonus and gate. At N = 8, 16 `prepare` launches the
// one kernel and the other two launch nothing. Each call validates as wkv7_chunked_forward.
enum class wkv7_chunk_pass { prepare, carry, output };
bool wkv7_chunked_in_passes(int N);
cudaError_t wkv7_chunked_pass(const wkv7_params& p, wkv7_chunk_pass pass, cudaStream_t stream);

}  // namespace rwkv_kernels
