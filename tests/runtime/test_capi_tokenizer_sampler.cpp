// Tests of the C API's tokenizer and sampler: the official tokenizer vectors
// through rwkv_tokenizer_encode/decode, the two-call size queries, and the
// sampler's options checked against the C++ Sampler it wraps (same seed, same
// logits -> same tokens and penalty counts).
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "capi_test_util.h"
#include "runtime/sampler/penalty_weight.h"
#include "runtime/sampler/sampler.h"
#include "runtime/tokenizer/tokenizer.h"
#include "test_tokenizer_vectors.h"

using namespace capi_test;

TEST_CASE("C API: World tokenizer encodes and decodes the official vectors", "[capi][tokenizer]") {
  Tokenizer t;
  load(t, testdata_path("tokenizer/rwkv_vocab_v20230424.txt").c_str());
  CHECK(std::string(rwkv_tokenizer_kind(t)) == "world");
  CHECK(rwkv_tokenizer_n_vocab(t) == 65536);
  const auto vectors = load_tokenizer_vectors("tokenizer_world_");
  REQUIRE(!vectors.empty());
  for (const TokenizerVector& v : vectors) {
    CAPTURE(v.file, v.input);
    size_t n = 0;
    REQUIRE(rwkv_tokenizer_count(t, v.input.data(), v.input.size(), &n) == RWKV_OK);
    REQUIRE(n == v.ids.size());
    std::vector<int32_t> ids(n + 1, -7);
    REQUIRE(rwkv_tokenizer_encode(t, v.input.data(), v.input.size(), ids.data(), ids.size(), &n) == RWKV_OK);
    ids.resize(n);
    CHECK(ids == v.ids);
    if (!v.decode_roundtrip) continue;
    size_t len = 0;
    REQUIRE(rwkv_tokenizer_decode(t, v.ids.data(), v.ids.size(), nullptr, 0, &len) == RWKV_OK);
    std::string text(len + 1, '?');
    REQUIRE(rwkv_tokenizer_decode(t, v.ids.data(), v.ids.size(), &text[0], text.size(), &len) == RWKV_OK);
    CHECK(text[len] == '\0');
    text.resize(len);
    CHECK(text == v.input);
  }
}

TEST_CASE("C API: two-call size queries of encode and decode", "[capi][tokenizer]") {
  Tokenizer t;
  load(t, "bytes");
  CHECK(std::string(rwkv_tokenizer_kind(t)) == "bytes");
  CHECK(rwkv_tokenizer_n_vocab(t) == 256);
  const std::string text("a\0b\xFF", 4);
  size_t n = 99;
  CHECK(rwkv_tokenizer_encode(t, text.data(), text.size(), nullptr, 0, &n) == RWKV_OK);
  CHECK(n == 4);
  int32_t small[3] = {-1, -1, -1};
  n = 0;
  CHECK(rwkv_tokenizer_encode(t, text.data(), text.size(), small, 3, &n) == RWKV_ERR_BUFFER_TOO_SMALL);
  CHECK(n == 4);
  CHECK(small[0] == -1);  // nothing written
  CHECK(rwkv_tokenizer_encode(t, text.data(), text.size(), nullptr, 4, &n) == RWKV_ERR_INVALID_ARGUMENT);
  int32_t ids[4];
  REQUIRE(rwkv_tokenizer_encode(t, text.data(), text.size(), ids, 4, &n) == RWKV_OK);
  CHECK(std::vector<int32_t>(ids, ids + 4) == std::vector<int32_t>{'a', 0, 'b', 0xFF});
  CHECK(rwkv_tokenizer_encode(t, nullptr, 0, nullptr, 0, &n) == RWKV_OK);
  CHECK(n == 0);
  // Decode: the raw bytes (NUL and 0xFF included) plus a terminating NUL.
  size_t len = 0;
  char out4[4];
  CHECK(rwkv_tokenizer_decode(t, ids, 4, out4, 4, &len) == RWKV_ERR_BUFFER_TOO_SMALL);  // needs 5
  CHECK(len == 4);
  char out[5];
  REQUIRE(rwkv_tokenizer_decode(t, ids, 4, out, 5, &len) == RWKV_OK);
  CHECK(std::string(out, len) == text);
  CHECK(out[4] == '\0');
  const int32_t bad[2] = {65, 256};
  CHECK(rwkv_tokenizer_decode(t, bad, 2, out, 5, &len) == RWKV_ERR_INVALID_ARGUMENT);
  CHECK(std::string(rwkv_tokenizer_last_error(t)).find("256") != std::string::npos);
}

TEST_CASE("C API: tokenizer load errors", "[capi][tokenizer]") {
  rwkv_tokenizer* t = reinterpret_cast<rwkv_tokenizer*>(&t);  // must be overwritten with NULL
  char err[256];
  CHECK(rwkv_tokenizer_load("/no/such/vocab.txt", &t, err, sizeof err) == RWKV_ERR_FILE);
  CHECK(t == nullptr);
  CHECK(std::string(err).find("/no/such/vocab.txt") != std::string::npos);
  CHECK(rwkv_tokenizer_load(model_path("tiny-rwkv-4v0-660K.pth").c_str(), &t, err, sizeof err) == RWKV_ERR_FORMAT);
  CHECK(t == nullptr);
  CHECK(rwkv_tokenizer_load(nullptr, &t, err, sizeof err) == RWKV_ERR_INVALID_ARGUMENT);
  CHECK(rwkv_tokenizer_load("", &t, err, sizeof err) == RWKV_ERR_INVALID_ARGUMENT);
  CHECK(rwkv_tokenizer_load("bytes", nullptr, err, sizeof err) == RWKV_ERR_INVALID_ARGUMENT);
  // A tiny error buffer gets a truncated, NUL-terminated message.
  char tiny[6];
  CHECK(rwkv_tokenizer_load("/no/such/vocab.txt", &t, tiny, sizeof tiny) == RWKV_ERR_FILE);
  CHECK(std::strlen(tiny) == 5);
}

TEST_CASE("C API: the sampler draws what the C++ Sampler draws with the same options", "[capi][sampler]") {
  Tokenizer t;
  load(t, "bytes");
  const int32_t banned[] = {'e', 't'};
  const int32_t stops[] = {'\n'};
  rwkv_sampler_params p = rwkv_sampler_default_params();
  // The defaults are pip's PIPELINE_ARGS, as the C++ SamplerParams.
  const rwkv::SamplerParams d;
  CHECK(p.temperature == d.temperature);
  CHECK(p.top_p == d.top_p);
  CHECK(p.top_k == d.top_k);
  CHECK(p.alpha_presence == d.alpha_presence);
  CHECK(p.alpha_frequency == d.alpha_frequency);
  CHECK(p.alpha_decay == d.alpha_decay);
  p.temperature = 0.8;
  p.top_p = 0.7;
  p.top_k = 40;
  p.alpha_presence = 0.3;
  p.alpha_frequency = 0.25;
  p.alpha_decay = 0.99;
  p.banned_tokens = banned;
  p.n_banned_tokens = 2;
  p.stop_tokens = stops;
  p.n_stop_tokens = 1;
  p.seed = 31337;
  p.tokenizer = t;
  Sampler s;
  char err[256];
  REQUIRE(rwkv_sampler_init(&p, &s.h, err, sizeof err) == RWKV_OK);

  rwkv::SamplerParams cp;
  cp.temperature = p.temperature;
  cp.top_p = p.top_p;
  cp.top_k = p.top_k;
  cp.alpha_presence = p.alpha_presence;
  cp.alpha_frequency = p.alpha_frequency;
  cp.alpha_decay = p.alpha_decay;
  cp.token_ban = {'e', 't'};
  cp.token_stop = {'\n'};
  cp.seed = p.seed;
  auto bytes = rwkv::load_tokenizer("bytes");
  rwkv::Sampler ref(cp, rwkv::official_penalty_weight_fn(*bytes));

  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.f, 3.f);
  int stops_seen = 0;
  for (int step = 0; step < 300; ++step) {
    CAPTURE(step);
    std::vector<float> logits(256);
    for (auto& x : logits) x = normal(rng);
    if (step % 50 == 7) logits['\n'] = 40;  // force a stop now and then
    const std::vector<float> copy = logits;
    int32_t tok = -1, is_stop = -1;
    REQUIRE(rwkv_sampler_sample(s, logits.data(), logits.size(), &tok, &is_stop) == RWKV_OK);
    CHECK(logits == copy);  // the caller's logits are not modified
    const rwkv::Sampler::Result r = ref.next(logits.data(), logits.size());
    REQUIRE(tok == r.token);
    REQUIRE(is_stop == (r.stop ? 1 : 0));
    CHECK(tok != 'e');
    CHECK(tok != 't');
    stops_seen += is_stop;
    if (step == 150) {  // reset penalties on both sides
      REQUIRE(rwkv_sampler_reset(s) == RWKV_OK);
      ref.reset_penalties();
    }
  }
  CHECK(stops_seen >= 5);
  // Reseeding restarts the random stream.
  REQUIRE(rwkv_sampler_set_seed(s, 7) == RWKV_OK);
  ref.rng().reseed(7);
  std::vector<float> flat(256, 0.f);
  for (int i = 0; i < 20; ++i) {
    int32_t tok;
    REQUIRE(rwkv_sampler_sample(s, flat.data(), flat.size(), &tok, nullptr) == RWKV_OK);
    CHECK(tok == ref.next(flat.data(), flat.size()).token);
  }
}

TEST_CASE("C API: sampler options are validated, bad logits are refused", "[capi][sampler]") {
  char err[256];
  rwkv_sampler* s = nullptr;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto refuse = [&](rwkv_sampler_params p, const char* what) {
    INFO(what);
    CHECK(rwkv_sampler_init(&p, &s, err, sizeof err) == RWKV_ERR_INVALID_ARGUMENT);
    CHECK(s == nullptr);
    CHECK(std::strlen(err) > 0);
  };
  rwkv_sampler_params p = rwkv_sampler_default_params();
  p.temperature = -1;
  refuse(p, "negative temperature");
  p = rwkv_sampler_default_params();
  p.temperature = nan;
  refuse(p, "NaN temperature");
  p = rwkv_sampler_default_params();
  p.top_p = 1.5;
  refuse(p, "top_p > 1");
  p = rwkv_sampler_default_params();
  p.top_k = -3;
  refuse(p, "negative top_k");
  p = rwkv_sampler_default_params();
  p.alpha_decay = nan;
  refuse(p, "NaN decay");
  p = rwkv_sampler_default_params();
  p.n_banned_tokens = 2;
  refuse(p, "NULL banned tokens");
  p = rwkv_sampler_default_params();
  p.n_stop_tokens = 1;
  refuse(p, "NULL stop tokens");
  CHECK(rwkv_sampler_init(nullptr, &s, err, sizeof err) == RWKV_ERR_INVALID_ARGUMENT);

  Sampler ok;
  p = rwkv_sampler_default_params();
  REQUIRE(rwkv_sampler_init(&p, &ok.h, err, sizeof err) == RWKV_OK);
  std::vector<float> logits(16, 0.f);
  int32_t tok;
  logits[3] = std::numeric_limits<float>::quiet_NaN();
  CHECK(rwkv_sampler_sample(ok, logits.data(), logits.size(), &tok, nullptr) == RWKV_ERR_INVALID_ARGUMENT);
  CHECK(std::strlen(rwkv_sampler_last_error(ok)) > 0);
  std::vector<float> ninf(16, -std::numeric_limits<float>::infinity());
  CHECK(rwkv_sampler_sample(ok, ninf.data(), ninf.size(), &tok, nullptr) == RWKV_ERR_INVALID_ARGUMENT);
  CHECK(rwkv_sampler_sample(ok, nullptr, 16, &tok, nullptr) == RWKV_ERR_INVALID_ARGUMENT);
  CHECK(rwkv_sampler_sample(ok, logits.data(), 0, &tok, nullptr) == RWKV_ERR_INVALID_ARGUMENT);
  logits[3] = 0;
  CHECK(rwkv_sampler_sample(ok, logits.data(), logits.size(), nullptr, nullptr) == RWKV_ERR_INVALID_ARGUMENT);
  CHECK(rwkv_sampler_sample(ok, logits.data(), logits.size(), &tok, nullptr) == RWKV_OK);
}
