// tests/emu/child_process.h: run a function in a forked child and capture its
// stderr and how it ended, for tests of failures that abort (deadlocks, bad
// shuffle masks): the emulator must stop loudly, and the test must survive.
#pragma once
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

struct ChildResult {
  bool exited = false;     // normal exit (else killed by a signal)
  int exit_code = 0;
  int signal = 0;
  std::string err;         // everything the child wrote to stderr
};

template <class F>
ChildResult run_in_child(F&& fn) {
  int fds[2];
  if (pipe(fds) != 0) std::abort();
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], 2);
    // The test framework's crash handlers must not report the child's abort.
    for (int sig : {SIGABRT, SIGSEGV, SIGILL, SIGFPE, SIGBUS}) signal(sig, SIG_DFL);
    unsetenv("CUDA_EMU_QUIET");
    fn();
    std::fflush(nullptr);
    _exit(0);
  }
  close(fds[1]);
  ChildResult r;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) r.err.append(buf, (size_t)n);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  r.exited = WIFEXITED(status);
  r.exit_code = r.exited ? WEXITSTATUS(status) : 0;
  r.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  return r;
}
