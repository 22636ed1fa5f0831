// runtime/tokenizer/tokenizer.cpp: Tokenizer::decode and the factory.
#include "runtime/tokenizer/tokenizer.h"

#include <sys/stat.h>

#include <cstdlib>

#include "runtime/core/error.h"
#include "runtime/core/program_dir.h"
#include "runtime/core/regular_file.h"
#include "runtime/tokenizer/bpe_tokenizer.h"
#include "runtime/tokenizer/bytes_tokenizer.h"
#include "runtime/tokenizer/read_file.h"
#include "runtime/tokenizer/world_tokenizer.h"

namespace rwkv {
namespace {

const char kWorldFile[] = "rwkv_vocab_v20230424.txt";
const char k20bFile[] = "20B_tokenizer.json";

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

bool is_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// A JSON document starts with '{' after optional whitespace.
bool looks_like_json(const std::string& data) {
  size_t i = 0;
  while (i < data.size() && (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' || data[i] == '\t')) ++i;
  return i < data.size() && data[i] == '{';
}

}  // namespace

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  for (int32_t id : ids) out += token_bytes(id);
  return out;
}

namespace {

// The per-user directory scripts/fetch_tokenizers.sh installs into.
std::string user_tokenizer_dir() {
  std::string dir = env("XDG_DATA_HOME");
  if (!dir.empty()) return dir + "/rwkv-run/tokenizers";
  dir = env("HOME");
  if (!dir.empty()) return dir + "/.local/share/rwkv-run/tokenizers";
  return ".local/share/rwkv-run/tokenizers";
}

}  // namespace

std::vector<std::string> tokenizer_search_dirs() {
  const std::string chosen = env("RWKV_TOKENIZER_DIR");
  if (!chosen.empty()) return {chosen};
  std::vector<std::string> dirs;
  const std::string installed = program_data_dir();
  if (!installed.empty()) dirs.push_back(installed + "/tokenizers");
  dirs.push_back(user_tokenizer_dir());
  return dirs;
}

std::string tokenizer_dir() {
  const std::vector<std::string> dirs = tokenizer_search_dirs();
  for (const std::string& dir : dirs)
    if (is_file(dir + "/" + kWorldFile) || is_file(dir + "/" + k20bFile)) return dir;
  return dirs.back();
}

std::string find_tokenizer_file(const std::string& kind) {
  for (const std::string& dir : tokenizer_search_dirs()) {
    const std::string file = tokenizer_file_for_kind(kind, dir);
    if (!file.empty() && is_file(file)) return file;
  }
  return "";
}

std::string missing_tokenizer_message(const std::string& kind) {
  const std::vector<std::string> dirs = tokenizer_search_dirs();
  std::string where;
  for (size_t i = 0; i < dirs.size(); ++i)
    where += (i == 0 ? "" : i + 1 == dirs.size() ? " or " : ", ") + dirs[i];
  if (!env("RWKV_TOKENIZER_DIR").empty()) where += " ($RWKV_TOKENIZER_DIR)";
  const std::string name = tokenizer_file_for_kind(kind, "").substr(1);
  return "the " + kind + " tokenizer file " + name + " is not in " + where +
         ": set RWKV_TOKENIZER_DIR to a directory holding it, or give the file's path";
}

std::string tokenizer_file_for_kind(const std::string& kind, const std::string& dir) {
  if (kind == "world") return dir + "/" + kWorldFile;
  if (kind == "20b") return dir + "/" + k20bFile;
  return "";
}

std::string tokenizer_kind_for_vocab(int64_t n_vocab) {
  if (n_vocab == 65536) return "world";
  if (n_vocab == 50277) return "20b";
  if (n_vocab == 256) return "bytes";
  throw Error("no tokenizer is known for a vocabulary of " + std::to_string(n_vocab) +
              " tokens (World 65536, GPT-NeoX 20B 50277, bytes 256); name one with --tokenizer");
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path_or_kind) {
  if (path_or_kind == "bytes") return std::make_unique<BytesTokenizer>();
  if (path_or_kind == "world" || path_or_kind == "20b") {
    const std::string file = find_tokenizer_file(path_or_kind);
    if (file.empty()) throw FileError(missing_tokenizer_message(path_or_kind));
    return path_or_kind == "world" ? load_world_tokenizer(file) : load_bpe_tokenizer(file);
  }
  const std::string data = read_tokenizer_file(path_or_kind);
  if (looks_like_json(data)) return std::make_unique<BpeTokenizer>(data, path_or_kind);
  return make_world_tokenizer(data, path_or_kind);
}

}  // namespace rwkv
