// tests/runtime/error_of.h: the message of the rwkv::Error a call throws, for
// tests that check what an error says (tokenizer and file-hardening tests).
#pragma once

#include <string>

#include "runtime/core/error.h"

namespace test_util {

// The message of the rwkv::Error that f throws ("" if none).
template <class F> std::string error_of(F &&f) {
  try {
    f();
  } catch (const rwkv::Error &e) {
    return e.what();
  }
  return "";
}

} // namespace test_util
