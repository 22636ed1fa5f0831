// tools/rwkv-run/chat_prompt_dirs.cpp: see chat_prompt_dirs.h.
#include "chat_prompt_dirs.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>

#include "runtime/core/program_dir.h"

namespace cli {
namespace {

bool is_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// The names (without .txt) of the .txt files in dir, sorted.
std::vector<std::string> prompt_names(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return names;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".txt") == 0 && is_file(dir + "/" + name))
      names.push_back(name.substr(0, name.size() - 4));
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

std::vector<std::string> chat_prompt_dirs() {
  std::vector<std::string> dirs;
  const std::string installed = rwkv::program_data_dir();
  if (!installed.empty()) dirs.push_back(installed + "/prompts");
#ifdef RWKV_SOURCE_PROMPT_DIR
  dirs.push_back(RWKV_SOURCE_PROMPT_DIR);
#endif
  return dirs;
}

std::string find_chat_prompt_file(const std::string& path_or_name) {
  if (path_or_name.empty() || is_file(path_or_name) || path_or_name.find('/') != std::string::npos)
    return path_or_name;
  for (const std::string& dir : chat_prompt_dirs()) {
    for (const std::string& file : {dir + "/" + path_or_name, dir + "/" + path_or_name + ".txt"})
      if (is_file(file)) return file;
  }
  return path_or_name;
}

std::string chat_prompt_dir_note() {
  for (const std::string& dir : chat_prompt_dirs()) {
    const std::vector<std::string> names = prompt_names(dir);
    if (names.empty()) continue;
    std::string note = dir + " (";
    for (size_t i = 0; i < names.size(); ++i) note += (i ? ", " : "") + names[i];
    return note + ")";
  }
  return "";
}

}  // namespace cli
