// tools/rwkv-run/line_reader.cpp: see line_reader.h.
#include "line_reader.h"

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include "cli_interrupt.h"

namespace cli {

bool LineReader::take_line(std::string* line) {
  const size_t nl = buf_.find('\n', scanned_);  // only the bytes not searched before
  if (nl == std::string::npos) {
    scanned_ = buf_.size();
    return false;
  }
  line->assign(buf_, 0, nl);
  buf_.erase(0, nl + 1);
  scanned_ = 0;
  if (!line->empty() && line->back() == '\r') line->pop_back();
  return true;
}

LineReader::Status LineReader::read(std::string* line) {
  for (;;) {
    if (take_line(line)) {
      if (!discarding_ && line->size() <= max_line_) return Status::line;
      discarding_ = false;  // the end of an over-long line
      line->clear();
      return Status::too_long;
    }
    if (buf_.size() > max_line_ + 1) {  // (+1: room for a "\r" before the newline)
      discarding_ = true;  // keep reading to the newline, keeping nothing of this line
      buf_.clear();
      scanned_ = 0;
    }
    if (eof_) {
      const bool dropped = discarding_;
      discarding_ = false;
      if (buf_.empty() && !dropped) return Status::end;
      line->swap(buf_);
      buf_.clear();
      scanned_ = 0;
      if (!dropped && line->size() <= max_line_) return Status::line;
      line->clear();
      return Status::too_long;
    }
    wait_and_read();
    if (interrupted_) {
      interrupted_ = false;
      buf_.clear();
      scanned_ = 0;
      discarding_ = false;
      return Status::interrupted;
    }
  }
}

void LineReader::wait_and_read() {
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
    interrupted_ = true;
    return;
  }
  char chunk[65536];
  const ssize_t n = ::read(fd_, chunk, sizeof chunk);
  if (n > 0) {
    buf_.append(chunk, size_t(n));
  } else if (n == 0) {
    eof_ = true;
  } else if (errno == EINTR) {
    if (interrupt_requested()) {
      clear_interrupt();
      interrupted_ = true;
    }
  } else {
    eof_ = true;  // a read error ends the input like Ctrl-D
  }
}

}  // namespace cli
