// runtime/core/error.h: the runtime's one exception type.
#pragma once

#include <stdexcept>

namespace rwkv {

// Any error of the runtime's C++ layer; the C API turns it into a status code
// and a message. Messages name the file and what is wrong.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Memory for something a file asked for could not be had ("<file>: out of
// memory while ..."): raised instead of letting std::bad_alloc abort a load.
// The C API maps it to RWKV_ERR_OUT_OF_MEMORY.
struct OutOfMemoryError : Error {
  using Error::Error;
};

}  // namespace rwkv
