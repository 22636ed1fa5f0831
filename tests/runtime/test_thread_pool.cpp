// Thread creation failures in the CPU backend's pool (runtime/cpu/thread_pool.h):
// a worker that cannot start must give an rwkv::Error "cannot start N threads"
// after joining the workers that did start, never a hang or an abort; the same
// through rwkv-run under an address-space limit (each thread's stack is mapped).
#include <catch2/catch.hpp>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <system_error>
#include <vector>

#include "rwkv_run.h"
#include "runtime/capi_test_util.h"
#include "runtime/cli_child_util.h"
#include "runtime/core/error.h"
#include "runtime/cpu/thread_pool.h"

namespace {

// Runs `body` in a forked child with RLIMIT_AS = `limit` and a 20 s alarm; returns its exit
// status (the alarm's SIGALRM shows as -1).
template <class F>
int in_limited_child(size_t limit, F&& body) {
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    alarm(20);
    rlimit lim{limit, limit};
    setrlimit(RLIMIT_AS, &lim);
    _exit(body());
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The process's current address space in bytes (/proc/self/statm, first field in pages).
size_t address_space_now() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  REQUIRE(f != nullptr);
  unsigned long pages = 0;
  REQUIRE(std::fscanf(f, "%lu", &pages) == 1);
  std::fclose(f);
  return size_t(pages) * size_t(sysconf(_SC_PAGESIZE));
}

}  // namespace

TEST_CASE("ThreadPool: a worker that fails to start gives an error, the started ones are joined",
          "[thread_pool]") {
  std::atomic<int> started{0};
  auto fail_fifth = [&](int worker) {
    if (worker == 5) throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again));
    ++started;
  };
  try {
    rwkv::cpu::ThreadPool pool(8, fail_fifth);
    FAIL("the pool started although worker 5 failed");
  } catch (const rwkv::Error& e) {
    const std::string what = e.what();
    CHECK(what.find("cannot start 8 threads: ") == 0);
    CHECK(what.find("Resource temporarily unavailable") != std::string::npos);
  }
  CHECK(started == 4);
  // A pool without failures still works afterwards.
  rwkv::cpu::ThreadPool ok(4);
  std::atomic<int> sum{0};
  ok.run(100, [&](size_t i) { sum += int(i); });
  CHECK(sum == 4950);
}

TEST_CASE("ThreadPool: 1024 threads under a small address-space limit fail with an error",
          "[thread_pool]") {
  if (!cli_child::address_space_limits_testable()) {
    WARN("AddressSanitizer build: address-space limits not testable, skipped");
    return;
  }
  // Each thread maps its stack (8 MiB by default): 1024 of them cannot fit in 1 GiB more.
  const size_t limit = address_space_now() + (size_t(1) << 30);
  const int code = in_limited_child(limit, [] {
    try {
      rwkv::cpu::ThreadPool pool(1024);
      return 3;  // started them all: the limit did not bite
    } catch (const rwkv::Error& e) {
      return std::string(e.what()).find("cannot start 1024 threads") == 0 ? 0 : 4;
    } catch (...) {
      return 5;
    }
  });
  CHECK(code == 0);
}

TEST_CASE("rwkv-run generate --threads 1024 under an address-space limit exits 1 naming the threads",
          "[thread_pool][cli]") {
  if (!cli_child::address_space_limits_testable()) {
    WARN("AddressSanitizer build: address-space limits not testable, skipped");
    return;
  }
  cli_child::ChildOptions o;
  o.address_space_limit = size_t(3000000) * 1024;  // ulimit -v 3000000, as in the report
  cli_child::Child child({"generate", "-m", cli_test::tiny_model("tiny-rwkv-5v2-730K"), "-p", "hi", "-n", "5",
                          "--threads", "1024", "--seed", "1"},
                         o);
  const cli_child::Exit e = child.finish(20);
  INFO(e.err);
  CHECK(e.code == 1);
  CHECK(e.err.find("cannot start 1024 threads") != std::string::npos);
  CHECK(e.err.find('\n') == e.err.size() - 1);  // one line
}

TEST_CASE("C API: rwkv_model_load with 1024 threads under an address-space limit returns an error",
          "[thread_pool][capi]") {
  if (!cli_child::address_space_limits_testable()) {
    WARN("AddressSanitizer build: address-space limits not testable, skipped");
    return;
  }
  const std::string path = capi_test::model_path("tiny-rwkv-5v2-730K.pth");
  const size_t limit = address_space_now() + (size_t(1) << 30);
  const int code = in_limited_child(limit, [&path] {
    rwkv_model_params p = rwkv_model_default_params();
    p.n_threads = 1024;
    rwkv_model* m = nullptr;
    char err[512] = {0};
    const rwkv_status s = rwkv_model_load(path.c_str(), &p, &m, err, sizeof err);
    if (s == RWKV_OK) {
      rwkv_model_free(&m);
      return 3;
    }
    return std::string(err).find("cannot start 1024 threads") != std::string::npos && m == nullptr ? 0 : 4;
  });
  CHECK(code == 0);
}

// The hand-off (spin, then sleep): every chunk of every job runs exactly once,
// jobs back to back and after pauses long enough for the workers to sleep, and
// a job's exception reaches the caller with the pool still usable.
TEST_CASE("ThreadPool: jobs back to back and after idle pauses run every chunk once", "[cpu][pool]") {
  for (int threads = 1; threads <= 4; ++threads) {
    INFO("threads " << threads);
    rwkv::cpu::ThreadPool pool(threads);
    std::vector<std::atomic<int>> hits(64);
    long long want = 0;
    for (int job = 0; job < 3000; ++job) {
      const size_t n = 1 + size_t(job) % 64;
      pool.run(n, [&](size_t i) { hits[i].fetch_add(1); });
      for (size_t i = 0; i < n; ++i) want += 1;
      if (job % 1000 == 999) usleep(20000);  // longer than the spin: the workers sleep
    }
    long long got = 0;
    for (auto& h : hits) got += h.load();
    CHECK(got == want);
    CHECK_THROWS_WITH(pool.run(8, [](size_t i) {
      if (i == 5) throw rwkv::Error("chunk 5 failed");
    }), Catch::Contains("chunk 5 failed"));
    std::atomic<int> after{0};
    pool.run(8, [&](size_t) { after.fetch_add(1); });
    CHECK(after.load() == 8);
  }
}
