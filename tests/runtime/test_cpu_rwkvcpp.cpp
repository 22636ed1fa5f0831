// tests/runtime/test_cpu_rwkvcpp.cpp: rwkv.cpp's own expected logits for its
// tiny FP32 test models (testdata/rwkvcpp), through the ggml reader.
//
// rwkv.cpp's check (tests/logit_difference_validator.inc, test_tiny_rwkv.c):
// feed the bytes of "\"in" one by one from the initial state and, separately, as
// one sequence; then |sum_i (logits_i - expected_i)| <= |max_diff| * 1.05 with
// max_diff = +0.001 for every FP32 model. We apply that bound and, in addition,
// a 1e-4 bound on every logit: testdata/golden/rwkvcpp_expected_check.json shows
// the official code within 3.3e-6 (v4) and 4.8e-7 (v7) of these files.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>

#include "cpu_golden_util.h"
#include "runtime/cpu/cpu_backend.h"

namespace {

void check_model(const std::string& tag) {
  INFO("rwkv.cpp model " << tag);
  auto model = rwkv::load_model(testdata_path("rwkvcpp/tiny-rwkv-" + tag + "-FP32.bin"));
  rwkv::CpuBackend be(*model);
  const std::vector<float> expected = golden::read_f32(testdata_path("rwkvcpp/expected-logits-" + tag + ".bin"));
  REQUIRE(expected.size() == 256);
  REQUIRE(be.info().n_vocab == 256);
  const std::vector<int32_t> prompt = {'"', 'i', 'n'};

  std::vector<float> state(be.state_layout().size()), logits(256);
  // Serial: one token per call.
  be.init_state(state.data());
  for (int32_t t : prompt) golden::run_seq(be, &t, 1, state, rwkv::LogitsMode::last, logits.data());
  std::vector<float> serial = logits;
  // Sequence: one call.
  be.init_state(state.data());
  golden::run_seq(be, prompt.data(), prompt.size(), state, rwkv::LogitsMode::last, logits.data());

  const float bound = 0.001f * 1.05f;
  for (const auto* got : {&serial, &logits}) {
    float diff_sum = 0.0f;
    for (size_t i = 0; i < 256; ++i) diff_sum += (*got)[i] - expected[i];
    const double max_d = golden::max_abs_diff(got->data(), expected.data(), 256);
    std::printf("rwkv.cpp %-10s %s: difference sum %.3g (bound %.3g), max |d| %.3g\n", tag.c_str(),
                got == &serial ? "serial  " : "sequence", diff_sum, bound, max_d);
    CHECK(std::fabs(diff_sum) <= bound);
    CHECK(max_d <= 1e-4);
  }
}

}  // namespace

TEST_CASE("cpu backend meets rwkv.cpp's expected logits for tiny FP32 v4 and v7", "[cpu][rwkvcpp]") {
  check_model("4v0-660K");
  check_model("7v0-834K");
}
