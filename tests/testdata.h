// tests/testdata.h: where the read-only reference data lives.
// RWKV_TESTDATA overrides the default ../shared/testdata beside the repository.
#pragma once
#include <cstdlib>
#include <string>

inline std::string testdata_dir() {
  const char* env = std::getenv("RWKV_TESTDATA");
  return env && *env ? std::string(env) : std::string(RWKV_TESTDATA_DEFAULT);
}
inline std::string testdata_path(const std::string& rel) { return testdata_dir() + "/" + rel; }
