// tools/rwkv-run/cli_interrupt.cpp: see cli_interrupt.h.
#include "cli_interrupt.h"

#include <pthread.h>

#include <cerrno>
#include <csignal>

namespace cli {

namespace {

// The process-wide state a signal handler may touch (set before the handler
// is installed, then only read, except the flag). The CLI is the one place
// allowed such state (runtime/ gets a cancel callback instead).
volatile std::sig_atomic_t g_interrupted = 0;  // the first signal's number, 0 when none
volatile std::sig_atomic_t g_once_only = 0;
pthread_t g_main_thread;

// A signal sent to the process may land on any thread that does not block it
// (OpenBLAS and backend workers too): it is passed on to the main thread, so
// that the main thread's input wait wakes up (line_reader.cpp) and a signal
// that arrives while the main thread blocks it stays pending there.
extern "C" void on_signal(int sig) {
  const int saved_errno = errno;
  if (!pthread_equal(pthread_self(), g_main_thread)) {
    pthread_kill(g_main_thread, sig);
  } else if (g_once_only && g_interrupted) {
    std::signal(sig, SIG_DFL);  // a second signal ends the program
    std::raise(sig);
  } else {
    g_interrupted = sig;
  }
  errno = saved_errno;
}

void handled_signals(sigset_t* set) {
  sigemptyset(set);
  sigaddset(set, SIGINT);
  sigaddset(set, SIGTERM);
  sigaddset(set, SIGHUP);
}

}  // namespace

void install_interrupt_handler(bool once_only, bool also_term_hup) {
  g_main_thread = pthread_self();
  g_once_only = once_only ? 1 : 0;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  sigaction(SIGINT, &sa, nullptr);
  if (also_term_hup) {
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGHUP, &sa, nullptr);
  }
}

bool interrupt_requested() { return g_interrupted != 0; }
int interrupt_signal() { return g_interrupted; }
void clear_interrupt() { g_interrupted = 0; }

SignalHold::SignalHold() {
  sigset_t block;
  handled_signals(&block);
  pthread_sigmask(SIG_BLOCK, &block, &saved_);
}

SignalHold::~SignalHold() { pthread_sigmask(SIG_SETMASK, &saved_, nullptr); }

}  // namespace cli
