// runtime/core/program_dir.h: where an installed rwkv-run keeps its data.
//
// `cmake --install` puts the program in <prefix>/bin and its data (chat
// prompts, tokenizer files) in <prefix>/share/rwkv-run (CMakeLists.txt,
// tools/rwkv-run/CMakeLists.txt). The data directory is found from the running
// executable's own path (/proc/self/exe), so any install prefix works and
// nothing of the build machine is baked in.
#pragma once

#include <string>

namespace rwkv {

// <directory of the running executable>/<RWKV_DATA_FROM_BIN> with the leading
// "../" folded in (installed rwkv-run: <prefix>/share/rwkv-run), or "" when
// /proc/self/exe cannot be read. The directory need not exist.
std::string program_data_dir();

// `dir` joined with the relative path `rel`, each leading "../" of rel removing
// dir's last component ("/p/bin" + "../share/x" -> "/p/share/x").
std::string join_relative_path(std::string dir, std::string rel);

}  // namespace rwkv
