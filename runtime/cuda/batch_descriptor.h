// runtime/cuda/batch_descriptor.h: one round of forward() and how the kernels
// see it.
//
// A round is up to max_rows token rows taken from some of a batch's sequences
// (CudaBackend::forward splits a batch into rounds). Its descriptor (token ids,
// the ragged-batch arrays of kernels/common/ragged_batch.cuh, the last row of
// each sequence and the state pointers) goes to the device in one copy from
// pinned staging memory, always to the same device address: a captured graph
// (CudaBackend, CudaOptions::graphs) reads each step's descriptor there. The
// staging is double-buffered, so the host may fill the next step's descriptor
// while the copy of the previous one is still pending on the stream.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "kernels/common/ragged_batch.cuh"
#include "runtime/cuda/device_buffer.h"

namespace rwkv {
namespace cuda {

struct Round {
  struct Piece {
    const int32_t* tokens;
    int n;
    float* state;      // device memory
    bool last_piece;   // this round ends the sequence
    size_t out_row;    // first logits row for LogitsMode::all / the row for ::last
  };
  std::vector<Piece> pieces;
  int rows = 0;
};

// A round's descriptor in device memory, valid until the next upload. Its
// pointers are the same for every upload; n_seq and n_rows are the round's.
struct DeviceRound {
  rwkv_kernels::ragged_batch batch;
  const int32_t* tokens = nullptr;   // [rows] token ids
  const int* last_rows = nullptr;    // [n_seq] each sequence's last row
};

// Pinned host memory, for asynchronous copies.
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  explicit PinnedBuffer(size_t bytes);
  ~PinnedBuffer();
  PinnedBuffer(PinnedBuffer&& o) noexcept : ptr_(o.ptr_) { o.ptr_ = nullptr; }
  PinnedBuffer& operator=(PinnedBuffer&& o) noexcept {
    std::swap(ptr_, o.ptr_);
    return *this;
  }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;

  void* get() const { return ptr_; }
  template <class T>
  T* as() const { return static_cast<T*>(ptr_); }

 private:
  void* ptr_ = nullptr;
};

class BatchDescriptor {
 public:
  BatchDescriptor() = default;
  explicit BatchDescriptor(int max_rows);
  // Fills the next staging buffer and enqueues its copy to the device on `stream`.
  DeviceRound upload(const Round& round, cudaStream_t stream);
  // Bytes one upload copies to the device.
  size_t bytes() const { return bytes_; }

 private:
  // Layout (int32): tokens[R], seq_start[R+1], row_seq[R], last_rows[R], padding
  // to 16 bytes, then states[R] (pointers).
  size_t rows_ = 0;
  size_t bytes_ = 0;
  DeviceBuffer device_;
  PinnedBuffer host_[2];  // staging, used in turn
  int next_ = 0;          // the staging buffer the next upload fills
};

}  // namespace cuda
}  // namespace rwkv
