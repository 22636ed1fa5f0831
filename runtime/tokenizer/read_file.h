// runtime/tokenizer/read_file.h: whole-file read for the tokenizer loaders.
#pragma once

#include <string>

namespace rwkv {

// The file's bytes. Throws FileError (runtime/core/regular_file.h) naming the
// file when it cannot be read (missing, not a regular file: a directory, FIFO,
// socket or device is refused without blocking; larger than 1 GiB; read error).
std::string read_tokenizer_file(const std::string& path);

}  // namespace rwkv
