// runtime/state/fnv1a.h: 64-bit FNV-1a, the hash of model fingerprints and
// state-file checksums. Changing any single byte always changes the result
// (each step is a bijection of the running value).
#pragma once

#include <cstddef>
#include <cstdint>

namespace rwkv {

class Fnv1a64 {
 public:
  void add(const void* data, size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    uint64_t h = h_;
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001B3ull;
    h_ = h;
  }
  void add_u64(uint64_t v) {
    unsigned char b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(v >> (8 * i));
    add(b, 8);
  }
  uint64_t value() const { return h_; }

 private:
  uint64_t h_ = 0xCBF29CE484222325ull;
};

}  // namespace rwkv
