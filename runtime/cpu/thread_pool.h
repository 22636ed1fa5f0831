// runtime/cpu/thread_pool.h: a small fork-join pool owned by one CpuBackend.
//
// Rules: n_threads counts the calling thread (n_threads = 1 means no worker
// threads at all). run() is called by one thread at a time and must not be
// called from inside a job. Exceptions thrown by a job are rethrown by run()
// (the first one) after every chunk has finished. When a worker thread cannot
// be started the constructor joins the ones that did and throws rwkv::Error
// "cannot start N threads: ...".
//
// Hand-off: a decode step makes ~10 calls per layer back to back, each a few
// tens of microseconds, so an idle worker first spins for a short while
// (kSpinRounds pauses, ~50 us) watching for the next job before it sleeps on
// the condition variable; the caller likewise spins before it sleeps waiting
// for the workers. A sleep/wake pair costs a futex call and a reschedule each.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace rwkv {
namespace cpu {

class ThreadPool {
 public:
  // Called before worker i (1-based) starts; a test hook that throws stands for a
  // failed thread creation. Empty in normal use.
  using StartHook = std::function<void(int worker)>;
  explicit ThreadPool(int n_threads, const StartHook& before_start = StartHook());
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls job(i) for every i in [0, n_chunks), spread over the threads.
  void run(size_t n_chunks, const std::function<void(size_t)>& job);

  // Splits [0, n) into at most size() contiguous ranges of at least `grain`
  // items and calls fn(begin, end) on each; serial when n < 2 * grain.
  void parallel_for(size_t n, size_t grain, const std::function<void(size_t, size_t)>& fn);

 private:
  void worker_loop();
  void stop_and_join();
  void do_chunks();

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_start_, cv_done_;
  const std::function<void(size_t)>* job_ = nullptr;
  size_t n_chunks_ = 0;
  std::atomic<size_t> next_{0};
  std::atomic<size_t> busy_{0};  // workers still inside the current job
  std::atomic<unsigned long long> generation_{0};  // written under mu_, read by spinning workers
  bool stop_ = false;
  std::exception_ptr error_;
};

}  // namespace cpu
}  // namespace rwkv
