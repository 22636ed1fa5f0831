// runtime/cuda/device_sampler.h: the sampler states of up to S sequences in device memory, and
// the sampling of a step's logits on the device (kernels/sample.cuh).
//
// Slot s holds everything a host Sampler (runtime/sampler/sampler.h) draws with: its settings,
// its xoshiro256** words, a flag byte per token (counted / banned / stop), the penalty count per
// token (double, 0 where not counted) and the weight with which each token is counted (fp32; the
// weights of the sampler's weight function, pip's 0/1 rule for official_penalty_weight_fn). load()
// and store() move a host Sampler's state in and out; between them the device copy is the one
// that advances (enqueue()), so the host Sampler is stale until store().
//
// Memory: S * (V * 13 + 96) bytes (e.g. 852 KiB per slot for V = 65536).
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "runtime/cuda/device_buffer.h"
#include "runtime/sampler/sampler.h"

namespace rwkv {
namespace cuda {

class DeviceSampler {
 public:
  DeviceSampler() = default;
  DeviceSampler(int n_vocab, int capacity);

  int capacity() const { return capacity_; }
  int n_vocab() const { return n_vocab_; }
  size_t bytes() const { return slots_.bytes() + flags_.bytes() + counts_.bytes() + weights_.bytes(); }

  // Copies `sampler`'s settings, bans, stop tokens, penalty counts, weights and random stream into
  // slot `seq` (synchronises `stream`). Throws rwkv::Error for settings the CPU sampler refuses
  // (negative or NaN temperature, NaN top_p), counted tokens outside [0, V), or a weight that
  // fp32 does not hold exactly.
  void load(int seq, const Sampler& sampler, cudaStream_t stream);

  // Copies slot `seq`'s penalty counts and random stream back into `sampler`, which must be the
  // one loaded there (synchronises `stream`).
  void store(int seq, Sampler& sampler, cudaStream_t stream) const;

  // Enqueues the draw of one token for each of the n_seq rows of `logits` ([n_seq, V] fp32,
  // device, consumed) with slots first .. first + n_seq - 1, into tokens[0, n_seq) (device):
  // the id, -2 when *error_flag (device int, may be null) is set, -3 for logits the CPU sampler
  // refuses (NaN, +inf, every token -inf). No host synchronisation, no host memory: capturable.
  void enqueue(float* logits, int n_seq, int first, int32_t* tokens, const int* error_flag,
               cudaStream_t stream) const;

 private:
  void check_seq(int seq) const;

  int n_vocab_ = 0, capacity_ = 0;
  DeviceBuffer slots_;    // [S] rwkv_kernels::sample_slot
  DeviceBuffer flags_;    // [S, V] uint8
  DeviceBuffer counts_;   // [S, V] double
  DeviceBuffer weights_;  // [S, V] float
};

}  // namespace cuda
}  // namespace rwkv
