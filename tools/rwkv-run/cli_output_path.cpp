// tools/rwkv-run/cli_output_path.cpp: see cli_output_path.h.
#include "cli_output_path.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "cli_args.h"

namespace cli {

namespace {

// The final target of a symbolic link (run-time error when it cannot be resolved).
std::string link_target(const std::string& opt, const std::string& path) {
  char* resolved = ::realpath(path.c_str(), nullptr);
  if (!resolved)
    runtime_fail(opt + " " + path + " is a symbolic link that cannot be followed (" + std::strerror(errno) +
                 "); give the target's path");
  std::string target = resolved;
  std::free(resolved);
  return target;
}

// A file that does not exist yet: its folder must exist and take new files, so that a missing
// or read-only folder is named before the model is loaded and the prompt computed, not by the
// final write (run-time error). A path through a regular file fails lstat with ENOTDIR, so the
// folder below is a directory when lstat said ENOENT.
void check_new_file_folder(const std::string& opt, const std::string& path, int lstat_errno) {
  if (lstat_errno != ENOENT)
    runtime_fail(opt + " " + path + ": cannot be written (" + std::strerror(lstat_errno) + "); check the path");
  const size_t slash = path.find_last_of('/');
  const std::string folder = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  struct stat st {};
  if (::stat(folder.c_str(), &st) != 0)
    runtime_fail(opt + " " + path + ": the folder " + folder + " cannot be used (" + std::strerror(errno) +
                 "); create it or give another path");
  if (::access(folder.c_str(), W_OK | X_OK) != 0)
    runtime_fail(opt + " " + path + ": cannot create a file in " + folder + " (" + std::strerror(errno) + ")");
}

}  // namespace

std::string checked_output_path(const std::string& opt, const std::string& path,
                                const std::vector<std::string>& inputs, bool atomic) {
  if (path.empty()) usage_fail(opt + " needs a file name, got ''");
  struct stat link_st {};
  if (::lstat(path.c_str(), &link_st) != 0) {  // a new file: nothing to compare, its folder checked
    check_new_file_folder(opt, path, errno);
    return path;
  }
  const std::string target = S_ISLNK(link_st.st_mode) ? link_target(opt, path) : path;
  struct stat out_st {};
  if (::stat(target.c_str(), &out_st) != 0) return target;
  if (atomic && !S_ISREG(out_st.st_mode))
    usage_fail(opt + " " + path + " is not a regular file (a device or a pipe); give a file name");
  for (const std::string& in : inputs) {
    struct stat in_st {};
    if (in.empty() || ::stat(in.c_str(), &in_st) != 0) continue;
    if (in_st.st_dev == out_st.st_dev && in_st.st_ino == out_st.st_ino)
      usage_fail(opt + " " + path + " is the same file as the input " + in + "; write to another file");
  }
  return target;
}

std::string checked_safetensors_path(const std::string& opt, const std::string& path,
                                     const std::vector<std::string>& inputs) {
  const std::string ext = ".safetensors";
  if (!path.empty() && (path.size() <= ext.size() || path.compare(path.size() - ext.size(), ext.size(), ext) != 0))
    usage_fail(opt + " must end in .safetensors (the file is written as safetensors), got '" + path + "'");
  return checked_output_path(opt, path, inputs, true);
}

bool is_special_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode);
}

}  // namespace cli
