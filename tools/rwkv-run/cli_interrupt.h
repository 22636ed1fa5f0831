// tools/rwkv-run/cli_interrupt.h: Ctrl-C (SIGINT) as a request to stop the
// text being generated, not the program. The handler only sets a flag, which
// the generation loops poll between tokens and between prefill chunks. The
// chat's input wait (line_reader.cpp) sees it too and drops the line being
// typed. `generate` also takes SIGTERM and SIGHUP this way, so that it still
// writes --state-out and the timings before it exits.
#pragma once

#include <signal.h>

namespace cli {

// Installs the handler for SIGINT (and, with also_term_hup, SIGTERM and SIGHUP);
// call it from the main thread, which is the one that polls the flag.
// once_only: a second signal while the flag is still set ends the program
// (for `generate`, which never clears it).
void install_interrupt_handler(bool once_only, bool also_term_hup = false);

bool interrupt_requested();
// The first signal that set the flag (SIGINT, SIGTERM or SIGHUP), 0 when none.
int interrupt_signal();
void clear_interrupt();

// While it lives, the handled signals are blocked (held pending): a file being
// written is finished, never cut short by a second signal.
class SignalHold {
 public:
  SignalHold();
  ~SignalHold();
  SignalHold(const SignalHold&) = delete;
  SignalHold& operator=(const SignalHold&) = delete;

 private:
  sigset_t saved_;  // the mask before
};

}  // namespace cli
