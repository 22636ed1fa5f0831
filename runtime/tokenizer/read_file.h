// runtime/tokenizer/read_file.h: whole-file read for the tokenizer loaders.
#pragma once

#include <string>

namespace rwkv {

// The file's bytes. Throws rwkv::Error naming the file when it cannot be read
// (missing, a directory, larger than 1 GiB, read error).
std::string read_tokenizer_file(const std::string& path);

}  // namespace rwkv
