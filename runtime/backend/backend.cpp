// runtime/backend/backend.cpp: checks shared by every backend.
#include "runtime/backend/backend.h"

#include <memory>
#include <set>
#include <string>

#include "runtime/sampler/sampler.h"

namespace rwkv {

size_t Batch::logits_rows() const {
  switch (logits) {
    case LogitsMode::none: return 0;
    case LogitsMode::last: return seqs.size();
    case LogitsMode::all: {
      size_t n = 0;
      for (const SeqInput& s : seqs) n += s.n_tokens;
      return n;
    }
  }
  return 0;
}

void validate_step_bias(Sampler* const* samplers, size_t n, int32_t n_vocab) {
  for (size_t i = 0; i < n; ++i) {
    if (!samplers[i]) continue;  // the backend reports null samplers
    try {
      samplers[i]->check_step_bias(size_t(n_vocab));
    } catch (const Error& e) {
      throw InputError(InputError::Kind::argument, "forward_sample: sequence " + std::to_string(i) + ": " + e.what());
    }
  }
}

void Backend::forward_sample(const Batch& batch, Sampler* const* samplers, int32_t* tokens) {
  Batch last = batch;
  last.logits = LogitsMode::last;
  const size_t V = size_t(info().n_vocab);
  validate_step_bias(samplers, batch.seqs.size(), info().n_vocab);
  std::unique_ptr<float[]> logits(new float[batch.seqs.size() * V]);
  forward(last, logits.get());
  for (size_t i = 0; i < batch.seqs.size(); ++i) tokens[i] = samplers[i]->next(logits.get() + i * V, V).token;
}

void validate_spans(const Batch& batch, int32_t n_vocab) {
  if (batch.seqs.empty()) throw InputError(InputError::Kind::argument, "forward: the batch has no sequences");
  for (size_t i = 0; i < batch.seqs.size(); ++i) {
    const SeqInput& s = batch.seqs[i];
    const std::string which = "forward: sequence " + std::to_string(i) + ": ";
    if (s.n_tokens == 0) throw InputError(InputError::Kind::argument, which + "empty token list");
    if (!s.tokens) throw InputError(InputError::Kind::argument, which + "token pointer is null");
    for (size_t t = 0; t < s.n_tokens; ++t) {
      const int32_t tok = s.tokens[t];
      if (tok < 0 || tok >= n_vocab)
        throw InputError(InputError::Kind::argument,
                         which + "token " + std::to_string(tok) + " at position " + std::to_string(t) +
                             " is outside the vocabulary [0, " + std::to_string(n_vocab) + ")");
    }
  }
}

void validate_batch(const Batch& batch, const ModelInfo& info, const StateLayout& layout,
                    bool logits_null) {
  validate_spans(batch, info.n_vocab);
  std::set<const float*> states;
  for (size_t i = 0; i < batch.seqs.size(); ++i) {
    const SeqInput& s = batch.seqs[i];
    const std::string which = "forward: sequence " + std::to_string(i) + ": ";
    if (!s.state) throw InputError(InputError::Kind::argument, which + "state pointer is null");
    if (s.state_floats != layout.size())
      throw InputError(InputError::Kind::argument, which + "state has " + std::to_string(s.state_floats) +
                                                       " floats, the model needs " +
                                                       std::to_string(layout.size()));
    if (!states.insert(s.state).second)
      throw InputError(InputError::Kind::argument,
                       which + "shares its state buffer with another sequence of the batch");
  }
  if (batch.logits != LogitsMode::none && logits_null)
    throw InputError(InputError::Kind::argument, "forward: logits requested but the output pointer is null");
}

}  // namespace rwkv
