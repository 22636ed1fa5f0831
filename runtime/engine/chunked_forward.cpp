// runtime/engine/chunked_forward.cpp: see chunked_forward.h.
#include "runtime/engine/chunked_forward.h"

#include <algorithm>
#include <cstring>

namespace rwkv {

void forward_chunked(Backend& backend, const std::vector<SeqInput>& seqs, size_t chunk_len,
                     float* logits) {
  if (chunk_len == 0) throw InputError(InputError::Kind::argument, "forward: chunk_len must be at least 1");
  Batch whole;
  whole.seqs = seqs;
  validate_spans(whole, backend.info().n_vocab);

  const size_t V = size_t(backend.info().n_vocab);
  std::vector<size_t> done(seqs.size(), 0);  // tokens of each sequence already fed
  std::vector<float> round_logits;
  for (;;) {
    Batch round;
    std::vector<size_t> index;  // position in the round -> index in seqs
    bool any_ends = false;
    for (size_t i = 0; i < seqs.size(); ++i) {
      const size_t left = seqs[i].n_tokens - done[i];
      if (left == 0) continue;
      SeqInput s = seqs[i];
      s.tokens += done[i];
      s.n_tokens = std::min(left, chunk_len);
      any_ends |= s.n_tokens == left;
      round.seqs.push_back(s);
      index.push_back(i);
    }
    if (round.seqs.empty()) return;
    const bool want = logits && any_ends;
    round.logits = want ? LogitsMode::last : LogitsMode::none;
    // A single sequence writes straight into the caller's row.
    const bool direct = want && seqs.size() == 1;
    if (want && !direct) round_logits.resize(round.seqs.size() * V);
    backend.forward(round, !want ? nullptr : direct ? logits : round_logits.data());
    for (size_t b = 0; b < index.size(); ++b) {
      const size_t i = index[b];
      done[i] += round.seqs[b].n_tokens;
      if (want && !direct && done[i] == seqs[i].n_tokens)
        std::memcpy(logits + i * V, round_logits.data() + b * V, V * sizeof(float));
    }
  }
}

void prefill(Backend& backend, float* state, size_t state_floats, const int32_t* tokens,
             size_t n_tokens, size_t chunk_len, float* logits) {
  SeqInput s;
  s.tokens = tokens;
  s.n_tokens = n_tokens;
  s.state = state;
  s.state_floats = state_floats;
  forward_chunked(backend, {s}, chunk_len, logits);
}

int32_t prefill_and_sample(Backend& backend, float* state, size_t state_floats, const int32_t* tokens,
                           size_t n_tokens, size_t chunk_len, Sampler& sampler) {
  if (chunk_len == 0) throw InputError(InputError::Kind::argument, "forward: chunk_len must be at least 1");
  Batch last;
  last.seqs.push_back(SeqInput{tokens, n_tokens, state, state_floats});
  validate_spans(last, backend.info().n_vocab);
  // forward_chunked's chunks: every one but the last is chunk_len tokens long.
  const size_t head = (n_tokens - 1) / chunk_len * chunk_len;
  if (head > 0) prefill(backend, state, state_floats, tokens, head, chunk_len, nullptr);
  last.seqs[0].tokens += head;
  last.seqs[0].n_tokens -= head;
  last.logits = LogitsMode::last;
  Sampler* samplers[1] = {&sampler};
  int32_t token = -1;
  backend.forward_sample(last, samplers, &token);
  return token;
}

}  // namespace rwkv
