// tests/runtime/tests_model_helpers.h: small helpers shared by test_model_*.cpp.
#pragma once

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "runtime/model/mapped_file.h"
#include "runtime/model/model.h"
#include "runtime/model_testdata.h"

inline std::map<std::string, std::vector<int64_t>> shapes_of(const rwkv::Model& m) {
  std::map<std::string, std::vector<int64_t>> out;
  for (const auto& kv : m.tensors()) out[kv.first] = kv.second.shape;
  return out;
}

// The manifests' "lora" object: v7 {w,a,v,g}, v6 {time_maa,time_decay}.
inline void check_lora(const rwkv::ModelInfo& in, const std::map<std::string, int>& lora) {
  std::map<std::string, int> got;
  if (in.arch == rwkv::Arch::v7) got = {{"w", in.lora_w}, {"a", in.lora_a}, {"v", in.lora_v}, {"g", in.lora_g}};
  if (in.arch == rwkv::Arch::v6) got = {{"time_maa", in.lora_maa}, {"time_decay", in.lora_decay}};
  CHECK(got == lora);
}

// A fresh directory under $TMPDIR (or /tmp), removed with its contents.
struct TempDir {
  std::string path;
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/rwkv-test-XXXXXX";
    if (!mkdtemp(&tmpl[0])) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};
