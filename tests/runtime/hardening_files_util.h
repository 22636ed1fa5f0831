// tests/runtime/hardening_files_util.h: hostile model, state and tokenizer
// files for the hardening tests (test_hardening_*.cpp): FIFOs, hand-written
// safetensors files built from a test checkpoint, and a guard that turns a
// hang into a failure.
#pragma once

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "runtime/core/dtype.h"
#include "runtime/core/json.h"
#include "runtime/model/model.h"
#include "testdata.h"

namespace hardening_test {

// While alive, a SIGALRM after `seconds` ends the test process: an operation
// that blocks (a FIFO opened for reading) fails the test instead of hanging it.
struct HangGuard {
  explicit HangGuard(unsigned seconds) {
    signal(SIGALRM, SIG_DFL);
    alarm(seconds);
  }
  ~HangGuard() { alarm(0); }
};

inline std::string make_fifo(const std::string& dir) {
  const std::string path = dir + "/model.fifo";
  REQUIRE(mkfifo(path.c_str(), 0600) == 0);
  return path;
}

inline std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

inline void spit(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << data;
}

// Sets a file's modification time far in the past, so that any later write
// changes it even within the file system's timestamp granularity.
inline void age_file(const std::string& path) {
  const timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
  REQUIRE(utimensat(AT_FDCWD, path.c_str(), old, 0) == 0);
}

// One safetensors entry: name, dtype string, shape and [begin, end) in the data.
struct StEntry {
  std::string name, dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;
};

// A safetensors file holding every tensor of `m` (one after the other), as
// entries to edit before writing.
struct StFile {
  std::vector<StEntry> entries;
  std::string data;

  explicit StFile(const rwkv::Model& m) {
    for (const auto& kv : m.tensors()) {
      const rwkv::Tensor& t = kv.second;
      const char* dt = t.dtype == rwkv::DType::f32 ? "F32" : t.dtype == rwkv::DType::f16 ? "F16" : "BF16";
      StEntry e{t.name, dt, t.shape, data.size(), data.size() + t.nbytes};
      data.append(static_cast<const char*>(t.data), t.nbytes);
      entries.push_back(e);
    }
  }
  StEntry& entry(const std::string& name) {
    for (StEntry& e : entries)
      if (e.name == name) return e;
    FAIL("no entry " << name);
    return entries.front();
  }
  void write(const std::string& path) const {
    rwkv::Json header = rwkv::Json::object();
    for (const StEntry& e : entries)
      header[e.name] = {{"dtype", e.dtype}, {"shape", e.shape}, {"data_offsets", {e.begin, e.end}}};
    std::string text = header.dump();
    while ((text.size() + 8) % 8) text += ' ';
    std::string out;
    for (int k = 0; k < 8; ++k) out += char((uint64_t(text.size()) >> (8 * k)) & 0xff);
    spit(path, out + text + data);
  }
};

}  // namespace hardening_test
