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
// A step's sampler step biases (Sampler::set_step_bias) are not sampler state: upload_step_bias()
// copies those of the step's sequences to the device in one copy from pinned staging (double-
// buffered, as the batch descriptor's) and enqueue() hands them to the kernel for that one launch.
//
// Memory: S * (V * 13 + 96 + 136) bytes of device memory (e.g. 852 KiB per slot for V = 65536),
// and 2 * S * 136 bytes of pinned host memory.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "runtime/cuda/batch_descriptor.h"
#include "runtime/cuda/device_buffer.h"
#include "runtime/sampler/sampler.h"

namespace rwkv_kernels {
struct sample_bias;  // kernels/sample.cuh
}

namespace rwkv {
namespace cuda {

class DeviceSampler {
 public:
  DeviceSampler() = default;
  DeviceSampler(int n_vocab, int capacity);

  int capacity() const { return capacity_; }
  int n_vocab() const { return n_vocab_; }
  size_t bytes() const {
    return slots_.bytes() + flags_.bytes() + counts_.bytes() + weights_.bytes() + bias_.bytes();
  }

  // Copies `sampler`'s settings, bans, stop tokens, penalty counts, weights and random stream into
  // slot `seq` (synchronises `stream`). Throws rwkv::Error for settings the CPU sampler refuses
  // (negative or NaN temperature, NaN top_p), counted tokens outside [0, V), or a weight that
  // fp32 does not hold exactly.
  void load(int seq, const Sampler& sampler, cudaStream_t stream);

  // Copies slot `seq`'s penalty counts and random stream back into `sampler`, which must be the
  // one loaded there (synchronises `stream`).
  void store(int seq, Sampler& sampler, cudaStream_t stream) const;

  // When any of samplers[0, n) has a step bias: enqueues one copy of the n biases (slot i gets
  // samplers[i]'s, an empty one for a sampler without) from pinned staging, clears them on the
  // host (a bias is consumed by one draw) and returns the device array to pass to enqueue();
  // otherwise copies nothing and returns null. The biases must have been checked
  // (validate_step_bias); more than kSampleMaxBias entries throw rwkv::Error.
  const rwkv_kernels::sample_bias* upload_step_bias(Sampler* const* samplers, size_t n, cudaStream_t stream);

  // Enqueues the draw of one token for each of the n_seq rows of `logits` ([n_seq, V] fp32,
  // device, consumed) with slots first .. first + n_seq - 1, into tokens[0, n_seq) (device):
  // the id, -2 when *error_flag (device int, may be null) is set, -3 for logits the CPU sampler
  // refuses (NaN, +inf, every token -inf). `bias` (from upload_step_bias, may be null) holds the
  // step biases by slot. No host synchronisation, no host memory: capturable.
  void enqueue(float* logits, int n_seq, int first, int32_t* tokens, const int* error_flag,
               const rwkv_kernels::sample_bias* bias, cudaStream_t stream) const;

 private:
  void check_seq(int seq) const;

  int n_vocab_ = 0, capacity_ = 0;
  DeviceBuffer slots_;    // [S] rwkv_kernels::sample_slot
  DeviceBuffer flags_;    // [S, V] uint8
  DeviceBuffer counts_;   // [S, V] double
  DeviceBuffer weights_;  // [S, V] float
  DeviceBuffer bias_;     // [S] rwkv_kernels::sample_bias, written by upload_step_bias
  PinnedBuffer bias_staging_[2];  // [S] sample_bias each, used in turn
  int next_staging_ = 0;
};

}  // namespace cuda
}  // namespace rwkv
