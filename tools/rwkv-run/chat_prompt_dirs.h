// tools/rwkv-run/chat_prompt_dirs.h: where `--prompt NAME` and `+prompt NAME`
// find the shipped chat prompt files (tools/rwkv-run/prompts/*.txt).
#pragma once

#include <string>
#include <vector>

namespace cli {

// The directories of named prompt files, in order: share/rwkv-run/prompts of
// the install beside the running program (runtime/core/program_dir.h), then
// the source tree's tools/rwkv-run/prompts (for a binary run from its build
// tree; RWKV_SOURCE_PROMPT_DIR, set by tools/rwkv-run/CMakeLists.txt).
std::vector<std::string> chat_prompt_dirs();

// The file `--prompt` names: an existing file, or a path with a '/', is taken
// as it is; a bare NAME is the first NAME or NAME.txt in chat_prompt_dirs(),
// else itself (so opening it fails naming what was given).
std::string find_chat_prompt_file(const std::string& path_or_name);

// For help texts: "DIR (assistant, bob-alice)": the first of chat_prompt_dirs()
// holding .txt files, with their names; "" when none does.
std::string chat_prompt_dir_note();

}  // namespace cli
