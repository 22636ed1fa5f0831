// runtime/core/huge_page_arena.h: memory for weight matrices on 2 MiB pages.
//
// A decode step streams every weight byte once. On 4 KiB pages each stream
// walks the page tables every 4 KiB; on 2 MiB pages (Linux transparent huge
// pages) once per 2 MiB. Measured on the v4 169M fp16 shapes (docs/cpu-backend.md,
// "Weights on huge pages"): the products 1.26x faster at 1 thread, 1.17x at 2.
//
// HugePageArena hands out 64-byte-aligned blocks from 2 MiB-aligned mappings
// that the kernel is asked (madvise MADV_HUGEPAGE) to back with huge pages;
// where it will not (THP off, another OS) they are plain pages and everything
// works the same. Small matrices share huge pages, which a mapping per matrix
// could not do without wasting most of a page on each. Blocks are not reused:
// the arena is for buffers made once at load and kept; its mappings are
// released when the arena and every buffer allocated from it are gone.
//
// ArenaAllocator<T> is the std::allocator of such buffers (HeldVector<T>): with
// no arena it is std::allocator; with one, allocations come from the arena and
// deallocations are no-ops. A copy of a container made from an arena gets the
// plain heap (copies are not weights held for the run); a move keeps the arena.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <new>
#include <type_traits>
#include <vector>

namespace rwkv {

class HugePageArena {
 public:
  static constexpr size_t kHugePage = size_t(2) << 20;
  // Mappings of at least `chunk_bytes` (rounded up to 2 MiB); a larger block gets its own.
  explicit HugePageArena(size_t chunk_bytes = size_t(64) << 20);
  ~HugePageArena();
  HugePageArena(const HugePageArena&) = delete;
  HugePageArena& operator=(const HugePageArena&) = delete;

  // A block of `bytes`, 64-byte aligned; std::bad_alloc when no memory is left.
  void* allocate(size_t bytes);
  // Bytes handed out, and bytes mapped (address space, touched or not).
  size_t used_bytes() const;
  size_t mapped_bytes() const;

 private:
  struct Mapping {
    void* base;
    size_t bytes;
  };
  void map_chunk(size_t at_least);

  size_t chunk_bytes_;
  mutable std::mutex mu_;
  std::vector<Mapping> mappings_;
  char* next_ = nullptr;
  char* end_ = nullptr;
  size_t used_ = 0;
};

template <class T>
class ArenaAllocator {
 public:
  using value_type = T;
  using propagate_on_container_move_assignment = std::true_type;
  using propagate_on_container_swap = std::true_type;
  using propagate_on_container_copy_assignment = std::false_type;
  using is_always_equal = std::false_type;

  ArenaAllocator() noexcept = default;
  explicit ArenaAllocator(std::shared_ptr<HugePageArena> arena) noexcept : arena_(std::move(arena)) {}
  template <class U>
  ArenaAllocator(const ArenaAllocator<U>& other) noexcept : arena_(other.arena()) {}

  T* allocate(size_t n) {
    if (!arena_) return std::allocator<T>().allocate(n);
    if (n > size_t(-1) / sizeof(T)) throw std::bad_alloc();
    return static_cast<T*>(arena_->allocate(n * sizeof(T)));
  }
  void deallocate(T* p, size_t n) noexcept {
    if (!arena_) std::allocator<T>().deallocate(p, n);
  }
  // A container copied from one in an arena lives on the plain heap.
  ArenaAllocator select_on_container_copy_construction() const noexcept { return ArenaAllocator(); }

  const std::shared_ptr<HugePageArena>& arena() const noexcept { return arena_; }

 private:
  std::shared_ptr<HugePageArena> arena_;
};

template <class T, class U>
bool operator==(const ArenaAllocator<T>& a, const ArenaAllocator<U>& b) noexcept {
  return a.arena() == b.arena();
}
template <class T, class U>
bool operator!=(const ArenaAllocator<T>& a, const ArenaAllocator<U>& b) noexcept {
  return !(a == b);
}

// The storage of a weight matrix: on the heap, or in a HugePageArena.
template <class T>
using HeldVector = std::vector<T, ArenaAllocator<T>>;

// `v`'s elements moved into `arena` (a copy there, then the old storage freed).
template <class T>
void move_into_arena(HeldVector<T>& v, const std::shared_ptr<HugePageArena>& arena) {
  if (v.empty() || v.get_allocator().arena() == arena) return;
  HeldVector<T> held(v.begin(), v.end(), ArenaAllocator<T>(arena));
  v = std::move(held);
}

}  // namespace rwkv
