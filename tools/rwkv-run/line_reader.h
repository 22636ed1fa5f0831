// tools/rwkv-run/line_reader.h: lines from a file descriptor (stdin of
// `rwkv-run chat`) with read(2), so that Ctrl-C (EINTR, see cli_interrupt.h)
// can abandon the line being typed, and Ctrl-D / end of input ends the chat.
#pragma once

#include <string>

namespace cli {

class LineReader {
 public:
  enum class Status { line, end, interrupted };

  explicit LineReader(int fd) : fd_(fd) {}

  // The next line without its "\n" (or "\r\n"). A last line without a newline
  // is returned before `end`. `interrupted`: Ctrl-C while waiting; the
  // partial line is dropped.
  Status read(std::string* line);

 private:
  int fd_;
  std::string buf_;
  bool eof_ = false;
};

}  // namespace cli
