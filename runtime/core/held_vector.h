// runtime/core/held_vector.h: HeldVector<T>, the container of a weight
// matrix's values (runtime/arch/weights.h Linear, runtime/quant/quant_format.h
// QuantMatrix): a std::vector whose storage comes from a memory resource the
// owner may choose, so that a backend can move every matrix of a model into
// one region of its own (the CPU backend's huge-page arena,
// runtime/core/huge_page_arena.h; docs/cpu-backend.md "Huge pages").
//
// Unlike std::pmr::polymorphic_allocator, the allocator shares ownership of
// its resource, and the resource travels with the storage on move assignment
// and swap: `v = HeldVector<T>(n, arena)` puts v's values in the arena, and
// the arena lives as long as any storage in it, whatever the order in which
// owners and vectors go. A copy is always made on the heap. The default
// allocator (no resource) is the heap, at no cost.
#pragma once

#include <cstddef>
#include <memory>
#include <memory_resource>
#include <new>
#include <type_traits>
#include <vector>

namespace rwkv {

template <class T>
class HeldAllocator {
 public:
  using value_type = T;
  using propagate_on_container_move_assignment = std::true_type;
  using propagate_on_container_swap = std::true_type;
  using propagate_on_container_copy_assignment = std::false_type;

  HeldAllocator() noexcept = default;
  explicit HeldAllocator(std::shared_ptr<std::pmr::memory_resource> resource) noexcept
      : resource_(std::move(resource)) {}
  template <class U>
  HeldAllocator(const HeldAllocator<U>& other) noexcept : resource_(other.shared_resource()) {}  // NOLINT

  T* allocate(size_t n) {
    if (!resource_) return std::allocator<T>().allocate(n);
    return static_cast<T*>(resource_->allocate(n * sizeof(T), alignof(T)));
  }
  void deallocate(T* p, size_t n) noexcept {
    if (!resource_) return std::allocator<T>().deallocate(p, n);
    resource_->deallocate(p, n * sizeof(T), alignof(T));
  }
  // A copy of a container starts on the heap, whatever the original's resource.
  HeldAllocator select_on_container_copy_construction() const noexcept { return HeldAllocator(); }

  // The resource, or nullptr for the heap.
  std::pmr::memory_resource* resource() const noexcept { return resource_.get(); }
  const std::shared_ptr<std::pmr::memory_resource>& shared_resource() const noexcept { return resource_; }

 private:
  std::shared_ptr<std::pmr::memory_resource> resource_;  // empty: the heap
};

template <class T, class U>
bool operator==(const HeldAllocator<T>& a, const HeldAllocator<U>& b) noexcept {
  return a.resource() == b.resource();
}
template <class T, class U>
bool operator!=(const HeldAllocator<T>& a, const HeldAllocator<U>& b) noexcept {
  return !(a == b);
}

template <class T>
using HeldVector = std::vector<T, HeldAllocator<T>>;

}  // namespace rwkv
