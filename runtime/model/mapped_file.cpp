// runtime/model/mapped_file.cpp: model files read into owned memory (see mapped_file.h).
#include "runtime/model/mapped_file.h"

#include <cstdlib>
#include <new>

#include "runtime/core/regular_file.h"

namespace rwkv {

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path, ProgressFn progress, void* progress_user) {
  RegularFile file(path);
  std::shared_ptr<MappedFile> f(new MappedFile());
  f->path_ = path;
  f->size_ = file.size();
  if (f->size_ == 0) return f;
  // 64-byte aligned, so that every tensor view aligned in the file is aligned in memory.
  const uint64_t rounded = (f->size_ + 63) & ~uint64_t(63);
  void* buf = rounded < f->size_ ? nullptr : std::aligned_alloc(64, size_t(rounded));
  if (!buf)
    throw OutOfMemoryError(path + ": out of memory while reading the model file (" + std::to_string(f->size_) + " bytes)");
  f->data_ = static_cast<const uint8_t*>(buf);
  f->owned_ = true;
  for (uint64_t off = 0; off < f->size_; off += kReadChunk) {
    const uint64_t n = f->size_ - off < kReadChunk ? f->size_ - off : kReadChunk;
    file.read_at(off, static_cast<uint8_t*>(buf) + off, n);
    if (progress) progress(progress_user, off + n, f->size_);
  }
  file.check_unchanged();
  return f;
}

std::shared_ptr<MappedFile> MappedFile::from_memory(const void* bytes, uint64_t size,
                                                    const std::string& name) {
  std::shared_ptr<MappedFile> f(new MappedFile());
  f->path_ = name;
  f->data_ = static_cast<const uint8_t*>(bytes);
  f->size_ = size;
  return f;
}

MappedFile::~MappedFile() {
  if (owned_) std::free(const_cast<uint8_t*>(data_));
}

const uint8_t* MappedFile::span(uint64_t offset, uint64_t len, const char* what) const {
  if (offset > size_ || len > size_ - offset)
    throw Error(path_ + ": " + what + " (bytes " + std::to_string(offset) + ".." +
                std::to_string(offset + len) + ") lies beyond the end of the file (" +
                std::to_string(size_) + " bytes); the file is truncated or corrupt");
  return data_ + offset;
}

void ByteCursor::fail(const std::string& msg) const {
  throw Error(what_ + ": " + msg + " at offset " + std::to_string(base_ + pos_));
}

}  // namespace rwkv
