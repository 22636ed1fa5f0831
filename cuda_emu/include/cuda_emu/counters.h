// cuda_emu/counters.h: what the emulated device did, counted process-wide.
//
// Tests read these around a call (take counters(), call, take counters() again
// and subtract) to assert how many kernels, cuBLAS calls, graph launches, host
// synchronisations and bytes copied each way a step costs. Every field counts
// work that was executed: a kernel recorded into a graph by stream capture is
// counted each time the graph is launched, not when it is recorded.
#pragma once
#include <cstdint>

namespace cuda_emu {

struct Counters {
  uint64_t kernel_launches = 0;  // kernels run (launched directly or replayed from a graph)
  uint64_t graph_launches = 0;   // cudaGraphLaunch calls that ran their graph
  uint64_t cublas_calls = 0;     // cuBLAS stand-in GEMM calls run (directly or replayed)
  uint64_t host_syncs = 0;       // cudaStream/Device/EventSynchronize, synchronous cudaMemcpy/cudaMemset
  uint64_t bytes_h2d = 0;        // bytes of executed copies, by direction
  uint64_t bytes_d2h = 0;
  uint64_t bytes_d2d = 0;
  uint64_t pageable_copies = 0;  // async copies whose host side is not cudaMallocHost/cudaHostAlloc memory

  Counters operator-(const Counters& o) const {
    return {kernel_launches - o.kernel_launches, graph_launches - o.graph_launches,
            cublas_calls - o.cublas_calls,       host_syncs - o.host_syncs,
            bytes_h2d - o.bytes_h2d,             bytes_d2h - o.bytes_d2h,
            bytes_d2d - o.bytes_d2d,             pageable_copies - o.pageable_copies};
  }
};

// A snapshot of the counters (thread-safe; each field read atomically).
Counters counters();
// Sets every counter to zero.
void reset_counters();

}  // namespace cuda_emu
