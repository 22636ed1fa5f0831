// cuda_emu/src/engine_threads.cpp: one OS thread per CUDA thread of a block.
//
// Slow, but it is what ThreadSanitizer understands: the block barrier is a
// per-block mutex + condition variable (happens-before from every arrival to
// every departure, nothing else), each warp's collectives use the warp's own
// mutex, so a missing __syncthreads leaves two shared-memory accesses with no
// happens-before edge and TSan reports the race. A thread that waits longer
// than CUDA_EMU_DEADLOCK_SECONDS (default 60) reports a deadlock.
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "emu_internal.h"

namespace cuda_emu {
namespace {

std::chrono::seconds deadlock_timeout() {
  const char* s = std::getenv("CUDA_EMU_DEADLOCK_SECONDS");
  return std::chrono::seconds(s ? std::atoi(s) : 60);
}

class ThreadEngine final : public Engine {
 public:
  void run_block(BlockState& b, void (*thunk)(void*), void* arg) override {
    std::vector<std::thread> threads;
    threads.reserve(b.nthreads);
    for (unsigned i = 0; i < b.nthreads; ++i) {
      threads.emplace_back([&b, thunk, arg, i] {
        tls_ctx = &b.threads[i];
        thunk(arg);
        std::lock_guard<std::mutex> lock(b.mu);
        b.wait[i].where.store((int)Where::exited, std::memory_order_relaxed);
        b.live--;
        if (b.at_barrier > 0 && b.at_barrier == b.live) release(b);
      });
    }
    for (auto& t : threads) t.join();
  }

  void block_barrier(BlockState& b, ThreadCtx& c, const char* file, int line) override {
    ThreadWait& w = b.wait[c.linear];
    w.file = file;
    w.line = line;
    std::unique_lock<std::mutex> lock(b.mu);
    w.where.store((int)Where::block_barrier, std::memory_order_relaxed);
    if (++b.at_barrier == b.live) {
      release(b);
    } else {
      const uint64_t gen = b.barrier_gen;
      while (b.barrier_gen == gen) {
        if (b.cv.wait_for(lock, deadlock_timeout()) == std::cv_status::timeout && b.barrier_gen == gen)
          fatal("deadlock suspected (timeout) in " + describe_block(b));
      }
    }
    w.where.store((int)Where::running, std::memory_order_relaxed);
  }

  uint64_t warp_op(BlockState& b, ThreadCtx& c, WarpOp op, unsigned mask, uint64_t value, int src,
                   const char* file, int line) override {
    WarpState& w = b.warps[c.warp];
    ThreadWait& tw = b.wait[c.linear];
    tw.file = file;
    tw.line = line;
    tw.mask = mask;
    std::unique_lock<std::mutex> lock(w.mu);
    tw.where.store((int)Where::warp_op, std::memory_order_relaxed);
    const uint32_t episode = w.episode[c.lane];
    if (warp_arrive(b, w, c, op, mask, value, src, file, line)) {
      for (unsigned l = 0; l < 32; ++l)
        if ((mask >> l) & 1u) w.episode[l]++;
      w.cv.notify_all();
    } else {
      while (w.episode[c.lane] == episode) {
        if (w.cv.wait_for(lock, deadlock_timeout()) == std::cv_status::timeout &&
            w.episode[c.lane] == episode)
          fatal("deadlock suspected (timeout) in " + describe_block(b));
      }
    }
    tw.where.store((int)Where::running, std::memory_order_relaxed);
    return w.out[c.lane];
  }

 private:
  static void release(BlockState& b) {  // caller holds b.mu
    b.at_barrier = 0;
    b.barrier_gen++;
    b.cv.notify_all();
  }
};

}  // namespace

Engine& thread_engine() { return per_thread_engine<ThreadEngine>(); }

bool on_main_thread() { return getpid() == static_cast<pid_t>(syscall(SYS_gettid)); }

}  // namespace cuda_emu
