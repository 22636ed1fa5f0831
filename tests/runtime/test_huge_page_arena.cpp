// tests/runtime/test_huge_page_arena.cpp: HugePageArena and ArenaAllocator
// (runtime/core/huge_page_arena.h): blocks 64-byte aligned, disjoint, inside
// 2 MiB-aligned mappings (a block larger than a chunk gets its own); a
// container moved into an arena keeps its values and the arena, a copy of it
// lives on the heap; the CPU backend gives the same logits, bit for bit,
// with its matrices in an arena and on the heap.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "runtime/core/huge_page_arena.h"
#include "runtime/cpu/cpu_backend.h"
#include "cpu_golden_util.h"
#include "runtime/model/model.h"

using rwkv::HugePageArena;

TEST_CASE("huge page arena: aligned, disjoint blocks in 2 MiB-aligned mappings", "[arena]") {
  HugePageArena arena(size_t(4) << 20);
  std::vector<std::pair<uintptr_t, size_t>> blocks;
  size_t asked = 0;
  for (size_t bytes : {size_t(1), size_t(100), size_t(3) << 20, size_t(64), size_t(9) << 20, size_t(5000)}) {
    void* p = arena.allocate(bytes);
    REQUIRE(p != nullptr);
    CHECK(reinterpret_cast<uintptr_t>(p) % 64 == 0);
    std::memset(p, 0xab, bytes);  // writable, all of it
    blocks.push_back({reinterpret_cast<uintptr_t>(p), bytes});
    asked += bytes;
  }
  std::sort(blocks.begin(), blocks.end());
  for (size_t i = 1; i < blocks.size(); ++i) CHECK(blocks[i - 1].first + blocks[i - 1].second <= blocks[i].first);
  CHECK(arena.used_bytes() >= asked);
  // 4 MiB chunks: the 9 MiB block got its own mapping of 10 MiB.
  CHECK(arena.mapped_bytes() % HugePageArena::kHugePage == 0);
  CHECK(arena.mapped_bytes() >= (size_t(4) << 20) + (size_t(10) << 20));
}

TEST_CASE("huge page arena: ArenaAllocator moves keep the arena, copies go to the heap", "[arena]") {
  auto arena = std::make_shared<HugePageArena>();
  rwkv::HeldVector<float> v;
  for (int i = 0; i < 1000; ++i) v.push_back(static_cast<float>(i) * 0.5f);
  const std::vector<float> want(v.begin(), v.end());
  rwkv::move_into_arena(v, arena);
  CHECK(v.get_allocator().arena() == arena);
  CHECK(std::vector<float>(v.begin(), v.end()) == want);
  const size_t used = arena->used_bytes();
  CHECK(used >= 1000 * sizeof(float));

  const rwkv::HeldVector<float> copy = v;
  CHECK(copy.get_allocator().arena() == nullptr);
  CHECK(std::vector<float>(copy.begin(), copy.end()) == want);
  rwkv::HeldVector<float> moved = std::move(v);
  CHECK(moved.get_allocator().arena() == arena);
  CHECK(arena->used_bytes() == used);  // neither took a block
  rwkv::move_into_arena(moved, arena);  // already there: nothing
  CHECK(arena->used_bytes() == used);
}

TEST_CASE("huge page arena: the CPU backend's logits are the same with its matrices in an arena or on the heap",
          "[arena][cpu]") {
  for (const char* file : {"models/tiny-rwkv-4v0-660K.pth", "models/tiny-rwkv-7v0-834K.pth"}) {
    auto model = rwkv::load_model(testdata_path(file));
    std::vector<std::vector<float>> logits;
    for (bool huge : {true, false}) {
      rwkv::CpuOptions options(2);
      options.weights.dense = rwkv::DType::f16;
      options.huge_pages = huge;
      rwkv::CpuBackend backend(*model, options);
      std::vector<float> state(backend.state_layout().size());
      backend.init_state(state.data());
      const std::vector<int32_t> tokens = {10, 200, 33, 7, 99};
      rwkv::Batch batch;
      batch.logits = rwkv::LogitsMode::last;
      batch.seqs.push_back({tokens.data(), tokens.size(), state.data(), state.size()});
      std::vector<float> out(static_cast<size_t>(model->info.n_vocab));
      backend.forward(batch, out.data());
      logits.push_back(out);
    }
    INFO(file);
    CHECK(logits[0] == logits[1]);
  }
}
