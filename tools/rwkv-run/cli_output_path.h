// tools/rwkv-run/cli_output_path.h: the checks every file rwkv-run writes goes
// through before anything is computed (--state-out, --out, --json FILE, the
// OUT of convert, quantize and synth, chat's +save).
//
// Policy (README "Files rwkv-run writes"):
//   - an empty name is a usage error;
//   - a symbolic link is followed: its final target is replaced (atomically,
//     through a temporary file beside the target), the link stays; a link to
//     a missing file is refused;
//   - an output that is the same file as one of the command's inputs (the
//     model, the prompt file, ...; compared by device and inode, so through
//     links too) is refused as a usage error; --state-out may name the
//     --state-in file (that file is read completely first);
//   - the files written atomically (state files, safetensors) must be regular
//     files or new: a device or pipe is refused (only --json FILE and the raw
//     outputs write straight into one, e.g. /dev/stdout);
//   - a new file's folder must exist and take new files (run-time error
//     otherwise, before the model is loaded);
//   - new files get 0666 less the umask (runtime/core/file_mode.h).
#pragma once

#include <string>
#include <vector>

namespace cli {

// Checks `path`, given as option `opt` ("--state-out"), against `inputs`
// (paths that may be empty, skipped) and returns the path to write: `path`
// itself, or a symbolic link's final target. Throws CliError (2: empty, same
// as an input, a special file when `atomic`; 1: a link that cannot be resolved, a new
// file whose folder is missing or not writable).
std::string checked_output_path(const std::string& opt, const std::string& path,
                                const std::vector<std::string>& inputs, bool atomic);

// checked_output_path(atomic) for a safetensors file: the name must end in
// ".safetensors" (usage error otherwise: readers pick the format by content,
// people and other tools by the extension).
std::string checked_safetensors_path(const std::string& opt, const std::string& path,
                                     const std::vector<std::string>& inputs);

// True when `path` exists and is not a regular file (a device such as
// /dev/null, a pipe): atomic writers cannot rename over it.
bool is_special_file(const std::string& path);

}  // namespace cli
