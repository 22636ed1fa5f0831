// tools/rwkv-run/cli_interrupt.cpp: see cli_interrupt.h.
#include "cli_interrupt.h"

#include <pthread.h>

#include <cerrno>
#include <csignal>

namespace cli {

namespace {

// The process-wide state a signal handler may touch (set before the handler
// is installed, then only read, except the flag).
volatile std::sig_atomic_t g_interrupted = 0;
volatile std::sig_atomic_t g_once_only = 0;
pthread_t g_main_thread;

// A signal sent to the process may land on any thread that does not block it
// (OpenBLAS and backend workers too): it is passed on to the main thread, so
// that the main thread's input wait wakes up (line_reader.cpp) and a signal
// that arrives while the main thread blocks SIGINT stays pending there.
extern "C" void on_sigint(int) {
  const int saved_errno = errno;
  if (!pthread_equal(pthread_self(), g_main_thread)) {
    pthread_kill(g_main_thread, SIGINT);
  } else if (g_once_only && g_interrupted) {
    std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C ends the program
    std::raise(SIGINT);
  } else {
    g_interrupted = 1;
  }
  errno = saved_errno;
}

}  // namespace

void install_interrupt_handler(bool once_only) {
  g_main_thread = pthread_self();
  g_once_only = once_only ? 1 : 0;
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  sigaction(SIGINT, &sa, nullptr);
}

bool interrupt_requested() { return g_interrupted != 0; }
void clear_interrupt() { g_interrupted = 0; }

}  // namespace cli
