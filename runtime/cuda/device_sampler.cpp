// runtime/cuda/device_sampler.cpp: see device_sampler.h.
#include "runtime/cuda/device_sampler.h"

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "kernels/sample.cuh"
#include "runtime/cuda/cuda_check.h"

namespace rwkv {
namespace cuda {

using rwkv_kernels::sample_slot;
static_assert(Sampler::kMaxStepBias == (size_t)rwkv_kernels::kSampleMaxBias,
              "the host sampler's step bias capacity is the device record's");

DeviceSampler::DeviceSampler(int n_vocab, int capacity)
    : n_vocab_(n_vocab),
      capacity_(capacity),
      slots_((size_t)capacity * sizeof(sample_slot), "sampler slots"),
      flags_((size_t)capacity * n_vocab, "sampler token flags"),
      counts_((size_t)capacity * n_vocab * sizeof(double), "sampler penalty counts"),
      weights_((size_t)capacity * n_vocab * sizeof(float), "sampler penalty weights"),
      bias_((size_t)capacity * sizeof(rwkv_kernels::sample_bias), "sampler step biases"),
      bias_staging_{PinnedBuffer((size_t)capacity * sizeof(rwkv_kernels::sample_bias)),
                    PinnedBuffer((size_t)capacity * sizeof(rwkv_kernels::sample_bias))} {
  if (n_vocab < 1 || capacity < 1) throw Error("device sampler: bad vocabulary size or capacity");
}

void DeviceSampler::check_seq(int seq) const {
  if (seq < 0 || seq >= capacity_)
    throw Error("device sampler: slot " + std::to_string(seq) + " is out of range [0, " +
                std::to_string(capacity_) + ")");
}

namespace {

// The slot record of `sampler`'s settings and random stream, checked as the CPU sampler checks them.
sample_slot slot_record(const Sampler& sampler) {
  const SamplerParams& p = sampler.params();
  if (std::isnan(p.temperature) || p.temperature < 0) throw Error("sampler: temperature must be >= 0");
  if (std::isnan(p.top_p)) throw Error("sampler: top_p is NaN");
  sample_slot rec{};
  const auto words = sampler.rng().state();
  for (int i = 0; i < 4; ++i) rec.rng[i] = words[i];
  rec.temperature = p.temperature;
  rec.top_p = p.top_p;
  rec.alpha_presence = p.alpha_presence;
  rec.alpha_frequency = p.alpha_frequency;
  rec.alpha_decay = p.alpha_decay;
  rec.top_k = p.top_k;
  return rec;
}

}  // namespace

void DeviceSampler::load(int seq, const Sampler& sampler, cudaStream_t stream) {
  check_seq(seq);
  const size_t V = (size_t)n_vocab_;
  const sample_slot rec = slot_record(sampler);
  std::vector<uint8_t> flags(V, 0);
  std::vector<double> counts(V, 0.0);
  std::vector<float> weights(V);
  for (int32_t t : sampler.params().token_ban)
    if (t >= 0 && (size_t)t < V) flags[(size_t)t] |= rwkv_kernels::kSampleBanned;
  for (int32_t t : sampler.params().token_stop)
    if (t >= 0 && (size_t)t < V) flags[(size_t)t] |= rwkv_kernels::kSampleStop;
  for (const auto& [token, count] : sampler.penalty().occurrences()) {
    if (token < 0 || (size_t)token >= V)
      throw Error("device sampler: the sampler counted token " + std::to_string(token) +
                  ", outside this model's vocabulary");
    flags[(size_t)token] |= rwkv_kernels::kSampleCounted;
    counts[(size_t)token] = count;
  }
  for (size_t t = 0; t < V; ++t) {
    const double w = sampler.penalty_weight((int32_t)t);
    weights[t] = (float)w;
    if ((double)weights[t] != w)
      throw Error("device sampler: penalty weight " + std::to_string(w) + " of token " + std::to_string(t) +
                  " is not exact in fp32");
  }
  const size_t off = (size_t)seq * V;
  RWKV_CUDA_TRY(cudaMemcpyAsync(slots_.as<sample_slot>() + seq, &rec, sizeof rec, cudaMemcpyHostToDevice, stream));
  RWKV_CUDA_TRY(cudaMemcpyAsync(flags_.as<uint8_t>() + off, flags.data(), V, cudaMemcpyHostToDevice, stream));
  RWKV_CUDA_TRY(cudaMemcpyAsync(counts_.as<double>() + off, counts.data(), V * sizeof(double),
                                cudaMemcpyHostToDevice, stream));
  RWKV_CUDA_TRY(cudaMemcpyAsync(weights_.as<float>() + off, weights.data(), V * sizeof(float),
                                cudaMemcpyHostToDevice, stream));
  RWKV_CUDA_TRY(cudaStreamSynchronize(stream));  // the host vectors end here
}

void DeviceSampler::store(int seq, Sampler& sampler, cudaStream_t stream) const {
  check_seq(seq);
  const size_t V = (size_t)n_vocab_;
  const size_t off = (size_t)seq * V;
  sample_slot rec{};
  std::vector<uint8_t> flags(V);
  std::vector<double> counts(V);
  RWKV_CUDA_TRY(cudaMemcpyAsync(&rec, slots_.as<sample_slot>() + seq, sizeof rec, cudaMemcpyDeviceToHost, stream));
  RWKV_CUDA_TRY(cudaMemcpyAsync(flags.data(), flags_.as<uint8_t>() + off, V, cudaMemcpyDeviceToHost, stream));
  RWKV_CUDA_TRY(cudaMemcpyAsync(counts.data(), counts_.as<double>() + off, V * sizeof(double),
                                cudaMemcpyDeviceToHost, stream));
  RWKV_CUDA_TRY(cudaStreamSynchronize(stream));
  std::map<int32_t, double> occ;
  for (size_t t = 0; t < V; ++t)
    if (flags[t] & rwkv_kernels::kSampleCounted) occ.emplace((int32_t)t, counts[t]);
  sampler.penalty().set_occurrences(std::move(occ));
  sampler.rng().set_state({rec.rng[0], rec.rng[1], rec.rng[2], rec.rng[3]});
}

const rwkv_kernels::sample_bias* DeviceSampler::upload_step_bias(Sampler* const* samplers, size_t n,
                                                                  cudaStream_t stream) {
  using rwkv_kernels::sample_bias;
  bool any = false;
  for (size_t i = 0; i < n; ++i) any = any || !samplers[i]->step_bias().empty();
  if (!any) return nullptr;
  if (n > (size_t)capacity_)
    throw Error("device sampler: " + std::to_string(n) + " step biases exceed the " + std::to_string(capacity_) +
                " slots");
  for (size_t i = 0; i < n; ++i)
    if (samplers[i]->step_bias().size() > (size_t)rwkv_kernels::kSampleMaxBias)
      throw Error("device sampler: sequence " + std::to_string(i) + " has a step bias of " +
                  std::to_string(samplers[i]->step_bias().size()) + " entries; at most " +
                  std::to_string(rwkv_kernels::kSampleMaxBias) + " fit");
  // The staging not used by the previous upload, whose copy may still be pending.
  sample_bias* staging = bias_staging_[next_staging_].as<sample_bias>();
  next_staging_ ^= 1;
  for (size_t i = 0; i < n; ++i) {
    const std::vector<StepBias>& entries = samplers[i]->step_bias();
    sample_bias rec{};
    rec.n = (int32_t)entries.size();
    for (size_t e = 0; e < entries.size(); ++e) {
      rec.token[e] = entries[e].token;
      rec.value[e] = entries[e].bias;
    }
    staging[i] = rec;
  }
  RWKV_CUDA_TRY(cudaMemcpyAsync(bias_.get(), staging, n * sizeof(sample_bias), cudaMemcpyHostToDevice, stream));
  for (size_t i = 0; i < n; ++i) samplers[i]->clear_step_bias();
  return bias_.as<sample_bias>();
}

void DeviceSampler::enqueue(float* logits, int n_seq, int first, int32_t* tokens, const int* error_flag,
                            const rwkv_kernels::sample_bias* bias, cudaStream_t stream) const {
  if (n_seq < 0 || first < 0 || first + n_seq > capacity_)
    throw Error("device sampler: rows [" + std::to_string(first) + ", " + std::to_string(first + n_seq) +
                ") exceed the " + std::to_string(capacity_) + " slots");
  rwkv_kernels::sample_params p;
  p.logits = logits;
  p.tokens = tokens;
  p.error_flag = error_flag;
  p.slots = slots_.as<sample_slot>();
  p.flags = flags_.as<uint8_t>();
  p.counts = counts_.as<double>();
  p.weights = weights_.as<float>();
  p.bias = bias;
  p.n_seq = n_seq;
  p.first = first;
  p.V = n_vocab_;
  RWKV_CUDA_TRY(rwkv_kernels::sample_tokens(p, stream));
}

}  // namespace cuda
}  // namespace rwkv
