// runtime/cpu/thread_pool.cpp: fork-join pool (see thread_pool.h).
#include "runtime/cpu/thread_pool.h"

#include <algorithm>
#include <string>
#include <system_error>

#include "runtime/core/error.h"

namespace rwkv {
namespace cpu {

namespace {

// Pauses before sleeping: ~50 us on current x86 cores (a pause is 10-150 cycles).
constexpr int kSpinRounds = 4000;

inline void spin_pause() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

}  // namespace

ThreadPool::ThreadPool(int n_threads, const StartHook& before_start) {
  const int n = std::max(1, n_threads);
  try {
    workers_.reserve(static_cast<size_t>(n - 1));
    for (int i = 1; i < n; ++i) {
      if (before_start) before_start(i);
      workers_.emplace_back([this] { worker_loop(); });
    }
  } catch (const std::exception& e) {
    // A destructor does not run for a half-built object: stop and join the
    // workers that did start, then report (a joinable std::thread left behind
    // would end the process).
    stop_and_join();
    throw Error("cannot start " + std::to_string(n) + " threads: " + e.what() +
                " (fewer threads, --threads N, may fit the process's limits)");
  }
}

ThreadPool::~ThreadPool() { stop_and_join(); }

void ThreadPool::stop_and_join() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_start_.notify_all();
  for (std::thread& t : workers_) t.join();
  workers_.clear();
}

void ThreadPool::do_chunks() {
  for (;;) {
    const size_t i = next_.fetch_add(1);
    if (i >= n_chunks_) return;
    try {
      (*job_)(i);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!error_) error_ = std::current_exception();
    }
  }
}

void ThreadPool::worker_loop() {
  unsigned long long seen = 0;
  for (;;) {
    for (int i = 0; i < kSpinRounds && generation_.load(std::memory_order_acquire) == seen; ++i) spin_pause();
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_start_.wait(lock, [&] { return stop_ || generation_.load() != seen; });
      if (stop_) return;
      seen = generation_.load();
    }
    do_chunks();
    if (busy_.fetch_sub(1) == 1) {
      // Taking the mutex orders this with the caller's check-then-sleep.
      { std::lock_guard<std::mutex> lock(mu_); }
      cv_done_.notify_one();
    }
  }
}

void ThreadPool::run(size_t n_chunks, const std::function<void(size_t)>& job) {
  if (n_chunks == 0) return;
  if (workers_.empty() || n_chunks == 1) {
    for (size_t i = 0; i < n_chunks; ++i) job(i);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = &job;
    n_chunks_ = n_chunks;
    next_.store(0);
    busy_.store(workers_.size());
    error_ = nullptr;
    generation_.fetch_add(1, std::memory_order_release);
  }
  cv_start_.notify_all();
  do_chunks();
  for (int i = 0; i < kSpinRounds && busy_.load(std::memory_order_acquire) != 0; ++i) spin_pause();
  std::exception_ptr err;
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_done_.wait(lock, [&] { return busy_.load() == 0; });
    job_ = nullptr;
    err = error_;
    error_ = nullptr;
  }
  if (err) std::rethrow_exception(err);
}

void ThreadPool::parallel_for(size_t n, size_t grain,
                              const std::function<void(size_t, size_t)>& fn) {
  if (n == 0) return;
  grain = std::max<size_t>(grain, 1);
  const size_t max_parts = std::min<size_t>(static_cast<size_t>(size()), n / grain);
  if (max_parts <= 1) {
    fn(0, n);
    return;
  }
  const size_t per = (n + max_parts - 1) / max_parts;
  const size_t parts = (n + per - 1) / per;
  run(parts, [&](size_t p) { fn(p * per, std::min(n, (p + 1) * per)); });
}

}  // namespace cpu
}  // namespace rwkv
