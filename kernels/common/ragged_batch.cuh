// kernels/common/ragged_batch.cuh: how kernels see a batch of sequences.
//
// The rows of every activation buffer are the tokens of all sequences, one
// sequence after another: sequence s owns rows seq_start[s] .. seq_start[s+1]-1
// (at least one). Each sequence has its own recurrent state, a flat float
// buffer in the official layout of runtime/backend/state_layout.h; kernels
// reach a layer's piece through an offset in floats. All arrays are device
// memory, filled once per forward call.
#pragma once

namespace rwkv_kernels {

struct ragged_batch {
  const int* seq_start = nullptr;  // [n_seq + 1] first row of each sequence, then the row count
  float* const* state = nullptr;   // [n_seq] each sequence's state buffer
  const int* row_seq = nullptr;    // [n_rows] the sequence each row belongs to
  int n_seq = 0;
  int n_rows = 0;
};

}  // namespace rwkv_kernels
