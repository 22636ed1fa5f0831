// runtime/core/program_dir.cpp: the installed data directory, relative to the executable.
#include "runtime/core/program_dir.h"

#include <unistd.h>

#include <vector>

// The data directory relative to the program's directory (bin/ -> share/rwkv-run/);
// runtime/CMakeLists.txt sets it from the install layout (GNUInstallDirs).
#ifndef RWKV_DATA_FROM_BIN
#define RWKV_DATA_FROM_BIN "../share/rwkv-run"
#endif

namespace rwkv {

std::string join_relative_path(std::string dir, std::string rel) {
  while (rel.compare(0, 3, "../") == 0) {
    const size_t slash = dir.rfind('/');
    if (slash == std::string::npos || dir.size() <= 1) break;
    dir.erase(slash == 0 ? 1 : slash);  // "/bin" -> "/", "/p/bin" -> "/p"
    rel.erase(0, 3);
  }
  if (!dir.empty() && dir.back() == '/') return dir + rel;
  return dir + "/" + rel;
}

std::string program_data_dir() {
  std::vector<char> buf(4096);
  const ssize_t n = ::readlink("/proc/self/exe", buf.data(), buf.size() - 1);
  if (n <= 0 || size_t(n) >= buf.size() - 1) return "";
  const std::string exe(buf.data(), size_t(n));
  const size_t slash = exe.rfind('/');
  if (slash == std::string::npos) return "";
  return join_relative_path(slash == 0 ? "/" : exe.substr(0, slash), RWKV_DATA_FROM_BIN);
}

}  // namespace rwkv
