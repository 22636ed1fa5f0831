// runtime/core/huge_page_arena.cpp: see huge_page_arena.h.
#include "runtime/core/huge_page_arena.h"

#include <cstdint>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace rwkv {

namespace {

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

}  // namespace

HugePageArena::HugePageArena(size_t capacity) {
#if defined(__linux__)
  if (capacity == 0) return;
  capacity = round_up(capacity, kPage);
  // One extra 2 MiB page of address space (not of memory: nothing touches it)
  // lets the region start on a 2 MiB boundary wherever the kernel maps it.
  mapping_bytes_ = capacity + kPage;
  void* m = mmap(nullptr, mapping_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) {
    mapping_bytes_ = 0;
    return;
  }
  mapping_ = m;
  base_ = reinterpret_cast<char*>(round_up(reinterpret_cast<uintptr_t>(m), kPage));
  capacity_ = capacity;
#ifdef MADV_HUGEPAGE
  // Advice before the first touch: the page faults then take 2 MiB pages.
  advised_ = madvise(base_, capacity_, MADV_HUGEPAGE) == 0;
#endif
#else
  (void)capacity;
#endif
}

HugePageArena::~HugePageArena() {
#if defined(__linux__)
  if (mapping_ != nullptr) munmap(mapping_, mapping_bytes_);
#endif
}

bool HugePageArena::owns(const void* p) const {
  const char* c = static_cast<const char*>(p);
  return base_ != nullptr && c >= base_ && c < base_ + capacity_;
}

void* HugePageArena::do_allocate(size_t bytes, size_t alignment) {
  const size_t align = alignment > kAlign ? alignment : kAlign;
  const size_t start = round_up(used_, align);
  if (base_ != nullptr && start <= capacity_ && bytes <= capacity_ - start) {
    used_ = start + bytes;
    return base_ + start;
  }
  return std::pmr::new_delete_resource()->allocate(bytes, alignment);
}

void HugePageArena::do_deallocate(void* p, size_t bytes, size_t alignment) {
  if (owns(p)) return;  // the arena's pieces go with the arena
  std::pmr::new_delete_resource()->deallocate(p, bytes, alignment);
}

}  // namespace rwkv
