// Fuzzes the state file reader (runtime/state/state_file.h): the input is the
// file (in a memfd, read through /proc/self/fd). Its first byte picks what the
// harness fixes up so the deeper checks are reached: bit 0 writes the right
// checksum over the last 8 bytes, bit 1 reads it for the model its header
// names (else for a fixed other model). A file that reads back must be a valid
// state of exactly the model's size, holding the payload's bytes.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "runtime/state/fnv1a.h"
#include "runtime/state/state_file.h"

namespace {

uint64_t get_u64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

void put_u64(unsigned char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}

// The model the file is read for: the one its header names (fingerprint, float count), or a fixed one.
rwkv::StateFileModel model_for(const std::vector<unsigned char>& file, bool same) {
  rwkv::StateFileModel m;
  m.fingerprint.hparams = 0x1234;
  m.fingerprint.weights = 0x5678;
  m.state_floats = 16;
  if (same && file.size() >= 96) {
    m.fingerprint.hparams = get_u64(file.data() + 16);
    m.fingerprint.weights = get_u64(file.data() + 24);
    m.state_floats = get_u64(file.data() + 64);
  }
  return m;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const unsigned mode = data[0];
  std::vector<unsigned char> file(data + 1, data + size);
  if ((mode & 1) && file.size() >= 8) {
    rwkv::Fnv1a64 sum;
    sum.add(file.data(), file.size() - 8);
    put_u64(file.data() + file.size() - 8, sum.value());
  }
  const rwkv::StateFileModel m = model_for(file, mode & 2);

  const int fd = memfd_create("fuzz_state", MFD_CLOEXEC);
  if (fd < 0) std::abort();
  if (!file.empty() && write(fd, file.data(), file.size()) != ssize_t(file.size())) std::abort();
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  try {
    const std::vector<float> state = rwkv::read_state_file(path, m);
    // Read back: 96 header bytes, the payload, 8 checksum bytes, and the payload is the state.
    if (state.size() != m.state_floats || file.size() != 96 + 4 * state.size() + 8) std::abort();
    if (!state.empty() && std::memcmp(state.data(), file.data() + 96, 4 * state.size()) != 0) std::abort();
  } catch (const rwkv::StateFileError& e) {
    if (e.kind == rwkv::StateFileError::io) std::abort();  // the memfd is always readable
  }
  close(fd);
  return 0;
}
