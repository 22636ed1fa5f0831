// runtime/core/huge_page_arena.cpp: see huge_page_arena.h.
#include "runtime/core/huge_page_arena.h"

#include <algorithm>
#include <cstdint>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace rwkv {

namespace {

constexpr size_t kAlign = 64;

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

#if defined(__linux__)
// `bytes` (a multiple of 2 MiB) at a 2 MiB-aligned address: a larger anonymous
// mapping with the slack on either side given back.
void* map_aligned(size_t bytes) {
  const size_t page = HugePageArena::kHugePage;
  if (bytes > size_t(-1) - page) throw std::bad_alloc();
  void* raw = mmap(nullptr, bytes + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const uintptr_t start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = round_up(start, page);
  if (aligned > start) munmap(raw, aligned - start);
  const size_t tail = (start + bytes + page) - (aligned + bytes);
  if (tail > 0) munmap(reinterpret_cast<void*>(aligned + bytes), tail);
  void* base = reinterpret_cast<void*>(aligned);
  (void)madvise(base, bytes, MADV_HUGEPAGE);  // a request: EINVAL where THP is not built in
  return base;
}
void unmap(void* base, size_t bytes) { munmap(base, bytes); }
#else
void* map_aligned(size_t bytes) {
  void* p = ::operator new(bytes, std::align_val_t(HugePageArena::kHugePage));
  return p;
}
void unmap(void* base, size_t) { ::operator delete(base, std::align_val_t(HugePageArena::kHugePage)); }
#endif

}  // namespace

HugePageArena::HugePageArena(size_t chunk_bytes)
    : chunk_bytes_(round_up(std::max<size_t>(chunk_bytes, 1), kHugePage)) {}

HugePageArena::~HugePageArena() {
  for (const Mapping& m : mappings_) unmap(m.base, m.bytes);
}

void HugePageArena::map_chunk(size_t at_least) {
  const size_t bytes = std::max(chunk_bytes_, round_up(at_least, kHugePage));
  mappings_.reserve(mappings_.size() + 1);  // no throw after the mapping exists
  void* base = map_aligned(bytes);
  mappings_.push_back({base, bytes});
  next_ = static_cast<char*>(base);
  end_ = next_ + bytes;
}

void* HugePageArena::allocate(size_t bytes) {
  if (bytes > size_t(-1) - kHugePage) throw std::bad_alloc();
  const size_t n = round_up(std::max<size_t>(bytes, 1), kAlign);
  std::lock_guard<std::mutex> lock(mu_);
  if (next_ == nullptr || static_cast<size_t>(end_ - next_) < n) map_chunk(n);
  void* p = next_;
  next_ += n;
  used_ += n;
  return p;
}

size_t HugePageArena::used_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return used_;
}

size_t HugePageArena::mapped_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t total = 0;
  for (const Mapping& m : mappings_) total += m.bytes;
  return total;
}

}  // namespace rwkv
