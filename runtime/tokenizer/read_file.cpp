// runtime/tokenizer/read_file.cpp: see read_file.h.
#include "runtime/tokenizer/read_file.h"

#include "runtime/core/regular_file.h"

namespace rwkv {

std::string read_tokenizer_file(const std::string& path) {
  return read_regular_file(path, uint64_t(1) << 30, "a tokenizer file");
}

}  // namespace rwkv
