// cuda_emu/src/counters.cpp: the process-wide counters of cuda_emu/counters.h.
#include "cuda_emu/counters.h"

#include <atomic>

#include "emu_internal.h"

namespace cuda_emu {
namespace {

constexpr int kCounts = (int)Count::n_counts;

std::atomic<uint64_t>* cells() {
  static std::atomic<uint64_t>* c = new std::atomic<uint64_t>[kCounts]();  // never destroyed
  return c;
}

}  // namespace

void count(Count which, uint64_t n) { cells()[(int)which].fetch_add(n, std::memory_order_relaxed); }

Counters counters() {
  std::atomic<uint64_t>* c = cells();
  auto get = [c](Count w) { return c[(int)w].load(std::memory_order_relaxed); };
  Counters out;
  out.kernel_launches = get(Count::kernel_launches);
  out.graph_launches = get(Count::graph_launches);
  out.cublas_calls = get(Count::cublas_calls);
  out.host_syncs = get(Count::host_syncs);
  out.bytes_h2d = get(Count::bytes_h2d);
  out.bytes_d2h = get(Count::bytes_d2h);
  out.bytes_d2d = get(Count::bytes_d2d);
  out.pageable_copies = get(Count::pageable_copies);
  return out;
}

void reset_counters() {
  std::atomic<uint64_t>* c = cells();
  for (int i = 0; i < kCounts; ++i) c[i].store(0, std::memory_order_relaxed);
}

}  // namespace cuda_emu
