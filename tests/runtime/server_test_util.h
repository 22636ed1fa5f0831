// tests/runtime/server_test_util.h: a tiny model on the CPU engine for the
// server tests (test_server_*.cpp), and the reference run every server result
// is compared with: rwkv::generate alone on its own engine with the same
// prompt, sampling parameters and seed.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "runtime/engine/engine.h"
#include "runtime/generate/generate.h"
#include "runtime/model/model.h"
#include "runtime/sampler/penalty_weight.h"
#include "runtime/tokenizer/tokenizer.h"
#include "server/scheduler.h"
#include "testdata.h"

namespace server_test {

struct TinyModel {
  std::unique_ptr<rwkv::Model> model;
  std::unique_ptr<rwkv::Tokenizer> tokenizer = rwkv::load_tokenizer("bytes");
  explicit TinyModel(const std::string& name = "tiny-rwkv-7v0-834K")
      : model(rwkv::load_model(testdata_path("models/" + name + ".pth"))) {}
  std::unique_ptr<rwkv::Engine> engine(int slots) const {
    rwkv::EngineOptions eo;
    eo.backend.threads = 1;
    eo.backend.n_slots = slots;
    return std::make_unique<rwkv::Engine>(*model, eo);
  }
};

inline rwkv::server::GenerationRequest request(const rwkv::Tokenizer& tok, const std::string& prompt, uint64_t seed,
                                               size_t max_tokens, double temperature = 1.0) {
  rwkv::server::GenerationRequest r;
  r.prompt = tok.encode(prompt);
  r.cache_points = {r.prompt.size()};
  r.sampling.temperature = temperature;
  r.sampling.seed = seed;
  r.max_tokens = max_tokens;
  return r;
}

// What `rwkv-run generate` prints for the request: rwkv::generate on a fresh state.
inline std::string reference_text(const TinyModel& m, const rwkv::server::GenerationRequest& r) {
  auto engine = m.engine(1);
  rwkv::Sampler sampler(r.sampling, rwkv::official_penalty_weight_fn(*m.tokenizer));
  rwkv::GenerateOptions go;
  go.max_tokens = r.max_tokens;
  go.chunk_len = engine->chunk_len();
  go.stop_strings = r.stop_strings;
  return rwkv::generate(engine->backend(), engine->slot(0), engine->state_floats(), *m.tokenizer, sampler, r.prompt,
                        go, nullptr)
      .text;
}

// Every event of a handle until its final one (at most `seconds`); the text and the final event.
struct Outcome {
  std::string text;
  rwkv::server::SequenceEvent final;
  bool finished = false;
};
inline Outcome collect(rwkv::server::SequenceHandle& h, double seconds = 60) {
  Outcome o;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds((long long)(seconds * 1000));
  while (!o.finished && std::chrono::steady_clock::now() < deadline)
    for (auto& e : h.wait(std::chrono::milliseconds(100))) {
      if (e.finished) {
        o.final = e;
        o.finished = true;
      } else {
        o.text += e.text;
      }
    }
  return o;
}

}  // namespace server_test
