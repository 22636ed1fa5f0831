// The statuses each C API function returns, one table row per (function,
// cause), as runtime/include/rwkv_run.h documents them: every status a
// function lists that a CPU-only run can provoke is provoked here
// (RWKV_ERR_DEVICE needs a failing GPU, RWKV_ERR_OUT_OF_MEMORY an exhausted
// machine, RWKV_ERR_INTERNAL a bug). A failed call on a handle must leave a
// message in rwkv_*_last_error.
#include <sys/stat.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

#include "capi_test_util.h"
#include "hardening_files_util.h"

using namespace capi_test;

namespace {

struct Fixture {
  TempDir dir;
  Model model, other;  // tiny v7 with 2 slots; tiny v5.2 (for a foreign state file)
  Tokenizer bytes;
  Sampler sampler;
  std::string fifo, state, corrupt, foreign, not_state;

  Fixture() {
    load(model, "tiny-rwkv-7v0-834K.pth", 2);
    load(other, "tiny-rwkv-5v2-730K.pth");
    load(bytes, "bytes");
    rwkv_sampler_params sp = rwkv_sampler_default_params();
    REQUIRE(rwkv_sampler_init(&sp, &sampler.h, nullptr, 0) == RWKV_OK);
    fifo = hardening_test::make_fifo(dir.path);
    state = dir.file("good.state");
    REQUIRE(rwkv_state_save(model, 0, state.c_str()) == RWKV_OK);
    std::vector<unsigned char> b = read_bytes(state);
    b[200] ^= 1;
    corrupt = dir.file("corrupt.state");
    write_bytes(corrupt, b);
    foreign = dir.file("foreign.state");
    REQUIRE(rwkv_state_save(other, 0, foreign.c_str()) == RWKV_OK);
    not_state = testdata_path("README.md");
  }
};

struct Row {
  const char* function;
  const char* cause;
  rwkv_status expected;
  std::function<rwkv_status(Fixture&)> call;
  // Where the message of a failure is (nullptr: no handle, or a constructor's buffer).
  std::function<const char*(Fixture&)> last_error = nullptr;
};

rwkv_status load_model(const char* path, const rwkv_model_params* p = nullptr) {
  rwkv_model* m = nullptr;
  char err[512];
  const rwkv_status s = rwkv_model_load(path, p, &m, err, sizeof err);
  if (s != RWKV_OK) CHECK(std::strlen(err) > 0);
  rwkv_model_free(&m);
  return s;
}

rwkv_model_params params_with(std::function<void(rwkv_model_params&)> f) {
  rwkv_model_params p = rwkv_model_default_params();
  f(p);
  return p;
}

rwkv_status load_tokenizer(const char* what) {
  rwkv_tokenizer* t = nullptr;
  char err[512];
  const rwkv_status s = rwkv_tokenizer_load(what, &t, err, sizeof err);
  if (s != RWKV_OK) CHECK(std::strlen(err) > 0);
  rwkv_tokenizer_free(&t);
  return s;
}

const char* model_error(Fixture& f) { return rwkv_model_last_error(f.model); }
const char* tokenizer_error(Fixture& f) { return rwkv_tokenizer_last_error(f.bytes); }
const char* sampler_error(Fixture& f) { return rwkv_sampler_last_error(f.sampler); }

std::vector<Row> model_rows() {
  const std::string tiny = model_path("tiny-rwkv-7v0-834K.pth");
  const int32_t one = 1, bad = 1 << 20;
  static float logits[256 * 2];
  return {
      {"rwkv_model_load", "a model file", RWKV_OK, [=](Fixture&) { return load_model(tiny.c_str()); }},
      {"rwkv_model_load", "NULL path", RWKV_ERR_INVALID_ARGUMENT, [](Fixture&) { return load_model(nullptr); }},
      {"rwkv_model_load", "n_slots 0", RWKV_ERR_INVALID_ARGUMENT,
       [=](Fixture&) {
         const rwkv_model_params p = params_with([](rwkv_model_params& q) { q.n_slots = 0; });
         return load_model(tiny.c_str(), &p);
       }},
      {"rwkv_model_load", "missing file", RWKV_ERR_FILE, [](Fixture&) { return load_model("/no/such/model.pth"); }},
      {"rwkv_model_load", "a directory", RWKV_ERR_FILE, [](Fixture& f) { return load_model(f.dir.path.c_str()); }},
      {"rwkv_model_load", "a FIFO", RWKV_ERR_FILE, [](Fixture& f) { return load_model(f.fifo.c_str()); }},
      {"rwkv_model_load", "/dev/null", RWKV_ERR_FILE, [](Fixture&) { return load_model("/dev/null"); }},
      {"rwkv_model_load", "not a model", RWKV_ERR_FORMAT, [](Fixture& f) { return load_model(f.not_state.c_str()); }},
      {"rwkv_model_load", "fp16 on cpu (matrices held in fp16)", RWKV_OK,
       [=](Fixture&) {
         const rwkv_model_params p = params_with([](rwkv_model_params& q) { q.dtype = "fp16"; });
         return load_model(tiny.c_str(), &p);
       }},
#ifndef RWKV_HAVE_GPU
      {"rwkv_model_load", "cuda in a build without a GPU path", RWKV_ERR_UNSUPPORTED,
       [=](Fixture&) {
         const rwkv_model_params p = params_with([](rwkv_model_params& q) { q.device = "cuda"; });
         return load_model(tiny.c_str(), &p);
       }},
#endif
      {"rwkv_model_get_info", "NULL info", RWKV_ERR_INVALID_ARGUMENT,
       [](Fixture& f) { return rwkv_model_get_info(f.model, nullptr); }},
      {"rwkv_eval", "one token", RWKV_OK, [=](Fixture& f) { return rwkv_eval(f.model, 0, &one, 1, logits, 256); },
       model_error},
      {"rwkv_eval", "NULL model", RWKV_ERR_INVALID_ARGUMENT,
       [=](Fixture&) { return rwkv_eval(nullptr, 0, &one, 1, logits, 256); }},
      {"rwkv_eval", "n_tokens 0", RWKV_ERR_INVALID_ARGUMENT,
       [=](Fixture& f) { return rwkv_eval(f.model, 0, &one, 0, logits, 256); }, model_error},
      {"rwkv_eval", "token outside the vocabulary", RWKV_ERR_INVALID_ARGUMENT,
       [=](Fixture& f) { return rwkv_eval(f.model, 0, &bad, 1, logits, 256); }, model_error},
      {"rwkv_eval", "slot 2 of 2", RWKV_ERR_OUT_OF_RANGE,
       [=](Fixture& f) { return rwkv_eval(f.model, 2, &one, 1, logits, 256); }, model_error},
      {"rwkv_eval", "logits_len < n_vocab", RWKV_ERR_BUFFER_SIZE,
       [=](Fixture& f) { return rwkv_eval(f.model, 0, &one, 1, logits, 255); }, model_error},
      {"rwkv_eval_batch", "two slots", RWKV_OK,
       [=](Fixture& f) {
         const rwkv_seq s[2] = {{0, &one, 1}, {1, &one, 1}};
         return rwkv_eval_batch(f.model, s, 2, logits, 512);
       }},
      {"rwkv_eval_batch", "n_seqs 0", RWKV_ERR_INVALID_ARGUMENT,
       [=](Fixture& f) {
         const rwkv_seq s[1] = {{0, &one, 1}};
         return rwkv_eval_batch(f.model, s, 0, logits, 512);
       },
       model_error},
      {"rwkv_eval_batch", "a slot twice", RWKV_ERR_INVALID_ARGUMENT,
       [=](Fixture& f) {
         const rwkv_seq s[2] = {{0, &one, 1}, {0, &one, 1}};
         return rwkv_eval_batch(f.model, s, 2, logits, 512);
       },
       model_error},
      {"rwkv_eval_batch", "slot -1", RWKV_ERR_OUT_OF_RANGE,
       [=](Fixture& f) {
         const rwkv_seq s[1] = {{-1, &one, 1}};
         return rwkv_eval_batch(f.model, s, 1, logits, 512);
       },
       model_error},
      {"rwkv_eval_batch", "logits_len for one row of two", RWKV_ERR_BUFFER_SIZE,
       [=](Fixture& f) {
         const rwkv_seq s[2] = {{0, &one, 1}, {1, &one, 1}};
         return rwkv_eval_batch(f.model, s, 2, logits, 256);
       },
       model_error},
  };
}

std::vector<Row> state_rows() {
  static std::vector<float> buf(1 << 20);
  return {
      {"rwkv_state_size", "NULL bytes", RWKV_ERR_INVALID_ARGUMENT,
       [](Fixture& f) { return rwkv_state_size(f.model, nullptr); }, model_error},
      {"rwkv_state_reset", "slot 0", RWKV_OK, [](Fixture& f) { return rwkv_state_reset(f.model, 0); }},
      {"rwkv_state_reset", "NULL model", RWKV_ERR_INVALID_ARGUMENT,
       [](Fixture&) { return rwkv_state_reset(nullptr, 0); }},
      {"rwkv_state_reset", "slot 2", RWKV_ERR_OUT_OF_RANGE, [](Fixture& f) { return rwkv_state_reset(f.model, 2); },
       model_error},
      {"rwkv_state_copy", "0 to 1", RWKV_OK, [](Fixture& f) { return rwkv_state_copy(f.model, 0, 1); }},
      {"rwkv_state_copy", "to slot 7", RWKV_ERR_OUT_OF_RANGE, [](Fixture& f) { return rwkv_state_copy(f.model, 0, 7); },
       model_error},
      {"rwkv_state_read", "NULL dst", RWKV_ERR_INVALID_ARGUMENT,
       [](Fixture& f) { return rwkv_state_read(f.model, 0, nullptr, 4); }, model_error},
      {"rwkv_state_read", "slot 2", RWKV_ERR_OUT_OF_RANGE,
       [](Fixture& f) { return rwkv_state_read(f.model, 2, buf.data(), buf.size() * 4); }, model_error},
      {"rwkv_state_read", "4 bytes", RWKV_ERR_BUFFER_SIZE,
       [](Fixture& f) { return rwkv_state_read(f.model, 0, buf.data(), 4); }, model_error},
      {"rwkv_state_write", "more bytes than the state", RWKV_ERR_BUFFER_SIZE,
       [](Fixture& f) { return rwkv_state_write(f.model, 0, buf.data(), buf.size() * 4); }, model_error},
      {"rwkv_state_write", "NULL src", RWKV_ERR_INVALID_ARGUMENT,
       [](Fixture& f) { return rwkv_state_write(f.model, 0, nullptr, 4); }, model_error},
      {"rwkv_state_write", "slot 2", RWKV_ERR_OUT_OF_RANGE,
       [](Fixture& f) { return rwkv_state_write(f.model, 2, buf.data(), 4); }, model_error},
      {"rwkv_state_save", "a new file", RWKV_OK,
       [](Fixture& f) { return rwkv_state_save(f.model, 0, f.dir.file("new.state").c_str()); }},
      {"rwkv_state_save", "NULL path", RWKV_ERR_INVALID_ARGUMENT,
       [](Fixture& f) { return rwkv_state_save(f.model, 0, nullptr); }, model_error},
      {"rwkv_state_save", "slot 2", RWKV_ERR_OUT_OF_RANGE,
       [](Fixture& f) { return rwkv_state_save(f.model, 2, f.dir.file("x.state").c_str()); }, model_error},
      {"rwkv_state_save", "missing directory", RWKV_ERR_FILE,
       [](Fixture& f) { return rwkv_state_save(f.model, 0, f.dir.file("no/such/dir.state").c_str()); }, model_error},
      {"rwkv_state_load", "its own file", RWKV_OK, [](Fixture& f) { return rwkv_state_load(f.model, 1, f.state.c_str()); }},
      {"rwkv_state_load", "NULL path", RWKV_ERR_INVALID_ARGUMENT,
       [](Fixture& f) { return rwkv_state_load(f.model, 0, nullptr); }, model_error},
      {"rwkv_state_load", "slot 2", RWKV_ERR_OUT_OF_RANGE,
       [](Fixture& f) { return rwkv_state_load(f.model, 2, f.state.c_str()); }, model_error},
      {"rwkv_state_load", "missing file", RWKV_ERR_FILE,
       [](Fixture& f) { return rwkv_state_load(f.model, 0, f.dir.file("none.state").c_str()); }, model_error},
      {"rwkv_state_load", "a FIFO", RWKV_ERR_FILE, [](Fixture& f) { return rwkv_state_load(f.model, 0, f.fifo.c_str()); },
       model_error},
      {"rwkv_state_load", "a directory", RWKV_ERR_FILE,
       [](Fixture& f) { return rwkv_state_load(f.model, 0, f.dir.path.c_str()); }, model_error},
      {"rwkv_state_load", "not a state file", RWKV_ERR_FORMAT,
       [](Fixture& f) { return rwkv_state_load(f.model, 0, f.not_state.c_str()); }, model_error},
      {"rwkv_state_load", "a flipped bit", RWKV_ERR_CHECKSUM,
       [](Fixture& f) { return rwkv_state_load(f.model, 0, f.corrupt.c_str()); }, model_error},
      {"rwkv_state_load", "another model's state", RWKV_ERR_STATE_MISMATCH,
       [](Fixture& f) { return rwkv_state_load(f.model, 0, f.foreign.c_str()); }, model_error},
  };
}

std::vector<Row> text_rows() {
  static int32_t ids[8];
  static char text[8];
  static size_t n = 0;
  static const float nan_logits[2] = {std::numeric_limits<float>::quiet_NaN(), 0.f};
  static const float flat[2] = {0.f, 0.f};
  static int32_t token = 0;
  return {
      {"rwkv_tokenizer_load", "bytes", RWKV_OK, [](Fixture&) { return load_tokenizer("bytes"); }},
      {"rwkv_tokenizer_load", "NULL", RWKV_ERR_INVALID_ARGUMENT, [](Fixture&) { return load_tokenizer(nullptr); }},
      {"rwkv_tokenizer_load", "missing file", RWKV_ERR_FILE, [](Fixture&) { return load_tokenizer("/no/such/vocab.txt"); }},
      {"rwkv_tokenizer_load", "a FIFO", RWKV_ERR_FILE, [](Fixture& f) { return load_tokenizer(f.fifo.c_str()); }},
      {"rwkv_tokenizer_load", "a directory", RWKV_ERR_FILE, [](Fixture& f) { return load_tokenizer(f.dir.path.c_str()); }},
      {"rwkv_tokenizer_load", "not a vocabulary", RWKV_ERR_FORMAT,
       [](Fixture& f) { return load_tokenizer(f.not_state.c_str()); }},
      {"rwkv_tokenizer_encode", "size query", RWKV_OK,
       [](Fixture& f) { return rwkv_tokenizer_encode(f.bytes, "abc", 3, nullptr, 0, &n); }},
      {"rwkv_tokenizer_encode", "capacity 2 for 3", RWKV_ERR_BUFFER_TOO_SMALL,
       [](Fixture& f) { return rwkv_tokenizer_encode(f.bytes, "abc", 3, ids, 2, &n); }, tokenizer_error},
      {"rwkv_tokenizer_encode", "NULL text of 3 bytes", RWKV_ERR_INVALID_ARGUMENT,
       [](Fixture& f) { return rwkv_tokenizer_encode(f.bytes, nullptr, 3, ids, 8, &n); }, tokenizer_error},
      {"rwkv_tokenizer_count", "NULL tokenizer", RWKV_ERR_INVALID_ARGUMENT,
       [](Fixture&) { return rwkv_tokenizer_count(nullptr, "a", 1, &n); }},
      {"rwkv_tokenizer_decode", "two ids", RWKV_OK,
       [](Fixture& f) {
         const int32_t t[2] = {65, 66};
         return rwkv_tokenizer_decode(f.bytes, t, 2, text, 8, &n);
       }},
      {"rwkv_tokenizer_decode", "capacity 2 for 2 bytes and a NUL", RWKV_ERR_BUFFER_TOO_SMALL,
       [](Fixture& f) {
         const int32_t t[2] = {65, 66};
         return rwkv_tokenizer_decode(f.bytes, t, 2, text, 2, &n);
       },
       tokenizer_error},
      {"rwkv_tokenizer_decode", "id 256", RWKV_ERR_INVALID_ARGUMENT,
       [](Fixture& f) {
         const int32_t t[1] = {256};
         return rwkv_tokenizer_decode(f.bytes, t, 1, text, 8, &n);
       },
       tokenizer_error},
      {"rwkv_sampler_init", "NULL params", RWKV_ERR_INVALID_ARGUMENT,
       [](Fixture&) {
         rwkv_sampler* s = nullptr;
         return rwkv_sampler_init(nullptr, &s, nullptr, 0);
       }},
      {"rwkv_sampler_init", "top_p 2", RWKV_ERR_INVALID_ARGUMENT,
       [](Fixture&) {
         rwkv_sampler_params p = rwkv_sampler_default_params();
         p.top_p = 2;
         rwkv_sampler* s = nullptr;
         return rwkv_sampler_init(&p, &s, nullptr, 0);
       }},
      {"rwkv_sampler_sample", "two logits", RWKV_OK,
       [](Fixture& f) { return rwkv_sampler_sample(f.sampler, flat, 2, &token, nullptr); }},
      {"rwkv_sampler_sample", "a NaN logit", RWKV_ERR_INVALID_ARGUMENT,
       [](Fixture& f) { return rwkv_sampler_sample(f.sampler, nan_logits, 2, &token, nullptr); }, sampler_error},
      {"rwkv_sampler_reset", "NULL", RWKV_ERR_INVALID_ARGUMENT, [](Fixture&) { return rwkv_sampler_reset(nullptr); }},
      {"rwkv_sampler_set_seed", "NULL", RWKV_ERR_INVALID_ARGUMENT,
       [](Fixture&) { return rwkv_sampler_set_seed(nullptr, 1); }},
      {"rwkv_generate", "two tokens", RWKV_OK,
       [](Fixture& f) {
         rwkv_generate_params g = rwkv_generate_default_params();
         g.max_tokens = 2;
         return rwkv_generate(f.model, 0, f.bytes, f.sampler, "ab", 2, &g, nullptr);
       }},
      {"rwkv_generate", "empty prompt", RWKV_ERR_INVALID_ARGUMENT,
       [](Fixture& f) { return rwkv_generate(f.model, 0, f.bytes, f.sampler, "", 0, nullptr, nullptr); }, model_error},
      {"rwkv_generate", "slot 2", RWKV_ERR_OUT_OF_RANGE,
       [](Fixture& f) { return rwkv_generate(f.model, 2, f.bytes, f.sampler, "ab", 2, nullptr, nullptr); }, model_error},
  };
}

}  // namespace

TEST_CASE("C API: every function returns the statuses rwkv_run.h documents for each cause", "[capi][status]") {
  hardening_test::HangGuard guard(60);  // a FIFO that blocked would hang here
  Fixture f;
  std::vector<Row> rows = model_rows();
  for (auto* more : {state_rows, text_rows})
    for (Row& r : more()) rows.push_back(std::move(r));
  for (const Row& r : rows) {
    INFO(r.function << ": " << r.cause);
    const rwkv_status got = r.call(f);
    INFO("got " << rwkv_status_string(got) << "; model's last error: " << rwkv_model_last_error(f.model));
    CHECK(got == r.expected);
    if (r.expected != RWKV_OK && r.last_error) CHECK(std::strlen(r.last_error(f)) > 0);
  }
  CHECK(std::string(rwkv_status_string(static_cast<rwkv_status>(99))) == "unknown status");
}
