// runtime/core/regular_file.cpp: see regular_file.h.
#include "runtime/core/regular_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace rwkv {

namespace {

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a plain file";
}

}  // namespace

RegularFile::RegularFile(const std::string& path) : path_(path) {
  // O_NONBLOCK: opening a FIFO with no writer would otherwise wait for one forever.
  fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd_ < 0) {
    const int e = errno;
    if (e == EISDIR) throw FileError(path + ": not a regular file (a directory)");
    throw FileError(path + ": cannot open (" + std::strerror(e) + ")");
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    const int e = errno;
    ::close(fd_);
    throw FileError(path + ": cannot stat (" + std::strerror(e) + ")");
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd_);
    throw FileError(path + ": not a regular file (" + kind_of(st.st_mode) + ")");
  }
  const int flags = ::fcntl(fd_, F_GETFL);
  if (flags < 0 || ::fcntl(fd_, F_SETFL, flags & ~O_NONBLOCK) != 0) {
    const int e = errno;
    ::close(fd_);
    throw FileError(path + ": cannot set blocking reads (" + std::strerror(e) + ")");
  }
  size_ = uint64_t(st.st_size);
  mtime_sec_ = int64_t(st.st_mtim.tv_sec);
  mtime_nsec_ = int64_t(st.st_mtim.tv_nsec);
}

RegularFile::~RegularFile() { ::close(fd_); }

void RegularFile::read_at(uint64_t offset, void* out, uint64_t n) const {
  auto* p = static_cast<uint8_t*>(out);
  uint64_t done = 0;
  while (done < n) {
    const uint64_t want = n - done < (1u << 30) ? n - done : (1u << 30);
    const ssize_t got = ::pread(fd_, p + done, size_t(want), off_t(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw FileError(path_ + ": read error (" + std::strerror(errno) + ")");
    if (got == 0)
      throw FileError(path_ + ": the file ended at byte " + std::to_string(offset + done) + " of " +
                      std::to_string(size_) + " while being read (truncated or rewritten meanwhile?)");
    done += uint64_t(got);
  }
}

void RegularFile::check_unchanged() const {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) throw FileError(path_ + ": cannot stat (" + std::strerror(errno) + ")");
  if (uint64_t(st.st_size) != size_ || int64_t(st.st_mtim.tv_sec) != mtime_sec_ ||
      int64_t(st.st_mtim.tv_nsec) != mtime_nsec_)
    throw FileError(path_ + ": the file changed while it was being read (" + std::to_string(size_) + " bytes at open, " +
                    std::to_string(uint64_t(st.st_size)) + " now); read it again once it is complete");
}

std::string read_regular_file(const std::string& path, uint64_t max_bytes, const std::string& kind) {
  RegularFile f(path);
  if (f.size() > max_bytes)
    throw FileError(path + ": larger than " + std::to_string(max_bytes) + " bytes; is it really " + kind + "?");
  std::string data(size_t(f.size()), '\0');
  f.read_at(0, &data[0], f.size());
  f.check_unchanged();
  return data;
}

}  // namespace rwkv
