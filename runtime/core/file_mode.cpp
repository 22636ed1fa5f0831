// runtime/core/file_mode.cpp: see file_mode.h.
#include "runtime/core/file_mode.h"

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace rwkv {

namespace {

// The "Umask:" line of /proc/self/status (Linux 4.7+); false when absent.
bool umask_from_proc(mode_t* mask) {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return false;
  char line[256];
  bool found = false;
  while (std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, "Umask:", 6) == 0) {
      *mask = mode_t(std::strtoul(line + 6, nullptr, 8));
      found = true;
      break;
    }
  }
  std::fclose(f);
  return found;
}

}  // namespace

mode_t new_file_mode() {
  mode_t mask = 0;
  if (!umask_from_proc(&mask)) {
    mask = ::umask(022);
    ::umask(mask);
  }
  return mode_t(0666) & ~mask & mode_t(0777);
}

}  // namespace rwkv
