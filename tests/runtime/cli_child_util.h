// tests/runtime/cli_child_util.h: an rwkv-run child process for the hostile-case
// CLI tests (test_cli_signals.cpp, test_cli_write_errors.cpp, test_cli_files.cpp,
// test_thread_pool.cpp): stdout to a file or a pipe the test may close, stderr to
// a file the test can watch for a marker, and optionally an address-space limit
// (setrlimit in the forked child before exec). Every wait has a deadline.
#pragma once

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "runtime/cli_process_util.h"

namespace cli_child {

// False under AddressSanitizer (scripts/test.sh asan stage): its shadow memory needs far more
// address space than any RLIMIT_AS these tests set, so a limited child could not even start.
inline bool address_space_limits_testable() {
#if defined(__SANITIZE_ADDRESS__)
  return false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  return false;
#else
  return true;
#endif
#else
  return true;
#endif
}

struct ChildOptions {
  std::string stdin_file;            // empty: /dev/null
  std::string stdout_file;           // empty: a pipe read by the test
  size_t address_space_limit = 0;    // RLIMIT_AS in bytes; 0: none
};

struct Exit {
  int code = -1;    // exit status, -1 when killed by a signal
  int signal = 0;   // the signal that killed it, 0 when it exited
  std::string out, err;
};

class Child {
 public:
  Child(const std::vector<std::string>& args, const ChildOptions& o = ChildOptions()) {
    int out_pipe[2] = {-1, -1};
    if (o.stdout_file.empty()) REQUIRE(pipe(out_pipe) == 0);
    std::vector<std::string> argv_s = {RWKV_RUN_BINARY};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv = cli_test::make_argv(argv_s);
    const std::string err_path = dir_.file("stderr");
    const std::string in_path = o.stdin_file.empty() ? "/dev/null" : o.stdin_file;
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {  // the child: only async-signal-safe calls until exec
      if (o.address_space_limit) {
        rlimit lim{o.address_space_limit, o.address_space_limit};
        setrlimit(RLIMIT_AS, &lim);
      }
      const int in = open(in_path.c_str(), O_RDONLY);
      const int out = o.stdout_file.empty() ? out_pipe[1] : open(o.stdout_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (in < 0 || out < 0 || err < 0) _exit(120);
      dup2(in, 0);
      dup2(out, 1);
      dup2(err, 2);
      if (out_pipe[0] >= 0) close(out_pipe[0]);
      execv(argv[0], argv.data());
      _exit(121);
    }
    if (out_pipe[1] >= 0) close(out_pipe[1]);
    from_child_ = out_pipe[0];
  }
  ~Child() {
    if (from_child_ >= 0) close(from_child_);
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  void signal(int sig) { REQUIRE(kill(pid_, sig) == 0); }
  std::string err() const { return cli_test::read_file(dir_.file("stderr")); }

  // Waits until stderr contains `needle` (false at the deadline or when the child has exited).
  bool wait_stderr(const std::string& needle, double timeout_s = 30) {
    const auto deadline = cli_test::deadline_after(timeout_s);
    while (err().find(needle) == std::string::npos) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      if (waitpid(pid_, &status_, WNOHANG) == pid_) {
        pid_ = -1;
        return err().find(needle) != std::string::npos;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  }
  // Reads the stdout pipe until it holds `bytes` bytes.
  bool read_until(size_t bytes, double timeout_s = 30) {
    const auto deadline = cli_test::deadline_after(timeout_s);
    while (out_.size() < bytes) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd p{from_child_, POLLIN, 0};
      if (left.count() <= 0 || poll(&p, 1, int(left.count())) <= 0) return false;
      char buf[4096];
      const ssize_t n = read(from_child_, buf, sizeof buf);
      if (n <= 0) return false;
      out_.append(buf, size_t(n));
    }
    return true;
  }
  // Closes the test's end of the stdout pipe: the child's next write fails (EPIPE).
  void close_stdout() {
    close(from_child_);
    from_child_ = -1;
  }

  // Reads stdout to EOF (when piped) and waits for the exit; kills the child and fails at the deadline.
  Exit finish(double timeout_s = 30) {
    const auto deadline = cli_test::deadline_after(timeout_s);
    Exit e;
    while (from_child_ >= 0) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd p{from_child_, POLLIN, 0};
      if (left.count() <= 0 || poll(&p, 1, int(left.count())) <= 0) break;
      char buf[4096];
      const ssize_t n = read(from_child_, buf, sizeof buf);
      if (n <= 0) break;
      out_.append(buf, size_t(n));
    }
    while (pid_ > 0) {
      if (waitpid(pid_, &status_, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status_, 0);
        pid_ = -1;
        FAIL("rwkv-run did not finish within " << timeout_s << " s");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    e.code = WIFEXITED(status_) ? WEXITSTATUS(status_) : -1;
    e.signal = WIFSIGNALED(status_) ? WTERMSIG(status_) : 0;
    e.out = out_;
    e.err = err();
    return e;
  }

 private:
  cli_test::TempDir dir_;
  pid_t pid_ = -1;
  int from_child_ = -1;
  int status_ = 0;
  std::string out_;
};

}  // namespace cli_child
