// runtime/core/regular_file.h: the one way the runtime opens a file it reads
// (model files, state files, tokenizer files).
//
// A FIFO, socket, character/block device or directory is refused with one
// error line and never blocks: the file is opened with O_NONBLOCK (so opening a
// FIFO without a writer returns at once), checked with fstat on the opened
// descriptor (no race with a rename between a stat and the open), and only a
// regular file gets its O_NONBLOCK cleared and is handed back.
#pragma once

#include <cstdint>
#include <string>

#include "runtime/core/error.h"

namespace rwkv {

// The file could not be opened or read (missing, no permission, not a regular
// file, read error, changed while read). The C API maps it to RWKV_ERR_FILE;
// any other Error about a file's content to RWKV_ERR_FORMAT.
struct FileError : Error {
  using Error::Error;
};

// An open regular file, closed at scope end.
class RegularFile {
 public:
  // Throws FileError "<path>: cannot open (<reason>)" or "<path>: not a regular
  // file (a FIFO|socket|device|directory)".
  explicit RegularFile(const std::string& path);
  ~RegularFile();
  RegularFile(const RegularFile&) = delete;
  RegularFile& operator=(const RegularFile&) = delete;

  int fd() const { return fd_; }
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

  // Reads exactly `n` bytes at `offset`; throws FileError naming the path when
  // the file ends first (it shrank since it was opened) or a read fails.
  void read_at(uint64_t offset, void* out, uint64_t n) const;
  // Throws FileError when the file's size or modification time differ from
  // what they were at open: it was truncated or rewritten while being read.
  void check_unchanged() const;

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
  int64_t mtime_sec_ = 0, mtime_nsec_ = 0;
};

// The whole file as bytes; throws FileError as above, or when it is larger than
// `max_bytes` ("<path>: larger than <max_bytes> bytes; is it really <kind>?").
std::string read_regular_file(const std::string& path, uint64_t max_bytes, const std::string& kind);

}  // namespace rwkv
