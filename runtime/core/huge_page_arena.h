// runtime/core/huge_page_arena.h: one region of memory for a model's weight
// matrices, backed by 2 MiB pages where the system allows it.
//
// Why: decode streams every weight byte once per token. With 4 KiB pages a
// 260 MB model crosses 64k pages a step, each a TLB miss (a two-level walk
// under a hypervisor), and the CPU's stream prefetchers stop at every 4 KiB
// boundary; with 2 MiB pages one core streamed fp16 rows 1.7x faster on this
// project's test machine (docs/cpu-backend.md, "Huge pages"). Linux gives
// anonymous memory 2 MiB pages when transparent huge pages are "always", or
// "madvise" and the region is advised MADV_HUGEPAGE, which this arena does.
//
// The arena maps `capacity` bytes (rounded up to 2 MiB, the start aligned to
// 2 MiB) once and hands out pieces in order (a bump allocator, each piece
// aligned to 64 bytes); freeing a piece frees nothing until the arena goes.
// A request beyond the capacity is served from the heap instead. When the
// mapping fails (or on a system without mmap) every request goes to the heap:
// the arena is an optimisation, never a reason for a load to fail.
#pragma once

#include <cstddef>
#include <memory_resource>

namespace rwkv {

class HugePageArena final : public std::pmr::memory_resource {
 public:
  explicit HugePageArena(size_t capacity);
  ~HugePageArena() override;
  HugePageArena(const HugePageArena&) = delete;
  HugePageArena& operator=(const HugePageArena&) = delete;

  // Bytes mapped (0 when the mapping failed), and handed out from them so far.
  size_t capacity() const { return capacity_; }
  size_t used() const { return used_; }
  // Whether the kernel accepted the MADV_HUGEPAGE advice for the region.
  bool advised() const { return advised_; }

  static constexpr size_t kPage = size_t(2) << 20;  // 2 MiB
  static constexpr size_t kAlign = 64;              // every piece starts on a cache line

 private:
  void* do_allocate(size_t bytes, size_t alignment) override;
  void do_deallocate(void* p, size_t bytes, size_t alignment) override;
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override { return this == &other; }
  bool owns(const void* p) const;

  void* mapping_ = nullptr;  // what munmap releases
  size_t mapping_bytes_ = 0;
  char* base_ = nullptr;  // 2 MiB aligned, inside the mapping
  size_t capacity_ = 0;
  size_t used_ = 0;
  bool advised_ = false;
};

}  // namespace rwkv
