// tests/runtime/cli_process_util.h: runs the rwkv-run binary (RWKV_RUN_BINARY)
// as a child process for the CLI tests (test_cli_generate*.cpp,
// test_cli_chat*.cpp): whole runs with stdin from a string and stdout/stderr
// collected, or an interactive child with pipes (for Ctrl-C tests). Every
// wait has a deadline: a hanging child is killed and fails the test.
#pragma once

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "testdata.h"

extern char** environ;

namespace cli_test {

struct Result {
  int exit_code = -1;  // -1: killed (signal or timeout)
  std::string out, err;
  std::string device_note;  // the line a real-GPU build prints about --device auto, taken out of err
};

// Moves the informational "rwkv-run[ CMD]: device auto: ..." line (printed by builds with a real
// GPU path, tools/rwkv-run/cli_args.h print_device_note) from r->err to r->device_note, so the
// tests of error lines and of quiet runs hold in every build, with or without a GPU.
inline void split_device_note(Result* r) {
  const size_t at = r->err.find(": device auto: ");
  if (at == std::string::npos) return;
  const size_t begin = r->err.rfind('\n', at) == std::string::npos ? 0 : r->err.rfind('\n', at) + 1;
  if (r->err.compare(begin, 8, "rwkv-run") != 0) return;
  const size_t end = r->err.find('\n', at);
  const size_t stop = end == std::string::npos ? r->err.size() : end + 1;
  r->device_note = r->err.substr(begin, stop - begin);
  r->err.erase(begin, stop - begin);
}

// A fresh directory under $TMPDIR (or /tmp), removed with its files at scope end.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string templ = std::string(base && *base ? base : "/tmp") + "/rwkv_cli_test_XXXXXX";
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    REQUIRE(mkdtemp(buf.data()) != nullptr);
    path_ = buf.data();
  }
  ~TempDir() {
    const std::string cmd = "rm -rf '" + path_ + "'";
    if (std::system(cmd.c_str()) != 0) {
    }
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

inline void write_file(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary);
  f << data;
}

inline std::vector<char*> make_argv(std::vector<std::string>& argv_s) {
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(&a[0]);
  argv.push_back(nullptr);
  return argv;
}

inline std::chrono::steady_clock::time_point deadline_after(double seconds) {
  return std::chrono::steady_clock::now() +
         std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(seconds));
}

// How much longer a child may take under a sanitizer (the asan stage's emulated
// CUDA runs several times slower): the time limits here guard against hangs.
inline double sanitizer_slowdown() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return 3.0;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
  return 3.0;
#else
  return 1.0;
#endif
#else
  return 1.0;
#endif
}

// Waits for pid until the deadline (timeout_s, times sanitizer_slowdown()), then
// kills it. Returns the exit code or -1.
inline int wait_child(pid_t pid, double timeout_s) {
  timeout_s *= sanitizer_slowdown();
  const auto deadline = deadline_after(timeout_s);
  int status = 0;
  for (;;) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      FAIL("rwkv-run did not finish within " << timeout_s << " s");
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Runs `rwkv-run args...` with `input` on stdin; collects stdout and stderr.
inline Result run(const std::vector<std::string>& args, const std::string& input = "",
                  double timeout_s = 120) {
  TempDir dir;
  const std::string in = dir.file("stdin"), out = dir.file("stdout"), err = dir.file("stderr");
  write_file(in, input);
  std::vector<std::string> argv_s = {RWKV_RUN_BINARY};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv = make_argv(argv_s);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, in.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  REQUIRE(rc == 0);
  Result r;
  r.exit_code = wait_child(pid, timeout_s);
  r.out = read_file(out);
  r.err = read_file(err);
  split_device_note(&r);
  return r;
}

// An rwkv-run child with pipes on stdin and stdout (stderr to a file), for
// sending lines and signals while it runs.
class Interactive {
 public:
  explicit Interactive(const std::vector<std::string>& args) {
    int in[2], out[2];
    REQUIRE(pipe(in) == 0);
    REQUIRE(pipe(out) == 0);
    std::vector<std::string> argv_s = {RWKV_RUN_BINARY};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv = make_argv(argv_s);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, dir_.file("stderr").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addclose(&fa, in[1]);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    const int rc = posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    to_child_ = in[1];
    from_child_ = out[0];
    REQUIRE(rc == 0);
  }
  ~Interactive() {
    if (to_child_ >= 0) close(to_child_);
    if (from_child_ >= 0) close(from_child_);
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  void send(const std::string& text) {
    REQUIRE(write(to_child_, text.data(), text.size()) == ssize_t(text.size()));
  }
  void close_stdin() {
    close(to_child_);
    to_child_ = -1;
  }
  void signal(int sig) { REQUIRE(kill(pid_, sig) == 0); }

  // Reads stdout until it holds at least `bytes` bytes (false at the deadline or EOF).
  bool read_until(size_t bytes, double timeout_s = 60) {
    const auto deadline = deadline_after(timeout_s);
    while (out_.size() < bytes) {
      if (!read_some(deadline)) return false;
    }
    return true;
  }
  // Reads stdout until it contains `needle`.
  bool read_until(const std::string& needle, double timeout_s = 60) {
    const auto deadline = deadline_after(timeout_s);
    while (out_.find(needle) == std::string::npos) {
      if (!read_some(deadline)) return false;
    }
    return true;
  }
  // Reads to EOF and waits for the exit.
  Result finish(double timeout_s = 60) {
    const auto deadline = deadline_after(timeout_s);
    while (read_some(deadline)) {
    }
    Result r;
    r.exit_code = wait_child(pid_, std::max(1.0, timeout_s));
    pid_ = -1;
    r.out = out_;
    r.err = read_file(dir_.file("stderr"));
    return r;
  }
  const std::string& out() const { return out_; }
  std::string err() const { return read_file(dir_.file("stderr")); }
  // Waits until the child's stderr contains `needle`.
  bool wait_stderr(const std::string& needle, double timeout_s = 60) {
    const auto deadline = deadline_after(timeout_s);
    while (read_file(dir_.file("stderr")).find(needle) == std::string::npos) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
  }

 private:
  bool read_some(std::chrono::steady_clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{from_child_, POLLIN, 0};
    if (poll(&p, 1, int(left.count())) <= 0) return false;
    char buf[4096];
    const ssize_t n = read(from_child_, buf, sizeof buf);
    if (n <= 0) return false;
    out_.append(buf, size_t(n));
    return true;
  }

  TempDir dir_;
  pid_t pid_ = -1;
  int to_child_ = -1, from_child_ = -1;
  std::string out_;
};

inline std::string tiny_model(const std::string& name = "tiny-rwkv-7v0-834K") {
  return testdata_path("models/" + name + ".pth");
}

// True when `err` is exactly one line, "rwkv-run <cmd>: ...\n".
inline bool one_error_line(const std::string& err, const std::string& cmd) {
  const std::string prefix = "rwkv-run " + cmd + ": ";
  return err.compare(0, prefix.size(), prefix) == 0 && !err.empty() && err.back() == '\n' &&
         err.find('\n') == err.size() - 1;
}

}  // namespace cli_test
