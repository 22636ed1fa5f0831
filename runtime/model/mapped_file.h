// runtime/model/mapped_file.h: a model file's bytes in memory, and a
// bounds-checked little-endian cursor over them.
//
// The file is read into memory the object owns (it used to be mmap'ed): a
// mapped file that is truncated or rewritten while in use kills the process
// with SIGBUS on the next touch of a lost page, and a runtime cannot guard
// that without a process-wide signal handler. Reading costs an anonymous copy
// of the file (the mapping's pages counted in the RSS as well, so the peak is
// about the same) and the time of one read of it (docs/architecture.md
// "Model files are read, not mapped").
//
// Every reader goes through span()/ByteCursor so that a truncated or corrupt
// file gives an rwkv::Error naming the file and the offset, never a read out
// of bounds.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "runtime/model/model.h"

namespace rwkv {

struct MappedFile {
  // Reads `path` (a regular file: runtime/core/regular_file.h) into owned
  // memory, calling `progress` (may be null) after every chunk of kReadChunk
  // bytes. Throws FileError if it cannot be opened or read, or if it changed
  // while being read; Error if the memory cannot be had.
  static std::shared_ptr<MappedFile> open(const std::string& path, ProgressFn progress = nullptr,
                                          void* progress_user = nullptr);
  static constexpr uint64_t kReadChunk = 4ull << 20;
  // Wraps caller-owned memory (fuzz targets, tests); `bytes` must outlive the object.
  static std::shared_ptr<MappedFile> from_memory(const void* bytes, uint64_t size,
                                                 const std::string& name);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }

  // Pointer to [offset, offset+len); throws naming `what` if out of bounds.
  const uint8_t* span(uint64_t offset, uint64_t len, const char* what) const;

 private:
  MappedFile() = default;
  std::string path_;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
  bool owned_ = false;  // data_ was allocated by open() and is freed with the object
};

// Sequential little-endian reader over [begin, end) of some bytes.
class ByteCursor {
 public:
  ByteCursor(const uint8_t* data, uint64_t size, std::string what, uint64_t base = 0)
      : data_(data), size_(size), what_(std::move(what)), base_(base) {}

  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }
  bool at_end() const { return pos_ == size_; }
  void seek(uint64_t p) {
    if (p > size_) fail("seek past end");
    pos_ = p;
  }

  const uint8_t* bytes(uint64_t n) {
    if (n > size_ - pos_) fail("unexpected end of data");
    const uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
  }
  uint8_t u8() { return *bytes(1); }
  uint16_t u16() { return uint16_t(le(bytes(2), 2)); }
  uint32_t u32() { return uint32_t(le(bytes(4), 4)); }
  uint64_t u64() { return le(bytes(8), 8); }
  int32_t i32() { return int32_t(u32()); }
  int64_t i64() { return int64_t(u64()); }

  // Throws rwkv::Error "<what>: <msg> at offset N".
  [[noreturn]] void fail(const std::string& msg) const;
  const std::string& what() const { return what_; }

 private:
  static uint64_t le(const uint8_t* p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
  }
  const uint8_t* data_;
  uint64_t size_;
  std::string what_;
  uint64_t base_;  // offset of data_ in the file, for messages
  uint64_t pos_ = 0;
};

// Overflow-checked size arithmetic for headers that come from files.
// Each returns false on overflow (the result is then unspecified).
inline bool mul_ok(uint64_t a, uint64_t b, uint64_t* out) {
  return !__builtin_mul_overflow(a, b, out);
}
inline bool add_ok(uint64_t a, uint64_t b, uint64_t* out) {
  return !__builtin_add_overflow(a, b, out);
}

}  // namespace rwkv
