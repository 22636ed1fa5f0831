// tests/runtime/capi_test_util.h: small helpers for the C API tests
// (test_capi_*.cpp): owning wrappers for the handles and loaders that fail the
// test with the library's message.
#pragma once

#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "rwkv_run.h"
#include "testdata.h"

namespace capi_test {

struct Model {
  rwkv_model* h = nullptr;
  Model() = default;
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;
  ~Model() { rwkv_model_free(&h); }
  operator rwkv_model*() const { return h; }
};
struct Tokenizer {
  rwkv_tokenizer* h = nullptr;
  Tokenizer() = default;
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;
  ~Tokenizer() { rwkv_tokenizer_free(&h); }
  operator rwkv_tokenizer*() const { return h; }
};
struct Sampler {
  rwkv_sampler* h = nullptr;
  Sampler() = default;
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;
  ~Sampler() { rwkv_sampler_free(&h); }
  operator rwkv_sampler*() const { return h; }
};

inline std::string model_path(const std::string& file) { return testdata_path("models/" + file); }

inline void load(Model& m, const std::string& file, int32_t n_slots = 1, const char* device = "cpu",
                 int32_t chunk_len = 256) {
  rwkv_model_params p = rwkv_model_default_params();
  p.n_slots = n_slots;
  p.device = device;
  p.n_threads = 2;
  p.chunk_len = chunk_len;
  char err[512];
  const rwkv_status s = rwkv_model_load(model_path(file).c_str(), &p, &m.h, err, sizeof err);
  INFO(err);
  REQUIRE(s == RWKV_OK);
  REQUIRE(m.h != nullptr);
}

inline void load(Tokenizer& t, const char* kind) {
  char err[512];
  const rwkv_status s = rwkv_tokenizer_load(kind, &t.h, err, sizeof err);
  INFO(err);
  REQUIRE(s == RWKV_OK);
}

inline rwkv_model_info info(const rwkv_model* m) {
  rwkv_model_info i;
  REQUIRE(rwkv_model_get_info(m, &i) == RWKV_OK);
  return i;
}

inline std::vector<float> read_state(const rwkv_model* m, int32_t slot) {
  std::vector<float> s(info(m).state_size / sizeof(float));
  REQUIRE(rwkv_state_read(m, slot, s.data(), s.size() * sizeof(float)) == RWKV_OK);
  return s;
}

inline std::vector<float> eval(rwkv_model* m, int32_t slot, const std::vector<int32_t>& tokens) {
  std::vector<float> logits(size_t(info(m).n_vocab));
  const rwkv_status s = rwkv_eval(m, slot, tokens.data(), tokens.size(), logits.data(), logits.size());
  INFO(rwkv_model_last_error(m));
  REQUIRE(s == RWKV_OK);
  return logits;
}

inline std::vector<unsigned char> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<unsigned char>(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

inline void write_bytes(const std::string& path, const std::vector<unsigned char>& b) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

// A fresh directory for files a test writes, removed by the destructor.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/rwkv_capi_test_XXXXXX";
    const char* p = mkdtemp(tmpl);
    REQUIRE(p != nullptr);
    path = p;
  }
  ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
  std::string file(const std::string& name) const { return path + "/" + name; }
};

}  // namespace capi_test
