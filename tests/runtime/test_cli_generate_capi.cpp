// The two C API additions made for `rwkv-run generate` (rwkv_run.h): the load
// progress callback of rwkv_model_params, and the prefill / decode timings of
// rwkv_generate_result.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <string>
#include <vector>

#include "runtime/capi_test_util.h"

namespace {

struct Calls {
  std::vector<std::pair<uint64_t, uint64_t>> seen;
};

void record(void* user, uint64_t done, uint64_t total) {
  static_cast<Calls*>(user)->seen.emplace_back(done, total);
}

}  // namespace

TEST_CASE("C API: the load progress callback counts the model file up to its size", "[capi][cli]") {
  const std::string path = capi_test::model_path("tiny-rwkv-7v0-834K.pth");
  struct stat st {};
  REQUIRE(stat(path.c_str(), &st) == 0);
  Calls calls;
  rwkv_model_params p = rwkv_model_default_params();
  CHECK(p.progress == nullptr);
  CHECK(p.progress_user_data == nullptr);
  p.progress = record;
  p.progress_user_data = &calls;
  rwkv_model* m = nullptr;
  char err[256];
  REQUIRE(rwkv_model_load(path.c_str(), &p, &m, err, sizeof err) == RWKV_OK);
  rwkv_model_free(&m);
  REQUIRE(!calls.seen.empty());
  uint64_t last = 0;
  for (const auto& [done, total] : calls.seen) {
    CHECK(total == uint64_t(st.st_size));
    CHECK(done >= last);
    CHECK(done <= total);
    last = done;
  }
  CHECK(calls.seen.back().first == uint64_t(st.st_size));
}

TEST_CASE("C API: rwkv_generate reports its prefill and decode times", "[capi][cli]") {
  capi_test::Model m;
  capi_test::load(m, "tiny-rwkv-7v0-834K.pth");
  capi_test::Tokenizer t;
  capi_test::load(t, "bytes");
  rwkv_sampler_params sp = rwkv_sampler_default_params();
  sp.seed = 1;
  capi_test::Sampler s;
  REQUIRE(rwkv_sampler_init(&sp, &s.h, nullptr, 0) == RWKV_OK);
  rwkv_generate_params gp = rwkv_generate_default_params();
  gp.max_tokens = 20;
  rwkv_generate_result r{};
  const std::string prompt = "In the beginning,";
  REQUIRE(rwkv_generate(m, 0, t, s, prompt.data(), prompt.size(), &gp, &r) == RWKV_OK);
  CHECK(r.n_prompt_tokens == prompt.size());
  CHECK(r.n_tokens == 20);
  CHECK(r.prefill_seconds > 0);
  CHECK(r.decode_seconds > 0);
  // Prefill only: no decode time.
  gp.max_tokens = 0;
  rwkv_generate_result p{};
  p.decode_seconds = -1;
  REQUIRE(rwkv_generate(m, 0, t, s, prompt.data(), prompt.size(), &gp, &p) == RWKV_OK);
  CHECK(p.prefill_seconds > 0);
  CHECK(p.decode_seconds == 0);
}
