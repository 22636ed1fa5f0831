// runtime/state/state_file.cpp: see state_file.h.
#include "runtime/state/state_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "runtime/core/file_mode.h"
#include "runtime/core/regular_file.h"
#include "runtime/state/fnv1a.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "state files store float32 little-endian");

namespace rwkv {
namespace {

constexpr char kMagic[8] = {'R', 'W', 'K', 'V', 'S', 'T', 'A', 'T'};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderBytes = 96;
constexpr size_t kChecksumBytes = 8;

uint32_t dtype_code(DType t) { return t == DType::f32 ? 0 : t == DType::f16 ? 1 : 2; }

void put_u32(unsigned char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}
void put_u64(unsigned char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}
uint32_t get_u32(const unsigned char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t(p[i]) << (8 * i);
  return v;
}
uint64_t get_u64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t(p[i]) << (8 * i);
  return v;
}

std::string describe(Arch arch, uint32_t n_layer, uint32_t n_embd, uint32_t n_head,
                     uint32_t head_size, uint32_t n_vocab) {
  return std::string("RWKV-") + arch_name(arch) + " n_layer " + std::to_string(n_layer) +
         " n_embd " + std::to_string(n_embd) + " n_head " + std::to_string(n_head) +
         " head_size " + std::to_string(head_size) + " n_vocab " + std::to_string(n_vocab);
}

[[noreturn]] void fail(StateFileError::Kind k, const std::string& path, const std::string& what) {
  throw StateFileError(k, path + ": " + what);
}

bool write_all(int fd, const unsigned char* p, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= size_t(w);
  }
  return true;
}

// Reads exactly n bytes (false at end of file or on error).
bool read_exact(int fd, unsigned char* p, size_t n) {
  while (n > 0) {
    const ssize_t r = ::read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= size_t(r);
  }
  return true;
}

// Checks the header's magic, version, header size and payload size fields against the
// file's size (`head` bytes of the header were read); returns the payload's byte count.
uint64_t check_header(const std::string& path, const unsigned char* h, size_t head, uint64_t file_bytes) {
  if (head < 12 || std::memcmp(h, kMagic, 8) != 0)
    fail(StateFileError::format, path, "not an rwkv-run state file (no RWKVSTAT magic)");
  const uint32_t version = get_u32(h + 8);
  if (version != kVersion)
    fail(StateFileError::format, path, "state file format version " + std::to_string(version) +
                                           " is not supported (this library reads version " +
                                           std::to_string(kVersion) + ")");
  if (head < kHeaderBytes)
    fail(StateFileError::corrupt, path, "truncated inside the header (" + std::to_string(file_bytes) + " bytes)");
  if (get_u32(h + 12) != kHeaderBytes)
    fail(StateFileError::corrupt, path, "header size field is " + std::to_string(get_u32(h + 12)) +
                                            ", expected " + std::to_string(kHeaderBytes));
  const uint64_t floats = get_u64(h + 64), payload = get_u64(h + 72);
  if (floats > (UINT64_MAX >> 4) || payload != floats * 4)
    fail(StateFileError::corrupt, path, "inconsistent payload size fields");
  const uint64_t total = kHeaderBytes + payload + kChecksumBytes;
  if (file_bytes != total)
    fail(StateFileError::corrupt, path, "file has " + std::to_string(file_bytes) +
                                            " bytes but its header describes " + std::to_string(total) +
                                            " (truncated or corrupted)");
  return payload;
}

// Reads the payload and the checksum after the header h, streamed (a state of another size,
// keep == false, is hashed, not stored, and comes back empty), and checks the checksum over
// the whole file.
std::vector<float> read_checked_payload(int fd, const std::string& path, const unsigned char* h,
                                        uint64_t payload, bool keep) {
  std::vector<float> state(keep ? size_t(payload / 4) : 0);
  Fnv1a64 sum;
  sum.add(h, kHeaderBytes);
  if (keep) {
    if (payload && !read_exact(fd, reinterpret_cast<unsigned char*>(state.data()), size_t(payload)))
      fail(StateFileError::corrupt, path, "truncated payload");
    sum.add(state.data(), size_t(payload));
  } else {
    std::vector<unsigned char> block(1 << 16);
    for (uint64_t left = payload; left > 0;) {
      const size_t n = size_t(std::min<uint64_t>(left, block.size()));
      if (!read_exact(fd, block.data(), n)) fail(StateFileError::corrupt, path, "truncated payload");
      sum.add(block.data(), n);
      left -= n;
    }
  }
  unsigned char tail[kChecksumBytes];
  if (!read_exact(fd, tail, kChecksumBytes)) fail(StateFileError::corrupt, path, "truncated checksum");
  if (get_u64(tail) != sum.value())
    fail(StateFileError::corrupt, path, "checksum mismatch (the file is corrupted)");
  return state;
}

// Checks the (checksummed) header's state dtype and that it was saved for model m;
// `same_size` tells whether its state has m's float count.
void check_saved_for(const std::string& path, const unsigned char* h, const StateFileModel& m, bool same_size) {
  if (get_u32(h + 56) != 0)
    fail(StateFileError::format, path, "state dtype code " + std::to_string(get_u32(h + 56)) +
                                           " is not supported (only float32, code 0)");

  const uint32_t arch_code = get_u32(h + 32);
  const bool arch_ok = arch_code <= uint32_t(Arch::v7);
  const std::string saved =
      arch_ok ? describe(Arch(arch_code), get_u32(h + 36), get_u32(h + 40), get_u32(h + 44),
                         get_u32(h + 48), get_u32(h + 52))
              : "unknown architecture code " + std::to_string(arch_code);
  const std::string ours = describe(m.arch, uint32_t(m.n_layer), uint32_t(m.n_embd),
                                    uint32_t(m.n_head), uint32_t(m.head_size), uint32_t(m.n_vocab));
  if (get_u64(h + 16) != m.fingerprint.hparams || !same_size)
    fail(StateFileError::mismatch, path, "state was saved for another model (" + saved +
                                             "; this model is " + ours + ")");
  if (get_u64(h + 24) != m.fingerprint.weights)
    fail(StateFileError::mismatch, path, "state was saved for a model with the same shape (" + ours +
                                             ") but other weights");
}

}  // namespace

StateFileModel state_file_model(const Model& model, DType compute_dtype, uint64_t state_floats) {
  StateFileModel m;
  m.fingerprint = model_fingerprint(model);
  m.arch = model.info.arch;
  m.n_layer = model.info.n_layer;
  m.n_embd = model.info.n_embd;
  m.n_head = model.info.n_head;
  m.head_size = model.info.head_size;
  m.n_vocab = model.info.n_vocab;
  m.compute_dtype = compute_dtype;
  m.state_floats = state_floats;
  return m;
}

void write_state_file(const std::string& path, const StateFileModel& m, const float* state) {
  const size_t payload = size_t(m.state_floats) * sizeof(float);
  std::vector<unsigned char> buf(kHeaderBytes + payload + kChecksumBytes, 0);
  unsigned char* h = buf.data();
  std::memcpy(h, kMagic, 8);
  put_u32(h + 8, kVersion);
  put_u32(h + 12, uint32_t(kHeaderBytes));
  put_u64(h + 16, m.fingerprint.hparams);
  put_u64(h + 24, m.fingerprint.weights);
  put_u32(h + 32, uint32_t(m.arch));
  put_u32(h + 36, uint32_t(m.n_layer));
  put_u32(h + 40, uint32_t(m.n_embd));
  put_u32(h + 44, uint32_t(m.n_head));
  put_u32(h + 48, uint32_t(m.head_size));
  put_u32(h + 52, uint32_t(m.n_vocab));
  put_u32(h + 56, 0);  // float32 state
  put_u32(h + 60, dtype_code(m.compute_dtype));
  put_u64(h + 64, m.state_floats);
  put_u64(h + 72, payload);
  if (payload) std::memcpy(h + kHeaderBytes, state, payload);
  Fnv1a64 sum;
  sum.add(buf.data(), kHeaderBytes + payload);
  put_u64(h + kHeaderBytes + payload, sum.value());

  std::string tmp = path + ".tmp.XXXXXX";
  const int fd = ::mkstemp(&tmp[0]);
  if (fd < 0) fail(StateFileError::io, path, std::string("cannot create a temporary file beside it (") + std::strerror(errno) + ")");
  ::fchmod(fd, new_file_mode());  // mkstemp's 0600 -> what open(2) would give
  const bool ok = write_all(fd, buf.data(), buf.size()) && ::fsync(fd) == 0;
  const int write_errno = errno;
  if (::close(fd) != 0 || !ok) {
    ::unlink(tmp.c_str());
    fail(StateFileError::io, path, std::string("write failed (") + std::strerror(ok ? errno : write_errno) + ")");
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    fail(StateFileError::io, path, std::string("cannot rename the temporary file over it (") + std::strerror(e) + ")");
  }
}

std::vector<float> read_state_file(const std::string& path, const StateFileModel& m) {
  // A FIFO, device or directory is refused without blocking (runtime/core/regular_file.h).
  std::unique_ptr<RegularFile> file;
  try {
    file = std::make_unique<RegularFile>(path);
  } catch (const FileError& e) {
    throw StateFileError(StateFileError::io, e.what());
  }
  const int fd = file->fd();
  const uint64_t file_bytes = file->size();

  unsigned char h[kHeaderBytes];
  const size_t head = size_t(std::min<uint64_t>(file_bytes, kHeaderBytes));
  if (!read_exact(fd, h, head)) fail(StateFileError::io, path, "read failed");
  const uint64_t payload = check_header(path, h, head, file_bytes);

  // Checksum over the whole file first, so corruption is reported as such before
  // any model mismatch.
  const bool keep = payload / 4 == m.state_floats;
  std::vector<float> state = read_checked_payload(fd, path, h, payload, keep);
  check_saved_for(path, h, m, keep);
  return state;
}

std::vector<float> parse_state_file(const uint8_t* data, size_t size, const StateFileModel& m,
                                    const std::string& what) {
  const size_t head = std::min<size_t>(size, kHeaderBytes);
  const uint64_t payload = check_header(what, data, head, size);  // size == 96 + payload + 8 from here on
  Fnv1a64 sum;
  sum.add(data, size_t(kHeaderBytes + payload));
  if (get_u64(data + kHeaderBytes + payload) != sum.value())
    fail(StateFileError::corrupt, what, "checksum mismatch (the file is corrupted)");
  const bool keep = payload / 4 == m.state_floats;
  std::vector<float> state(keep ? size_t(payload / 4) : 0);
  if (keep && payload) std::memcpy(state.data(), data + kHeaderBytes, size_t(payload));
  check_saved_for(what, data, m, keep);
  return state;
}

}  // namespace rwkv
