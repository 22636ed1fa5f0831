// Tests of the C API's library, model and evaluation functions (rwkv_run.h)
// against the C++ runtime they wrap (load_model, CpuBackend) and the official
// goldens: info fields, logits, prefill = token-by-token, batches = each alone,
// chunk sizes, logits-free evaluation.
#include <cmath>
#include <cstring>

#include "capi_test_util.h"
#include "cpu_golden_util.h"
#include "runtime/backend/state_layout.h"
#include "runtime/cpu/cpu_backend.h"
#include "runtime/engine/open_backend.h"
#include "runtime/model/model.h"
#include "runtime/version.h"

using namespace capi_test;

namespace {
// CPU backend tolerance against the fp32 goldens and between run modes (test_cpu_golden.cpp).
constexpr double kLogitTol = 1e-4;
}  // namespace

TEST_CASE("C API: version, GPU path and status strings", "[capi]") {
  CHECK(std::string(rwkv_version()) == RWKV_RUN_VERSION_STRING);
  const std::string gpu = rwkv_gpu_support();
#ifdef RWKV_HAVE_GPU
  CHECK((gpu == "cuda" || gpu == "emu"));
#else
  CHECK(gpu == "none");
#endif
  for (int s = RWKV_OK; s <= RWKV_ERR_INTERNAL; ++s) CHECK(std::string(rwkv_status_string(rwkv_status(s))) != "unknown status");
  CHECK(std::string(rwkv_status_string(rwkv_status(999))) == "unknown status");
}

TEST_CASE("C API: model info matches the C++ loader for every tiny model", "[capi]") {
  const std::string file = GENERATE(as<std::string>{}, "tiny-rwkv-4v0-660K.pth", "tiny-rwkv-5v1-730K.pth",
                                    "tiny-rwkv-5v2-730K.pth", "tiny-rwkv-6v0-1m.pth", "tiny-rwkv-7v0-834K.pth");
  CAPTURE(file);
  Model m;
  load(m, file, 3);
  const rwkv_model_info i = info(m);
  auto ref = rwkv::load_model(model_path(file));
  const rwkv::ModelInfo& r = ref->info;
  CHECK(std::string(i.format) == r.format);
  CHECK(std::string(i.version) == rwkv::arch_name(r.arch));
  CHECK(std::string(i.device) == "cpu");
  CHECK(std::string(i.dtype) == "fp32");
  CHECK(std::string(i.tokenizer_kind) == "bytes");
  CHECK(i.n_embd == r.n_embd);
  CHECK(i.n_layer == r.n_layer);
  CHECK(i.n_vocab == r.n_vocab);
  CHECK(i.n_head == r.n_head);
  CHECK(i.head_size == r.head_size);
  CHECK(i.n_att == r.n_att);
  CHECK(i.n_ffn == r.n_ffn);
  CHECK(i.n_params == r.params);
  CHECK(i.n_slots == 3);
  CHECK(i.state_size == rwkv::StateLayout(r).size() * sizeof(float));
  size_t bytes = 0;
  CHECK(rwkv_state_size(m, &bytes) == RWKV_OK);
  CHECK(bytes == i.state_size);
}

TEST_CASE("C API: rwkv_eval reproduces the official golden logits and the C++ backend", "[capi]") {
  for (const std::string& name : golden::list_folders()) {
    const golden::Folder f = golden::read_folder(name);
    if (f.bf16_compute() || f.model_file.find("tiny-") == std::string::npos) continue;
    CAPTURE(name);
    Model m;
    rwkv_model_params p = rwkv_model_default_params();
    p.n_threads = 2;
    p.chunk_len = 17;  // several chunks
    char err[256];
    REQUIRE(rwkv_model_load(testdata_path(f.model_file).c_str(), &p, &m.h, err, sizeof err) == RWKV_OK);
    const std::vector<int32_t> tokens(f.tokens.begin(), f.tokens.end());
    const std::vector<float> got = eval(m, 0, tokens);
    const std::vector<float> ref = golden::read_f32(f.dir + "/logits_seq_last.f32");
    REQUIRE(ref.size() == got.size());
    CHECK(golden::max_abs_diff(got.data(), ref.data(), ref.size()) <= kLogitTol);

    // The same as the C++ CPU backend with the same chunks and the matrices in the
    // file's dtype (what the C API's default asks for), bit for bit (same code).
    auto model = rwkv::load_model(testdata_path(f.model_file));
    rwkv::WeightFormat held;
    held.dense = rwkv::stored_matrix_dtype(*model);
    rwkv::CpuBackend be(*model, rwkv::CpuOptions{2, held});
    std::vector<float> st(be.state_layout().size()), logits(got.size());
    be.init_state(st.data());
    for (size_t at = 0; at < tokens.size(); at += 17) {
      rwkv::Batch b;
      b.seqs.resize(1);
      b.seqs[0].tokens = tokens.data() + at;
      b.seqs[0].n_tokens = std::min<size_t>(17, tokens.size() - at);
      b.seqs[0].state = st.data();
      b.seqs[0].state_floats = st.size();
      b.logits = at + 17 >= tokens.size() ? rwkv::LogitsMode::last : rwkv::LogitsMode::none;
      be.forward(b, logits.data());
    }
    CHECK(std::memcmp(logits.data(), got.data(), got.size() * sizeof(float)) == 0);
    CHECK(read_state(m, 0) == st);
  }
}

TEST_CASE("C API: prefill equals token-by-token evaluation, with or without logits", "[capi]") {
  Model m;
  load(m, "tiny-rwkv-7v0-834K.pth", 2);
  std::vector<int32_t> tokens;
  for (char c : std::string("The river ran past the mill, slow and brown.")) tokens.push_back((unsigned char)c);
  const std::vector<float> prefill = eval(m, 0, tokens);
  // Slot 1: all but the last token without logits, one at a time, then the last.
  for (size_t i = 0; i + 1 < tokens.size(); ++i)
    REQUIRE(rwkv_eval(m, 1, &tokens[i], 1, nullptr, 0) == RWKV_OK);
  const std::vector<float> step = eval(m, 1, {tokens.back()});
  CHECK(golden::max_abs_diff(step.data(), prefill.data(), prefill.size()) <= kLogitTol);
  const std::vector<float> s0 = read_state(m, 0), s1 = read_state(m, 1);
  CHECK(golden::max_rel_diff(s1.data(), s0.data(), s0.size()) <= 1e-4);
}

TEST_CASE("C API: chunk_len does not change the result beyond rounding", "[capi]") {
  std::vector<int32_t> tokens;
  for (int i = 0; i < 70; ++i) tokens.push_back((i * 37 + 11) % 256);
  Model a, b;
  load(a, "tiny-rwkv-6v0-1m.pth", 1, "cpu", 256);
  load(b, "tiny-rwkv-6v0-1m.pth", 1, "cpu", 5);
  const std::vector<float> la = eval(a, 0, tokens), lb = eval(b, 0, tokens);
  CHECK(golden::max_abs_diff(la.data(), lb.data(), la.size()) <= kLogitTol);
}

TEST_CASE("C API: rwkv_eval_batch gives each sequence what it gets alone", "[capi]") {
  const int32_t chunk = GENERATE(3, 256);
  CAPTURE(chunk);
  Model m;
  load(m, "tiny-rwkv-5v2-730K.pth", 4, "cpu", chunk);
  const size_t V = size_t(info(m).n_vocab);
  // Slot 3 gets a history first, so the batch mixes fresh and used states.
  REQUIRE(eval(m, 3, {'a', 'b', 'c'}).size() == V);
  const std::vector<float> history = read_state(m, 3);
  const std::vector<std::vector<int32_t>> toks = {{'H', 'e', 'l', 'l', 'o', ',', ' ', 'w'}, {'x'}, {'1', '2', '3', '4', '5'}};
  const int32_t slots[3] = {0, 3, 1};
  std::vector<rwkv_seq> seqs;
  for (size_t i = 0; i < 3; ++i) seqs.push_back({slots[i], toks[i].data(), toks[i].size()});
  std::vector<float> logits(3 * V);
  REQUIRE(rwkv_eval_batch(m, seqs.data(), 3, logits.data(), logits.size()) == RWKV_OK);
  std::vector<std::vector<float>> batch_states;
  for (int32_t s : slots) batch_states.push_back(read_state(m, s));

  // Alone: reset (slot 3: restore its history), evaluate one sequence at a time.
  for (size_t i = 0; i < 3; ++i) {
    CAPTURE(i);
    REQUIRE(rwkv_state_reset(m, 2) == RWKV_OK);
    if (slots[i] == 3) REQUIRE(rwkv_state_write(m, 2, history.data(), history.size() * 4) == RWKV_OK);
    const std::vector<float> alone = eval(m, 2, toks[i]);
    CHECK(golden::max_abs_diff(logits.data() + i * V, alone.data(), V) <= kLogitTol);
    const std::vector<float> st = read_state(m, 2);
    CHECK(golden::max_rel_diff(batch_states[i].data(), st.data(), st.size()) <= 1e-4);
  }
  // Without logits the states advance the same way.
  for (int32_t s : slots) REQUIRE(rwkv_state_reset(m, s) == RWKV_OK);
  REQUIRE(rwkv_state_write(m, 3, history.data(), history.size() * 4) == RWKV_OK);
  REQUIRE(rwkv_eval_batch(m, seqs.data(), 3, nullptr, 0) == RWKV_OK);
  for (size_t i = 0; i < 3; ++i) CHECK(read_state(m, slots[i]) == batch_states[i]);
}

TEST_CASE("C API: device auto loads on the device it names in the model info", "[capi]") {
  capi_test::Model a, c;
  capi_test::load(a, "tiny-rwkv-5v2-730K.pth", 1, "auto");
  capi_test::load(c, "tiny-rwkv-5v2-730K.pth", 1, "cpu");
  const std::string device = capi_test::info(a).device;
  CHECK((device == "cpu" || device.rfind("cuda:", 0) == 0));
  if (std::string(rwkv_gpu_support()) != "cuda") CHECK(device == "cpu");  // the emulator only when named
  if (device == "cpu") {  // the same computation as a model loaded on "cpu"
    const std::vector<int32_t> toks = {'H', 'i', '!'};
    CHECK(capi_test::eval(a, 0, toks) == capi_test::eval(c, 0, toks));
  }
}
