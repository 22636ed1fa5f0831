// tests/runtime/generate_test_util.h: a scripted backend and a fake tokenizer
// that drive the generation loop through exact token streams.
//   ScriptedBackend  records every forward() call; its logits make a greedy
//                    sampler pick script[k] at generation step k (one-hot 10.0)
//   FakeTokenizer    token id i has the bytes vocab[i]
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/backend/backend.h"
#include "runtime/sampler/sampler.h"
#include "runtime/tokenizer/tokenizer.h"

namespace gen_test {

class FakeTokenizer final : public rwkv::Tokenizer {
 public:
  explicit FakeTokenizer(std::vector<std::string> vocab) : vocab_(std::move(vocab)) {}
  std::vector<int32_t> encode(const std::string&) const override {
    throw std::logic_error("FakeTokenizer::encode is not used");
  }
  int32_t vocab_size() const override { return int32_t(vocab_.size()); }
  const char* kind() const override { return "fake"; }
  const std::string& token_bytes(int32_t id) const override { return vocab_.at(size_t(id)); }
  bool is_special(int32_t) const override { return false; }

 private:
  std::vector<std::string> vocab_;
};

class ScriptedBackend final : public rwkv::Backend {
 public:
  struct Call {
    std::vector<int32_t> tokens;
    rwkv::LogitsMode mode;
  };

  ScriptedBackend(int32_t n_vocab, std::vector<int32_t> script, size_t prompt_len)
      : script_(std::move(script)), prompt_len_(prompt_len) {
    info_.n_vocab = n_vocab;
  }
  const char* name() const override { return "scripted"; }
  const rwkv::ModelInfo& info() const override { return info_; }
  const rwkv::StateLayout& state_layout() const override { return layout_; }
  void init_state(float* state) const override { state[0] = 0; }
  void forward(const rwkv::Batch& batch, float* logits) override {
    if (batch.seqs.size() != 1) throw std::logic_error("one sequence expected");
    const rwkv::SeqInput& s = batch.seqs[0];
    Call c{std::vector<int32_t>(s.tokens, s.tokens + s.n_tokens), batch.logits};
    fed_.insert(fed_.end(), c.tokens.begin(), c.tokens.end());
    s.state[0] += float(s.n_tokens);  // the "recurrent state": tokens consumed
    calls_.push_back(c);
    if (batch.logits == rwkv::LogitsMode::none) return;
    const size_t step = fed_.size() - prompt_len_;
    const int32_t next = step < script_.size() ? script_[step] : 0;
    for (int32_t i = 0; i < info_.n_vocab; ++i) logits[i] = i == next ? 10.f : 0.f;
  }

  const std::vector<Call>& calls() const { return calls_; }
  const std::vector<int32_t>& fed() const { return fed_; }

 private:
  rwkv::ModelInfo info_;
  rwkv::StateLayout layout_;
  std::vector<int32_t> script_;
  size_t prompt_len_;
  std::vector<Call> calls_;
  std::vector<int32_t> fed_;
};

// Greedy, no penalties: the sampler returns exactly the scripted tokens.
inline rwkv::SamplerParams greedy(std::vector<int32_t> stop_tokens = {}) {
  rwkv::SamplerParams p;
  p.temperature = 0;
  p.alpha_presence = 0;
  p.alpha_frequency = 0;
  p.token_stop = std::move(stop_tokens);
  return p;
}

}  // namespace gen_test
