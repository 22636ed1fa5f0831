// tests/kernels/cuda_batch_util.h: several sequences through a backend, together (one forward
// per step, prefill then decode) or one at a time, and the largest difference between two such runs
// (tests/kernels/test_cuda_batch.cpp, test_cuda_quant.cpp).
#pragma once

#include <algorithm>
#include <utility>
#include <vector>

#include "runtime/cpu_golden_util.h"

namespace cuda_test {

struct Run {
  std::vector<std::vector<float>> logits;  // per step: [n_seq, V]
  std::vector<std::vector<float>> states;  // final state per sequence
};

// Prefill every prompt, then `steps` decode steps feeding token (step*7 + s) % V.
inline Run run(rwkv::Backend& be, const std::vector<std::vector<int32_t>>& prompts, int steps, bool together) {
  const size_t S = be.state_layout().size(), V = (size_t)be.info().n_vocab, n = prompts.size();
  Run out;
  out.states.assign(n, std::vector<float>(S));
  for (auto& st : out.states) be.init_state(st.data());
  auto call = [&](const std::vector<std::pair<const int32_t*, size_t>>& toks) {
    std::vector<float> logits(n * V);
    if (together) {
      rwkv::Batch b;
      b.logits = rwkv::LogitsMode::last;
      for (size_t s = 0; s < n; ++s) b.seqs.push_back({toks[s].first, toks[s].second, out.states[s].data(), S});
      be.forward(b, logits.data());
    } else {
      for (size_t s = 0; s < n; ++s)
        golden::run_seq(be, toks[s].first, toks[s].second, out.states[s], rwkv::LogitsMode::last,
                        logits.data() + s * V);
    }
    out.logits.push_back(logits);
  };
  std::vector<std::pair<const int32_t*, size_t>> toks;
  for (const auto& p : prompts) toks.push_back({p.data(), p.size()});
  call(toks);
  std::vector<int32_t> next(n);
  for (int step = 0; step < steps; ++step) {
    for (size_t s = 0; s < n; ++s) {
      next[s] = (int32_t)((step * 7 + 3 * s + 1) % V);
      toks[s] = {&next[s], 1};
    }
    call(toks);
  }
  return out;
}

inline double max_diff(const Run& a, const Run& b) {
  double m = 0;
  for (size_t i = 0; i < a.logits.size(); ++i)
    m = std::max(m, golden::max_abs_diff(a.logits[i].data(), b.logits[i].data(), a.logits[i].size()));
  for (size_t i = 0; i < a.states.size(); ++i)
    m = std::max(m, golden::max_rel_diff(a.states[i].data(), b.states[i].data(), a.states[i].size()));
  return m;
}

}  // namespace cuda_test
