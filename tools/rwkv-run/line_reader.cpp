// tools/rwkv-run/line_reader.cpp: see line_reader.h.
#include "line_reader.h"

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include "cli_interrupt.h"

namespace cli {

LineReader::Status LineReader::read(std::string* line) {
  for (;;) {
    const size_t nl = buf_.find('\n');
    if (nl != std::string::npos) {
      line->assign(buf_, 0, nl);
      buf_.erase(0, nl + 1);
      if (!line->empty() && line->back() == '\r') line->pop_back();
      return Status::line;
    }
    if (eof_) {
      if (buf_.empty()) return Status::end;
      line->swap(buf_);
      buf_.clear();
      return Status::line;
    }
    // Wait for input with SIGINT blocked except inside ppoll, so a Ctrl-C is
    // seen whether it comes before the wait or during it (no lost wake-up).
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &old);
    if (!interrupt_requested()) {
      pollfd p{fd_, POLLIN, 0};
      ppoll(&p, 1, nullptr, &old);
    }
    // A Ctrl-C that came with the input is still pending (blocked): it counts
    // as before the line, and its handler runs when the mask is restored.
    sigset_t pending;
    sigpending(&pending);
    const bool interrupted = interrupt_requested() || sigismember(&pending, SIGINT) == 1;
    sigprocmask(SIG_SETMASK, &old, nullptr);
    if (interrupted) {
      clear_interrupt();
      buf_.clear();
      return Status::interrupted;
    }
    char chunk[4096];
    const ssize_t n = ::read(fd_, chunk, sizeof chunk);
    if (n > 0) {
      buf_.append(chunk, size_t(n));
    } else if (n == 0) {
      eof_ = true;
    } else if (errno == EINTR) {
      if (interrupt_requested()) {
        clear_interrupt();
        buf_.clear();
        return Status::interrupted;
      }
    } else {
      eof_ = true;  // a read error ends the input like Ctrl-D
    }
  }
}

}  // namespace cli
