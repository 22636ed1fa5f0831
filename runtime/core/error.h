// runtime/core/error.h: the runtime's one exception type.
#pragma once

#include <stdexcept>

namespace rwkv {

// Any error of the runtime's C++ layer; the C API turns it into a status code
// and a message. Messages name the file and what is wrong.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace rwkv
