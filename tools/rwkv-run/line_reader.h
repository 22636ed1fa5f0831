// tools/rwkv-run/line_reader.h: lines from a file descriptor (stdin of
// `rwkv-run chat`) with read(2), so that Ctrl-C (EINTR, see cli_interrupt.h)
// can abandon the line being typed, and Ctrl-D / end of input ends the chat.
#pragma once

#include <string>

namespace cli {

class LineReader {
 public:
  enum class Status { line, end, interrupted, too_long };

  // Lines longer than this many bytes (the newline not counted) are refused.
  static constexpr size_t kDefaultMaxLine = size_t(1) << 20;  // 1 MiB

  explicit LineReader(int fd, size_t max_line = kDefaultMaxLine) : fd_(fd), max_line_(max_line) {}

  // The next line without its "\n" (or "\r\n"). A last line without a newline
  // is returned before `end`. `interrupted`: Ctrl-C while waiting; the
  // partial line is dropped. `too_long`: a line of more than max_line bytes
  // was read and dropped (in linear time, holding at most max_line bytes of
  // it); the next call reads the line after it.
  Status read(std::string* line);

 private:
  bool take_line(std::string* line);   // a complete line from buf_, if any
  void wait_and_read();                // one read(2) into buf_ (or eof_ / interrupted_)

  int fd_;
  size_t max_line_;
  std::string buf_;
  size_t scanned_ = 0;       // buf_[0, scanned_) holds no newline
  bool discarding_ = false;  // inside a line already found too long
  bool eof_ = false;
  bool interrupted_ = false;
};

}  // namespace cli
