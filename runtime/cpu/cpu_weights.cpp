// runtime/cpu/cpu_weights.cpp: see cpu_weights.h.
#include "runtime/cpu/cpu_weights.h"

namespace rwkv {
namespace cpu {

namespace {

size_t arena_piece(size_t bytes) {
  const size_t a = HugePageArena::kAlign;
  return (bytes + a - 1) / a * a;
}

// Calls fn on every vector that holds a matrix's values, layer by layer
// (the order a forward reads them), the head last.
template <class Weights, class Fn>
void for_each_matrix_vector(Weights& w, Fn&& fn) {
  auto each = [&](auto& m) {
    fn(m.w);
    fn(m.h);
    fn(m.q.q);
    fn(m.q.scale);
    fn(m.q.min);
  };
  for (auto& layer : w.layers) for_each_linear(layer, each);
  each(w.head);
}

// Re-creates v's values in `arena` (v then owns arena memory: the allocator
// moves with the storage, runtime/core/held_vector.h).
template <class T>
void move_into(HeldVector<T>& v, const std::shared_ptr<std::pmr::memory_resource>& arena) {
  if (v.empty()) return;
  HeldVector<T> moved(v.begin(), v.end(), HeldAllocator<T>(arena));
  v = std::move(moved);
}

}  // namespace

size_t matrix_arena_bytes(const CpuWeights& w) {
  size_t total = 0;
  for_each_matrix_vector(w, [&](const auto& v) {
    if (!v.empty()) total += arena_piece(v.size() * sizeof(v[0]));
  });
  return total;
}

std::shared_ptr<HugePageArena> move_matrices_to_arena(CpuWeights& w) {
  auto arena = std::make_shared<HugePageArena>(matrix_arena_bytes(w));
  const std::shared_ptr<std::pmr::memory_resource> resource = arena;
  for_each_matrix_vector(w, [&](auto& v) { move_into(v, resource); });
  return arena;
}

}  // namespace cpu
}  // namespace rwkv
