// tests/runtime/test_tokenizer_vectors.h: reading the tokenizer test vectors
// of testdata/tokenizer/vectors and small helpers shared by the tokenizer tests.
#pragma once

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "runtime/core/json.h"
#include "runtime/tokenizer/read_file.h"
#include "testdata.h"

struct TokenizerVector {
  std::string file;    // vector file name
  std::string input;   // bytes to encode ("text" as UTF-8, or "bytes_hex")
  std::vector<int32_t> ids;
  bool decode_roundtrip = true;
};

inline std::string tokenizer_vectors_dir() { return testdata_path("tokenizer/vectors"); }

// Every vector of the files vectors/<prefix>*.json.
inline std::vector<TokenizerVector> load_tokenizer_vectors(const std::string& prefix) {
  std::vector<std::string> files;
  if (DIR* d = opendir(tokenizer_vectors_dir().c_str())) {
    while (dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      if (name.compare(0, prefix.size(), prefix) == 0 && name.size() > 5 &&
          name.compare(name.size() - 5, 5, ".json") == 0)
        files.push_back(name);
    }
    closedir(d);
  }
  std::sort(files.begin(), files.end());
  std::vector<TokenizerVector> out;
  for (const auto& f : files) {
    const std::string path = tokenizer_vectors_dir() + "/" + f;
    const auto doc = rwkv::parse_json(rwkv::read_tokenizer_file(path), path);
    for (const auto& item : doc) {
      TokenizerVector v;
      v.file = f;
      if (const auto* t = rwkv::json_find(item, "text")) {
        v.input = t->get<std::string>();
      } else if (const auto* h = rwkv::json_find(item, "bytes_hex")) {
        const std::string hex = h->get<std::string>();
        for (size_t i = 0; i + 1 < hex.size(); i += 2) v.input += char(std::stoi(hex.substr(i, 2), nullptr, 16));
      }
      v.ids = rwkv::json_member(item, "ids", path).get<std::vector<int32_t>>();
      if (const auto* r = rwkv::json_find(item, "decode_roundtrip")) v.decode_roundtrip = r->get<bool>();
      out.push_back(std::move(v));
    }
  }
  return out;
}

// A scratch file removed when the object goes away.
struct TempFile {
  std::string path;
  explicit TempFile(const std::string& content, const std::string& suffix = ".txt") {
    char tmpl[] = "/tmp/rwkv_tok_test_XXXXXX";
    const int fd = mkstemp(tmpl);
    ::close(fd);
    path = std::string(tmpl) + suffix;
    std::rename(tmpl, path.c_str());
    FILE* f = std::fopen(path.c_str(), "wb");
    std::fwrite(content.data(), 1, content.size(), f);
    std::fclose(f);
  }
  ~TempFile() { std::remove(path.c_str()); }
};

// Deterministic pseudo-random numbers for the tests (splitmix64).
struct TestRandom {
  uint64_t x;
  explicit TestRandom(uint64_t seed) : x(seed) {}
  uint64_t next() {
    uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  size_t below(size_t n) { return size_t(next() % n); }
  double uniform() { return double(next() >> 11) * 0x1.0p-53; }
};
