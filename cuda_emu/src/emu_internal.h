// cuda_emu/src/emu_internal.h: what the emulator's engines share.
#pragma once
#include <cuda_runtime.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cuda_emu/device.h"

namespace cuda_emu {

constexpr size_t kDefaultSmemLimit = 48 * 1024;  // without cudaFuncSetAttribute
constexpr size_t kMaxSmemOptin = 232448;         // sm_90: 227 KiB

void set_error(cudaError_t e);
void set_max_dynamic_smem(const void* func, size_t bytes);
size_t max_dynamic_smem(const void* func);

// Prints the message and aborts: used for kernel bugs a GPU would turn into
// a hang or undefined behaviour (deadlock, bad shuffle mask).
[[noreturn]] void fatal(const std::string& message);

// Where an emulated thread is, for deadlock reports. Written by the thread
// itself (thread engine) or by the single scheduler thread (fiber engine).
enum class Where : int { running = 0, block_barrier, warp_op, exited };
struct ThreadWait {
  std::atomic<int> where{0};
  const char* file = nullptr;
  int line = 0;
  unsigned mask = 0;
};

// State of one warp's collective operations (shuffles, votes, __syncwarp).
struct WarpState {
  unsigned exists = 0;   // lanes present in this warp
  unsigned arrived = 0;  // lanes waiting at a collective
  uint64_t stage[32] = {};
  uint64_t out[32] = {};
  uint64_t gathered[32] = {};  // the staged values of the last gather (warp_gather)
  int src[32] = {};
  WarpOp op[32] = {};
  unsigned mask[32] = {};
  uint32_t episode[32] = {};  // completed collectives per lane (thread engine)
  std::mutex mu;              // thread engine only
  std::condition_variable cv;
};

class Engine;

struct BlockState {
  const LaunchConfig* cfg = nullptr;
  Engine* engine = nullptr;
  unsigned nthreads = 0;
  std::vector<ThreadCtx> threads;
  std::unique_ptr<WarpState[]> warps;
  unsigned nwarps = 0;
  std::unique_ptr<ThreadWait[]> wait;
  // Block barrier (fiber engine: plain counters; thread engine: under mu).
  unsigned live = 0;
  unsigned at_barrier = 0;
  uint64_t barrier_gen = 0;
  std::mutex mu;
  std::condition_variable cv;
};

// Records lane `c` at a warp collective; returns true when the collective is
// complete (every lane of the mask has arrived), after computing each lane's
// result into w.out and clearing the arrival bits. Aborts on misuse.
bool warp_arrive(BlockState& b, WarpState& w, const ThreadCtx& c, WarpOp op, unsigned mask,
                 uint64_t value, int src, const char* file, int line);

// A readable account of where every thread of the block waits.
std::string describe_block(BlockState& b);

class Engine {
 public:
  virtual ~Engine() = default;
  virtual void run_block(BlockState& b, void (*thunk)(void*), void* arg) = 0;
  virtual void block_barrier(BlockState& b, ThreadCtx& c, const char* file, int line) = 0;
  virtual uint64_t warp_op(BlockState& b, ThreadCtx& c, WarpOp op, unsigned mask, uint64_t value,
                           int src, const char* file, int line) = 0;
};

// True on the process's main thread (its thread id equals the process id).
bool on_main_thread();

// The calling thread's engine of type E, made on first use. A thread's engine
// is freed when the thread ends (a server's scheduler thread launches kernels
// and exits); the main thread's is kept for the life of the process, since
// static destructors that run after its thread-local objects may still launch
// kernels.
template <class E>
E& per_thread_engine() {
  struct Owner {
    E* engine = nullptr;
    ~Owner() {
      if (engine != nullptr && !on_main_thread()) {
        delete engine;
        engine = nullptr;
      }
    }
  };
  static thread_local Owner owner;
  if (owner.engine == nullptr) owner.engine = new E();
  return *owner.engine;
}

// ---- counters (counters.cpp; the public view is cuda_emu/counters.h) ----------
enum class Count : int {
  kernel_launches, graph_launches, cublas_calls, host_syncs,
  bytes_h2d, bytes_d2h, bytes_d2d, pageable_copies, n_counts
};
void count(Count which, uint64_t n = 1);

// ---- pinned host memory (runtime.cpp) -----------------------------------------
// True when [p, p + bytes) lies inside one cudaMallocHost/cudaHostAlloc allocation.
bool is_pinned(const void* p, size_t bytes);

// ---- streams, capture and graphs (graph.cpp) -----------------------------------
// An operation issued on a stream: op(false) only checks its arguments (when it
// is recorded by a capture); op(true) checks them again and runs it.
using StreamOp = std::function<cudaError_t(bool run)>;

// Issues `op` on `stream`: recorded into the stream's capture when it captures,
// refused (error set, reported, captures invalidated as a GPU does) when the
// stream may not be used now, else run at once. `pageable_host` marks a copy
// whose host side is pageable memory, which a capture refuses.
cudaError_t issue(cudaStream_t stream, const char* api, const StreamOp& op, bool pageable_host = false);

// What a host-blocking or device-wide call does to captures in progress.
enum class Blocking {
  legacy_sync,  // synchronous cudaMemcpy/cudaMemset: syncs with the legacy default stream
  stream_sync,  // cudaStreamSynchronize(stream)
  device_sync,  // cudaDeviceSynchronize: an unsafe call (see graph.cpp)
  allocation,   // cudaMalloc/cudaFree: unsafe calls
};
// cudaSuccess when the call may proceed; otherwise the error (set and reported)
// after invalidating the captures it would break.
cudaError_t check_blocking_call(const char* api, Blocking kind, cudaStream_t stream = nullptr);

Engine& fiber_engine();   // per OS thread
Engine& thread_engine();  // per OS thread
bool fiber_engine_available();

}  // namespace cuda_emu
