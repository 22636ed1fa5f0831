// Tests of the C API with device "cuda" (in the emu build: the SIMT emulator):
// device-memory slots behind the same functions as "cpu". Greedy generation
// and evaluation agree with the cpu model, a state saved on one device loads
// on the other, batches equal single sequences, dtype and device options.
#include <cstring>

#include "runtime/cpu_golden_util.h"
#include "runtime/capi_test_util.h"

using namespace capi_test;

namespace {
// CUDA fp32 tolerance against the CPU (test_cuda_golden.cpp: 1e-3 on logits, 1e-3 relative on states).
constexpr double kTol = 1e-3;

struct Text {
  std::string s;
};
int append(const char* t, size_t n, void* u) {
  static_cast<Text*>(u)->s.append(t, n);
  return 0;
}

std::vector<int32_t> greedy_generate(rwkv_model* m, rwkv_tokenizer* t, std::string* text) {
  rwkv_sampler_params sp = rwkv_sampler_default_params();
  sp.temperature = 0;
  sp.tokenizer = t;
  Sampler s;
  char err[128];
  REQUIRE(rwkv_sampler_init(&sp, &s.h, err, sizeof err) == RWKV_OK);
  std::vector<int32_t> tokens(64);
  Text out;
  rwkv_generate_params p = rwkv_generate_default_params();
  p.max_tokens = 64;
  p.tokens_out = tokens.data();
  p.tokens_out_capacity = tokens.size();
  p.on_text = append;
  p.user_data = &out;
  const char prompt[] = "\"In the beginning,\" she said, \"";
  rwkv_generate_result r;
  const rwkv_status st = rwkv_generate(m, 0, t, s, prompt, std::strlen(prompt), &p, &r);
  INFO(rwkv_model_last_error(m));
  REQUIRE(st == RWKV_OK);
  REQUIRE(r.n_tokens == 64);
  *text = out.s;
  return tokens;
}

}  // namespace

TEST_CASE("C API cuda: greedy generation, logits and states agree with cpu", "[gpu][capi][cuda]") {
  const std::string file = GENERATE(as<std::string>{}, "tiny-rwkv-5v2-730K.pth", "tiny-rwkv-7v0-834K.pth");
  CAPTURE(file);
  Model cpu, gpu;
  load(cpu, file, 2, "cpu", 16);
  load(gpu, file, 2, "cuda:0", 16);
  const rwkv_model_info gi = info(gpu);
  CHECK(std::string(gi.device) == "cuda:0");
  CHECK(std::string(gi.dtype) == "fp32");
  CHECK(gi.state_size == info(cpu).state_size);
  Tokenizer t;
  load(t, "bytes");
  std::string text_cpu, text_gpu;
  CHECK(greedy_generate(gpu, t, &text_gpu) == greedy_generate(cpu, t, &text_cpu));
  CHECK(text_gpu == text_cpu);
  const std::vector<float> sc = read_state(cpu, 0), sg = read_state(gpu, 0);
  CHECK(golden::max_rel_diff(sg.data(), sc.data(), sc.size()) <= kTol);

  // A state saved on the device loads on the cpu model (same file) and vice versa.
  TempDir dir;
  REQUIRE(rwkv_state_save(gpu, 0, dir.file("g.state").c_str()) == RWKV_OK);
  REQUIRE(rwkv_state_load(cpu, 1, dir.file("g.state").c_str()) == RWKV_OK);
  CHECK(read_state(cpu, 1) == sg);
  REQUIRE(rwkv_state_save(cpu, 0, dir.file("c.state").c_str()) == RWKV_OK);
  REQUIRE(rwkv_state_load(gpu, 1, dir.file("c.state").c_str()) == RWKV_OK);
  CHECK(read_state(gpu, 1) == sc);
  const std::vector<float> lg = eval(gpu, 1, {'.', ' '}), lc = eval(cpu, 0, {'.', ' '});
  CHECK(golden::max_abs_diff(lg.data(), lc.data(), lc.size()) <= kTol);

  // copy and reset on device slots.
  REQUIRE(rwkv_state_copy(gpu, 1, 0) == RWKV_OK);
  CHECK(read_state(gpu, 0) == read_state(gpu, 1));
  REQUIRE(rwkv_state_reset(gpu, 0) == RWKV_OK);
  REQUIRE(rwkv_state_reset(cpu, 0) == RWKV_OK);
  CHECK(read_state(gpu, 0) == read_state(cpu, 0));
}

TEST_CASE("C API cuda: a batch of mixed lengths equals each sequence alone", "[gpu][capi][cuda]") {
  Model gpu;
  load(gpu, "tiny-rwkv-6v0-1m.pth", 3, "cuda", 4);
  const size_t V = size_t(info(gpu).n_vocab);
  const std::vector<std::vector<int32_t>> toks = {{'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'}, {'z'}, {'1', '2', '3'}};
  std::vector<rwkv_seq> seqs;
  for (int32_t i = 0; i < 3; ++i) seqs.push_back({i, toks[size_t(i)].data(), toks[size_t(i)].size()});
  std::vector<float> logits(3 * V);
  REQUIRE(rwkv_eval_batch(gpu, seqs.data(), 3, logits.data(), logits.size()) == RWKV_OK);
  for (int32_t i = 0; i < 3; ++i) {
    CAPTURE(i);
    const std::vector<float> batch_state = read_state(gpu, i);
    REQUIRE(rwkv_state_reset(gpu, i) == RWKV_OK);
    const std::vector<float> alone = eval(gpu, i, toks[size_t(i)]);
    CHECK(golden::max_abs_diff(logits.data() + size_t(i) * V, alone.data(), V) <= kTol);
    const std::vector<float> st = read_state(gpu, i);
    CHECK(golden::max_rel_diff(batch_state.data(), st.data(), st.size()) <= kTol);
  }
}

TEST_CASE("C API cuda: dtype option and device errors", "[gpu][capi][cuda]") {
  rwkv_model_params p = rwkv_model_default_params();
  p.device = "cuda:0";
  p.dtype = "bf16";
  Model m;
  char err[256];
  REQUIRE(rwkv_model_load(model_path("tiny-rwkv-7v0-834K.pth").c_str(), &p, &m.h, err, sizeof err) == RWKV_OK);
  CHECK(std::string(info(m).dtype) == "bf16");
  // A bf16 model's state file records its compute dtype (offset 60: 2 = bf16).
  TempDir dir;
  REQUIRE(rwkv_state_save(m, 0, dir.file("s.state").c_str()) == RWKV_OK);
  const std::vector<unsigned char> b = read_bytes(dir.file("s.state"));
  REQUIRE(b.size() > 64);
  CHECK(b[60] == 2);
  rwkv_model* none = nullptr;
  p.device = "cuda:99";
  CHECK(rwkv_model_load(model_path("tiny-rwkv-7v0-834K.pth").c_str(), &p, &none, err, sizeof err) == RWKV_ERR_DEVICE);
  CHECK(none == nullptr);
  CHECK(std::string(err).find("cuda:99") != std::string::npos);
}
