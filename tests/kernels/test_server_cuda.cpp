// tests/kernels/test_server_cuda.cpp: the server's scheduler (server/scheduler.h)
// on the CUDA backend: sequences joining and leaving a batch every step, each
// with its own sampler kept on the device (Backend::forward_sample), give
// rwkv::generate's text on the same backend alone. Runs on the emulator in emu
// builds and on the GPU in cuda builds.
#include <catch2/catch.hpp>

#include "runtime/generate/generate.h"
#include "runtime/generate/utf8_stream.h"
#include "runtime/model/model.h"
#include "runtime/sampler/penalty_weight.h"
#include "runtime/tokenizer/tokenizer.h"
#include "server/scheduler.h"
#include "testdata.h"

TEST_CASE("server scheduler on cuda: 6 requests on 3 slots, each equal to generate alone", "[gpu][server][cuda]") {
  const auto model = rwkv::load_model(testdata_path("models/tiny-rwkv-6v0-1m.pth"));
  const auto tok = rwkv::load_tokenizer("bytes");
  auto engine_with = [&](int slots) {
    rwkv::EngineOptions eo;
    eo.device = "cuda";
    eo.backend.n_slots = slots;
    return std::make_unique<rwkv::Engine>(*model, eo);
  };
  std::vector<rwkv::server::GenerationRequest> reqs;
  for (int i = 0; i < 6; ++i) {
    rwkv::server::GenerationRequest r;
    r.prompt = tok->encode("Request " + std::to_string(i) + std::string(i * 9, 'q'));
    r.cache_points = {r.prompt.size()};
    r.sampling.seed = 50 + i;
    r.sampling.temperature = i % 2 ? 1.0 : 0.7;
    r.logit_bias = {{int32_t('e'), i % 3 == 0 ? 2.0f : -1.0f}};
    r.max_tokens = 6 + 2 * i;
    reqs.push_back(r);
  }
  std::vector<std::string> want;
  for (const auto& r : reqs) {  // alone: rwkv::generate with the same step bias at every draw
    auto e = engine_with(1);
    rwkv::Sampler sampler(r.sampling, rwkv::official_penalty_weight_fn(*tok));
    std::string text;
    rwkv::Utf8Stream utf8;  // the server's text is UTF-8-complete pieces
    std::vector<int32_t> fed = r.prompt;
    for (size_t k = 0; k < r.max_tokens; ++k) {
      sampler.set_step_bias(r.logit_bias);
      const int32_t t = rwkv::prefill_and_sample(e->backend(), e->slot(0), e->state_floats(), fed.data(), fed.size(),
                                                 e->chunk_len(), sampler);
      text += utf8.push(tok->token_bytes(t));
      fed = {t};
    }
    text += utf8.finish();
    rwkv::Sampler* s = &sampler;
    e->backend().finish_sampling(&s, 1);
    want.push_back(text);
  }
  auto engine = engine_with(3);
  rwkv::server::Scheduler scheduler(*engine, *tok, rwkv::server::SchedulerOptions{}, nullptr);
  std::vector<std::shared_ptr<rwkv::server::SequenceHandle>> handles(reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i)
    REQUIRE(scheduler.submit(reqs[i], &handles[i]) == rwkv::server::Scheduler::Submit::accepted);
  for (size_t i = 0; i < reqs.size(); ++i) {
    INFO("request " << i);
    std::string text;
    bool finished = false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (!finished && std::chrono::steady_clock::now() < deadline)
      for (auto& ev : handles[i]->wait(std::chrono::milliseconds(100))) {
        text += ev.text;
        finished = finished || ev.finished;
      }
    REQUIRE(finished);
    CHECK(text == want[i]);
  }
}
