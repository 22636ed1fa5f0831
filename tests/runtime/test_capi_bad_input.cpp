// Tests that bad input to the C API gives a status code and a message, never
// a crash, and leaves states untouched: NULL handles and buffers, wrong
// sizes, slots out of range, bad options, handles of the wrong type, calls
// after free (the freed pointer is set to NULL), per-thread last errors.
#include <cstring>
#include <thread>

#include "capi_test_util.h"

using namespace capi_test;

TEST_CASE("C API: every function refuses NULL handles", "[capi][bad-input]") {
  int32_t tok = 1;
  float buf[4];
  size_t n = 0;
  rwkv_model_info mi;
  rwkv_seq seq = {0, &tok, 1};
  CHECK(rwkv_model_get_info(nullptr, &mi) == RWKV_ERR_INVALID_ARGUMENT);
  CHECK(rwkv_eval(nullptr, 0, &tok, 1, buf, 4) == RWKV_ERR_INVALID_ARGUMENT);
  CHECK(rwkv_eval_batch(nullptr, &seq, 1, buf, 4) == RWKV_ERR_INVALID_ARGUMENT);
  CHECK(rwkv_state_size(nullptr, &n) == RWKV_ERR_INVALID_ARGUMENT);
  CHECK(rwkv_state_reset(nullptr, 0) == RWKV_ERR_INVALID_ARGUMENT);
  CHECK(rwkv_state_copy(nullptr, 0, 0) == RWKV_ERR_INVALID_ARGUMENT);
  CHECK(rwkv_state_read(nullptr, 0, buf, sizeof buf) == RWKV_ERR_INVALID_ARGUMENT);
  CHECK(rwkv_state_write(nullptr, 0, buf, sizeof buf) == RWKV_ERR_INVALID_ARGUMENT);
  CHECK(rwkv_state_save(nullptr, 0, "/tmp/x") == RWKV_ERR_INVALID_ARGUMENT);
  CHECK(rwkv_state_load(nullptr, 0, "/tmp/x") == RWKV_ERR_INVALID_ARGUMENT);
  CHECK(rwkv_tokenizer_encode(nullptr, "a", 1, &tok, 1, &n) == RWKV_ERR_INVALID_ARGUMENT);
  CHECK(rwkv_tokenizer_count(nullptr, "a", 1, &n) == RWKV_ERR_INVALID_ARGUMENT);
  char text[4];
  CHECK(rwkv_tokenizer_decode(nullptr, &tok, 1, text, 4, &n) == RWKV_ERR_INVALID_ARGUMENT);
  CHECK(rwkv_tokenizer_kind(nullptr) == nullptr);
  CHECK(rwkv_tokenizer_n_vocab(nullptr) == -1);
  CHECK(rwkv_sampler_sample(nullptr, buf, 4, &tok, nullptr) == RWKV_ERR_INVALID_ARGUMENT);
  CHECK(rwkv_sampler_reset(nullptr) == RWKV_ERR_INVALID_ARGUMENT);
  CHECK(rwkv_sampler_set_seed(nullptr, 1) == RWKV_ERR_INVALID_ARGUMENT);
  CHECK(rwkv_generate(nullptr, 0, nullptr, nullptr, "a", 1, nullptr, nullptr) == RWKV_ERR_INVALID_ARGUMENT);
  CHECK(std::strlen(rwkv_model_last_error(nullptr)) > 0);
  CHECK(std::strlen(rwkv_tokenizer_last_error(nullptr)) > 0);
  CHECK(std::strlen(rwkv_sampler_last_error(nullptr)) > 0);
  rwkv_model_free(nullptr);
  rwkv_tokenizer_free(nullptr);
  rwkv_sampler_free(nullptr);
  rwkv_model* m = nullptr;
  rwkv_model_free(&m);
}

TEST_CASE("C API: model load refuses bad paths and options", "[capi][bad-input]") {
  const std::string good = model_path("tiny-rwkv-4v0-660K.pth");
  char err[256];
  auto try_load = [&](const char* path, rwkv_model_params p) {
    rwkv_model* m = reinterpret_cast<rwkv_model*>(&err);  // must be overwritten with NULL
    const rwkv_status s = rwkv_model_load(path, &p, &m, err, sizeof err);
    CHECK(m == nullptr);
    if (s != RWKV_OK) CHECK(std::strlen(err) > 0);
    rwkv_model_free(&m);
    return s;
  };
  const rwkv_model_params d = rwkv_model_default_params();
  CHECK(try_load(nullptr, d) == RWKV_ERR_INVALID_ARGUMENT);
  CHECK(try_load("/no/such/model.pth", d) == RWKV_ERR_FILE);
  CHECK(std::string(err).find("/no/such/model.pth") != std::string::npos);
  CHECK(try_load(testdata_path("README.md").c_str(), d) == RWKV_ERR_FORMAT);
  CHECK(try_load(testdata_path("models").c_str(), d) != RWKV_OK);  // a directory
  rwkv_model_params p = d;
  for (const char* dev : {"gpu", "cuda:x", "cuda:-1", "cpu:0", ""}) {
    CAPTURE(dev);
    p.device = dev;
    CHECK(try_load(good.c_str(), p) == RWKV_ERR_INVALID_ARGUMENT);
  }
  p = d;
  p.dtype = "fp8";
  CHECK(try_load(good.c_str(), p) == RWKV_ERR_INVALID_ARGUMENT);
  p = d;
  p.n_slots = 0;
  CHECK(try_load(good.c_str(), p) == RWKV_ERR_INVALID_ARGUMENT);
  p.n_slots = -4;
  CHECK(try_load(good.c_str(), p) == RWKV_ERR_INVALID_ARGUMENT);
  p = d;
  p.chunk_len = 0;
  CHECK(try_load(good.c_str(), p) == RWKV_ERR_INVALID_ARGUMENT);
  p = d;
  p.n_threads = -1;
  CHECK(try_load(good.c_str(), p) == RWKV_ERR_INVALID_ARGUMENT);
  p = d;
  p.device = "cuda:7";
#ifdef RWKV_HAVE_GPU
  CHECK(try_load(good.c_str(), p) == RWKV_ERR_DEVICE);  // no such device
#else
  CHECK(try_load(good.c_str(), p) == RWKV_ERR_UNSUPPORTED);
#endif
  rwkv_model* m = nullptr;
  CHECK(rwkv_model_load(good.c_str(), nullptr, nullptr, err, sizeof err) == RWKV_ERR_INVALID_ARGUMENT);
  CHECK(rwkv_model_load(good.c_str(), nullptr, &m, nullptr, 0) == RWKV_OK);  // defaults, no error buffer
  rwkv_model_free(&m);
  CHECK(m == nullptr);
}

TEST_CASE("C API: bad slots, tokens and buffer sizes leave the states untouched", "[capi][bad-input]") {
  Model m;
  load(m, "tiny-rwkv-5v2-730K.pth", 2);
  const rwkv_model_info i = info(m);
  const size_t V = size_t(i.n_vocab);
  eval(m, 0, {'a', 'b'});
  const std::vector<float> s0 = read_state(m, 0), s1 = read_state(m, 1);
  std::vector<float> logits(V + 1);
  const int32_t ok_tok[2] = {'x', 'y'};
  const int32_t bad_tok[3] = {'x', int32_t(V), 'y'};
  const int32_t neg_tok[1] = {-1};

  CHECK(rwkv_eval(m, -1, ok_tok, 2, logits.data(), V) == RWKV_ERR_OUT_OF_RANGE);
  CHECK(rwkv_eval(m, 2, ok_tok, 2, logits.data(), V) == RWKV_ERR_OUT_OF_RANGE);
  CHECK(std::string(rwkv_model_last_error(m)).find("slot 2") != std::string::npos);
  CHECK(rwkv_eval(m, 0, nullptr, 2, logits.data(), V) == RWKV_ERR_INVALID_ARGUMENT);
  CHECK(rwkv_eval(m, 0, ok_tok, 0, logits.data(), V) == RWKV_ERR_INVALID_ARGUMENT);
  CHECK(rwkv_eval(m, 0, bad_tok, 3, logits.data(), V) == RWKV_ERR_INVALID_ARGUMENT);
  CHECK(std::string(rwkv_model_last_error(m)).find("position 1") != std::string::npos);
  CHECK(rwkv_eval(m, 0, neg_tok, 1, nullptr, 0) == RWKV_ERR_INVALID_ARGUMENT);
  CHECK(rwkv_eval(m, 0, ok_tok, 2, logits.data(), V - 1) == RWKV_ERR_BUFFER_SIZE);

  rwkv_seq seqs[2] = {{0, ok_tok, 2}, {0, ok_tok, 1}};
  CHECK(rwkv_eval_batch(m, seqs, 2, nullptr, 0) == RWKV_ERR_INVALID_ARGUMENT);  // slot twice
  seqs[1].slot = 1;
  CHECK(rwkv_eval_batch(m, seqs, 2, logits.data(), V) == RWKV_ERR_BUFFER_SIZE);
  CHECK(rwkv_eval_batch(m, seqs, 0, nullptr, 0) == RWKV_ERR_INVALID_ARGUMENT);
  CHECK(rwkv_eval_batch(m, nullptr, 2, nullptr, 0) == RWKV_ERR_INVALID_ARGUMENT);
  seqs[1].slot = 5;
  CHECK(rwkv_eval_batch(m, seqs, 2, nullptr, 0) == RWKV_ERR_OUT_OF_RANGE);
  seqs[1] = {1, bad_tok, 3};
  CHECK(rwkv_eval_batch(m, seqs, 2, nullptr, 0) == RWKV_ERR_INVALID_ARGUMENT);
  seqs[1] = {1, ok_tok, 0};
  CHECK(rwkv_eval_batch(m, seqs, 2, nullptr, 0) == RWKV_ERR_INVALID_ARGUMENT);

  std::vector<float> st(i.state_size / 4 + 1);
  CHECK(rwkv_state_read(m, 0, st.data(), i.state_size - 1) == RWKV_ERR_BUFFER_SIZE);
  CHECK(rwkv_state_read(m, 0, nullptr, i.state_size) == RWKV_ERR_INVALID_ARGUMENT);
  CHECK(rwkv_state_read(m, 9, st.data(), i.state_size) == RWKV_ERR_OUT_OF_RANGE);
  CHECK(rwkv_state_write(m, 1, st.data(), i.state_size + 4) == RWKV_ERR_BUFFER_SIZE);
  CHECK(rwkv_state_write(m, 1, st.data(), i.state_size - 4) == RWKV_ERR_BUFFER_SIZE);
  CHECK(rwkv_state_write(m, 1, nullptr, i.state_size) == RWKV_ERR_INVALID_ARGUMENT);
  CHECK(rwkv_state_write(m, -1, st.data(), i.state_size) == RWKV_ERR_OUT_OF_RANGE);
  CHECK(rwkv_state_copy(m, 0, 2) == RWKV_ERR_OUT_OF_RANGE);
  CHECK(rwkv_state_copy(m, -1, 0) == RWKV_ERR_OUT_OF_RANGE);
  CHECK(rwkv_state_reset(m, 2) == RWKV_ERR_OUT_OF_RANGE);
  CHECK(rwkv_state_save(m, 0, nullptr) == RWKV_ERR_INVALID_ARGUMENT);
  CHECK(rwkv_state_save(m, 0, "") == RWKV_ERR_INVALID_ARGUMENT);
  CHECK(rwkv_state_save(m, 3, "/tmp/never.state") == RWKV_ERR_OUT_OF_RANGE);
  CHECK(rwkv_state_load(m, 0, nullptr) == RWKV_ERR_INVALID_ARGUMENT);
  CHECK(rwkv_state_size(m, nullptr) == RWKV_ERR_INVALID_ARGUMENT);
  CHECK(rwkv_model_get_info(m, nullptr) == RWKV_ERR_INVALID_ARGUMENT);
  CHECK(read_state(m, 0) == s0);
  CHECK(read_state(m, 1) == s1);
}

TEST_CASE("C API: rwkv_generate refuses bad arguments before touching the state", "[capi][bad-input]") {
  Model m;
  load(m, "tiny-rwkv-5v2-730K.pth", 1);
  Tokenizer bytes, world;
  load(bytes, "bytes");
  load(world, testdata_path("tokenizer/rwkv_vocab_v20230424.txt").c_str());
  Sampler s;
  rwkv_sampler_params sp = rwkv_sampler_default_params();
  char err[128];
  REQUIRE(rwkv_sampler_init(&sp, &s.h, err, sizeof err) == RWKV_OK);
  const std::vector<float> before = read_state(m, 0);
  rwkv_generate_params p = rwkv_generate_default_params();
  p.max_tokens = 4;
  CHECK(rwkv_generate(m, 1, bytes, s, "a", 1, &p, nullptr) == RWKV_ERR_OUT_OF_RANGE);
  CHECK(rwkv_generate(m, 0, nullptr, s, "a", 1, &p, nullptr) == RWKV_ERR_INVALID_ARGUMENT);
  CHECK(rwkv_generate(m, 0, bytes, nullptr, "a", 1, &p, nullptr) == RWKV_ERR_INVALID_ARGUMENT);
  CHECK(rwkv_generate(m, 0, world, s, "a", 1, &p, nullptr) == RWKV_ERR_INVALID_ARGUMENT);  // 65536 vs 256
  CHECK(std::string(rwkv_model_last_error(m)).find("vocabulary") != std::string::npos);
  CHECK(rwkv_generate(m, 0, bytes, s, "", 0, &p, nullptr) == RWKV_ERR_INVALID_ARGUMENT);
  CHECK(rwkv_generate(m, 0, bytes, s, nullptr, 3, &p, nullptr) == RWKV_ERR_INVALID_ARGUMENT);
  p.max_tokens = -1;
  CHECK(rwkv_generate(m, 0, bytes, s, "a", 1, &p, nullptr) == RWKV_ERR_INVALID_ARGUMENT);
  p.max_tokens = 4;
  p.n_stop_strings = 1;
  CHECK(rwkv_generate(m, 0, bytes, s, "a", 1, &p, nullptr) == RWKV_ERR_INVALID_ARGUMENT);
  const char* stops[2] = {"ok", nullptr};
  p.stop_strings = stops;
  p.n_stop_strings = 2;
  CHECK(rwkv_generate(m, 0, bytes, s, "a", 1, &p, nullptr) == RWKV_ERR_INVALID_ARGUMENT);
  stops[1] = "\xC3";
  CHECK(rwkv_generate(m, 0, bytes, s, "a", 1, &p, nullptr) == RWKV_ERR_INVALID_ARGUMENT);
  p = rwkv_generate_default_params();
  p.tokens_out_capacity = 3;
  CHECK(rwkv_generate(m, 0, bytes, s, "a", 1, &p, nullptr) == RWKV_ERR_INVALID_ARGUMENT);
  CHECK(read_state(m, 0) == before);
}

TEST_CASE("C API: handles of the wrong type and freed handles are refused", "[capi][bad-input]") {
  Model m;
  load(m, "tiny-rwkv-4v0-660K.pth");
  Tokenizer t;
  load(t, "bytes");
  // Through FFI anything can be passed: a tokenizer where a model is expected.
  rwkv_model* fake = reinterpret_cast<rwkv_model*>(t.h);
  int32_t tok = 'a';
  CHECK(rwkv_eval(fake, 0, &tok, 1, nullptr, 0) == RWKV_ERR_INVALID_ARGUMENT);
  CHECK(std::string(rwkv_model_last_error(fake)) == "not a model handle");
  rwkv_tokenizer* fake_tok = reinterpret_cast<rwkv_tokenizer*>(m.h);
  size_t n;
  CHECK(rwkv_tokenizer_count(fake_tok, "a", 1, &n) == RWKV_ERR_INVALID_ARGUMENT);
  // free() clears the caller's pointer, so using it again is refused, not a crash.
  rwkv_model* own = nullptr;
  char err[128];
  REQUIRE(rwkv_model_load(model_path("tiny-rwkv-4v0-660K.pth").c_str(), nullptr, &own, err, sizeof err) == RWKV_OK);
  rwkv_model_free(&own);
  CHECK(own == nullptr);
  CHECK(rwkv_eval(own, 0, &tok, 1, nullptr, 0) == RWKV_ERR_INVALID_ARGUMENT);
  rwkv_model_free(&own);  // double free: harmless
  rwkv_sampler* s = nullptr;
  rwkv_sampler_params sp = rwkv_sampler_default_params();
  REQUIRE(rwkv_sampler_init(&sp, &s, err, sizeof err) == RWKV_OK);
  rwkv_sampler_free(&s);
  CHECK(s == nullptr);
  CHECK(rwkv_sampler_reset(s) == RWKV_ERR_INVALID_ARGUMENT);
}

TEST_CASE("C API: the last error is kept per handle and per thread", "[capi][bad-input][threads]") {
  Model m;
  load(m, "tiny-rwkv-4v0-660K.pth", 2);
  int32_t tok = 'a';
  CHECK(std::string(rwkv_model_last_error(m)).empty());
  REQUIRE(rwkv_eval(m, 5, &tok, 1, nullptr, 0) == RWKV_ERR_OUT_OF_RANGE);
  const std::string mine = rwkv_model_last_error(m);
  std::string theirs, theirs_before;
  std::thread other([&] {
    theirs_before = rwkv_model_last_error(m);  // nothing failed in this thread yet
    rwkv_eval(m, 0, nullptr, 1, nullptr, 0);
    theirs = rwkv_model_last_error(m);
  });
  other.join();
  CHECK(theirs_before.empty());
  CHECK(theirs.find("NULL") != std::string::npos);
  CHECK(std::string(rwkv_model_last_error(m)) == mine);  // unchanged by the other thread
  CHECK(mine.find("slot 5") != std::string::npos);
  // A successful call does not clear it (errno style).
  REQUIRE(rwkv_eval(m, 0, &tok, 1, nullptr, 0) == RWKV_OK);
  CHECK(std::string(rwkv_model_last_error(m)) == mine);
}
