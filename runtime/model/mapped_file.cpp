// runtime/model/mapped_file.cpp: read-only mmap of model files.
#include "runtime/model/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace rwkv {

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(path + ": cannot open: " + std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    throw Error(path + ": cannot stat: " + std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(path + ": not a regular file");
  }
  std::shared_ptr<MappedFile> f(new MappedFile());
  f->path_ = path;
  f->size_ = uint64_t(st.st_size);
  if (f->size_ > 0) {
    void* p = mmap(nullptr, size_t(f->size_), PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      throw Error(path + ": mmap failed: " + std::strerror(e));
    }
    f->data_ = static_cast<const uint8_t*>(p);
    f->mapped_ = true;
  }
  ::close(fd);  // the mapping stays valid
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
  if (mapped_) munmap(const_cast<uint8_t*>(data_), size_t(size_));
}

const uint8_t* MappedFile::span(uint64_t offset, uint64_t len, const char* what) const {
  if (offset > size_ || len > size_ - offset)
    throw Error(path_ + ": " + what + " (bytes " + std::to_string(offset) + ".." +
                std::to_string(offset + len) + ") lies beyond the end of the file (" +
                std::to_string(size_) + " bytes); the file is truncated or corrupt");
  return data_ + offset;
}

void MappedFile::prefault(ProgressFn progress, void* user) const {
  const uint64_t chunk = 64ull << 20;
  const uint64_t page = uint64_t(sysconf(_SC_PAGESIZE));
  // Ask the kernel to read a chunk ahead of the one being touched, so disk
  // reads overlap the page faults (harmless if it declines).
  auto will_need = [&](uint64_t off) {
    if (!mapped_ || off >= size_) return;
    uint64_t n = size_ - off < chunk ? size_ - off : chunk;
    madvise(const_cast<uint8_t*>(data_) + off, size_t(n), MADV_WILLNEED);
  };
  if (mapped_) madvise(const_cast<uint8_t*>(data_), size_t(size_), MADV_SEQUENTIAL);
  will_need(0);
  uint8_t acc = 0;
  for (uint64_t off = 0; off < size_; off += chunk) {
    uint64_t n = size_ - off < chunk ? size_ - off : chunk;
    will_need(off + chunk);
    for (uint64_t i = 0; i < n; i += page) acc ^= *(static_cast<const volatile uint8_t*>(data_) + off + i);
    if (progress) progress(user, off + n, size_);
  }
  if (mapped_) madvise(const_cast<uint8_t*>(data_), size_t(size_), MADV_NORMAL);
  static_cast<void>(acc);
}

void ByteCursor::fail(const std::string& msg) const {
  throw Error(what_ + ": " + msg + " at offset " + std::to_string(base_ + pos_));
}

}  // namespace rwkv
