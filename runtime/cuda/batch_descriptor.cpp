// runtime/cuda/batch_descriptor.cpp: see batch_descriptor.h.
#include "runtime/cuda/batch_descriptor.h"

#include "runtime/cuda/cuda_check.h"

namespace rwkv {
namespace cuda {

PinnedBuffer::PinnedBuffer(size_t bytes) { RWKV_CUDA_TRY(cudaMallocHost(&ptr_, bytes)); }

PinnedBuffer::~PinnedBuffer() {
  if (ptr_) cudaFreeHost(ptr_);
}

namespace {

// The arrays of a descriptor block starting at `base` (host or device).
struct DescriptorArrays {
  int32_t* tokens;
  int32_t* seq_start;
  int32_t* row_seq;
  int32_t* last_rows;
  float** states;
};

DescriptorArrays arrays_at(void* base, size_t rows, size_t bytes) {
  int32_t* p = static_cast<int32_t*>(base);
  DescriptorArrays a;
  a.tokens = p;
  a.seq_start = p + rows;
  a.row_seq = p + 2 * rows + 1;
  a.last_rows = p + 3 * rows + 1;
  a.states = reinterpret_cast<float**>(static_cast<char*>(base) + bytes - rows * sizeof(float*));
  return a;
}

size_t descriptor_bytes(size_t rows) {
  size_t bytes = (4 * rows + 1) * sizeof(int32_t);
  bytes = (bytes + 15) & ~size_t(15);
  return bytes + rows * sizeof(float*);
}

}  // namespace

BatchDescriptor::BatchDescriptor(int max_rows)
    : rows_((size_t)max_rows), bytes_(descriptor_bytes(rows_)), device_(bytes_, "batch descriptor"),
      host_{PinnedBuffer(bytes_), PinnedBuffer(bytes_)} {}

DeviceRound BatchDescriptor::upload(const Round& round, cudaStream_t stream) {
  const int S = (int)round.pieces.size();
  const PinnedBuffer& staging = host_[next_];
  next_ ^= 1;
  const DescriptorArrays h = arrays_at(staging.get(), rows_, bytes_);
  int row = 0;
  for (int s = 0; s < S; ++s) {
    const Round::Piece& p = round.pieces[(size_t)s];
    h.seq_start[s] = row;
    for (int t = 0; t < p.n; ++t) {
      h.tokens[row] = p.tokens[t];
      h.row_seq[row] = s;
      ++row;
    }
    h.last_rows[s] = row - 1;
    h.states[s] = p.state;
  }
  h.seq_start[S] = row;
  RWKV_CUDA_TRY(cudaMemcpyAsync(device_.get(), staging.get(), bytes_, cudaMemcpyHostToDevice, stream));

  const DescriptorArrays d = arrays_at(device_.get(), rows_, bytes_);
  DeviceRound out;
  out.batch.seq_start = d.seq_start;
  out.batch.state = d.states;
  out.batch.row_seq = d.row_seq;
  out.batch.n_seq = S;
  out.batch.n_rows = round.rows;
  out.tokens = d.tokens;
  out.last_rows = d.last_rows;
  return out;
}

}  // namespace cuda
}  // namespace rwkv
