// tests/runtime/test_huge_page_arena.cpp: the weight arena of the CPU backend
// (runtime/core/huge_page_arena.h) and the container that can live in it
// (runtime/core/held_vector.h): pieces in order, aligned, inside one 2 MiB
// aligned region; requests beyond it served from the heap; a vector moved in
// keeps its values and a copy of it leaves the arena; move_matrices_to_arena
// puts every matrix of a model (dense, half, quantized) in the arena unchanged.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>

#include "model_testdata.h"
#include "runtime/cpu/cpu_weights.h"
#include "runtime/model/model.h"

namespace {

bool inside(const rwkv::HugePageArena& arena, const void* p, const void* first) {
  const char* c = static_cast<const char*>(p);
  const char* base = static_cast<const char*>(first);
  return c >= base && c < base + arena.capacity();
}

}  // namespace

TEST_CASE("huge-page arena: aligned pieces in order, the heap beyond its capacity", "[cpu][arena]") {
  rwkv::HugePageArena arena(3 << 20);
  REQUIRE(arena.capacity() > 0);  // Linux: a mapping of a few MiB (elsewhere the heap serves all)
  CHECK(arena.capacity() == (4u << 20));  // rounded up to 2 MiB pages
  void* first = arena.allocate(100, 4);
  CHECK(reinterpret_cast<uintptr_t>(first) % rwkv::HugePageArena::kPage == 0);
  void* second = arena.allocate(10, 2);
  CHECK(static_cast<char*>(second) - static_cast<char*>(first) == 128);  // 100 bytes, next cache line
  CHECK(arena.used() == 138);
  void* big = arena.allocate(4 << 20, 64);  // does not fit what is left
  CHECK_FALSE(inside(arena, big, first));
  CHECK(arena.used() == 138);
  arena.deallocate(big, 4 << 20, 64);  // back to the heap (ASan checks it)
  arena.deallocate(second, 10, 2);     // nothing until the arena goes
  void* third = arena.allocate((4 << 20) - 192, 64);  // exactly the rest
  CHECK(inside(arena, third, first));
  CHECK(arena.used() == arena.capacity());
}

TEST_CASE("held vectors: moved into an arena they keep it (alive), a copy goes to the heap", "[cpu][arena]") {
  auto arena = std::make_shared<rwkv::HugePageArena>(1 << 20);
  REQUIRE(arena->capacity() > 0);
  rwkv::HeldVector<float> v = {1.5f, -2.0f, 3.25f};
  CHECK(v.get_allocator().resource() == nullptr);  // the heap
  rwkv::HeldVector<float> in_arena(v.begin(), v.end(), rwkv::HeldAllocator<float>(arena));
  const float* where = in_arena.data();
  v = std::move(in_arena);  // the storage and its resource move together
  CHECK(v.data() == where);
  CHECK(v.get_allocator().resource() == arena.get());
  CHECK(v == rwkv::HeldVector<float>{1.5f, -2.0f, 3.25f});
  const rwkv::HeldVector<float> copy = v;
  CHECK(copy.get_allocator().resource() == nullptr);
  CHECK(copy == v);
  // The vector keeps the arena alive after its last other owner goes.
  const std::weak_ptr<rwkv::HugePageArena> watch = arena;
  arena.reset();
  CHECK_FALSE(watch.expired());
  CHECK(v[2] == 3.25f);
  v = rwkv::HeldVector<float>();
  CHECK(watch.expired());
}

TEST_CASE("move_matrices_to_arena: every matrix in the arena, values unchanged", "[cpu][arena]") {
  auto model = rwkv::load_model(testdata_path("models/tiny-rwkv-7v0-834K.pth"));
  rwkv::WeightFormat format;
  format.quantize = rwkv::QuantKind::int8;  // quantized layers, the head dense (int8 keeps it so)
  format.dense = rwkv::DType::f16;
  rwkv::cpu::CpuWeights w = rwkv::cpu::load_cpu_weights(*model, format);
  const rwkv::cpu::CpuWeights before = w;  // a copy, on the heap
  REQUIRE(w.head.half());
  REQUIRE(w.layers[0].att_r.quantized());

  const auto arena = rwkv::cpu::move_matrices_to_arena(w);
  REQUIRE(arena->capacity() > 0);
  // Every piece but the last is padded to the alignment.
  CHECK(arena->used() <= rwkv::cpu::matrix_arena_bytes(w));
  CHECK(rwkv::cpu::matrix_arena_bytes(w) - arena->used() < rwkv::HugePageArena::kAlign);
  CHECK(arena->used() <= arena->capacity());
  // The first matrix of the first layer (att_r, quantized) is the arena's first piece.
  const char* base = static_cast<const char*>(static_cast<const void*>(w.layers[0].att_r.q.q.data()));
  auto same_and_inside = [&](const auto& now, const auto& then) {
    CHECK(now.size() == then.size());
    if (now.empty()) return;
    const char* p = reinterpret_cast<const char*>(now.data());
    CHECK((p >= base && p < base + arena->capacity()));
    CHECK(std::memcmp(now.data(), then.data(), now.size() * sizeof(now[0])) == 0);
  };
  auto each = [&](const rwkv::Linear& now, const rwkv::Linear& then) {
    same_and_inside(now.w, then.w);
    same_and_inside(now.h, then.h);
    same_and_inside(now.q.q, then.q.q);
    same_and_inside(now.q.scale, then.q.scale);
    same_and_inside(now.q.min, then.q.min);
  };
  for (size_t l = 0; l < w.layers.size(); ++l) {
    std::vector<const rwkv::Linear*> now, then;
    rwkv::for_each_linear(w.layers[l], [&](const rwkv::Linear& m) { now.push_back(&m); });
    rwkv::for_each_linear(before.layers[l], [&](const rwkv::Linear& m) { then.push_back(&m); });
    REQUIRE(now.size() == then.size());
    for (size_t i = 0; i < now.size(); ++i) each(*now[i], *then[i]);
  }
  each(w.head, before.head);
}
