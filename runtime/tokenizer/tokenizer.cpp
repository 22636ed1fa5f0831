// runtime/tokenizer/tokenizer.cpp: Tokenizer::decode and the factory.
#include "runtime/tokenizer/tokenizer.h"

#include <sys/stat.h>

#include <cstdlib>

#include "runtime/core/error.h"
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

std::string tokenizer_dir() {
  std::string dir = env("RWKV_TOKENIZER_DIR");
  if (!dir.empty()) return dir;
  dir = env("XDG_DATA_HOME");
  if (!dir.empty()) return dir + "/rwkv-run/tokenizers";
  dir = env("HOME");
  if (!dir.empty()) return dir + "/.local/share/rwkv-run/tokenizers";
  return ".local/share/rwkv-run/tokenizers";
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
    const std::string dir = tokenizer_dir();
    const std::string file = tokenizer_file_for_kind(path_or_kind, dir);
    if (!is_file(file)) {
      throw FileError("the " + path_or_kind + " tokenizer file " + file +
                      " is missing: run scripts/fetch_tokenizers.sh, set RWKV_TOKENIZER_DIR, or pass --tokenizer FILE");
    }
    return path_or_kind == "world" ? load_world_tokenizer(file) : load_bpe_tokenizer(file);
  }
  const std::string data = read_tokenizer_file(path_or_kind);
  if (looks_like_json(data)) return std::make_unique<BpeTokenizer>(data, path_or_kind);
  return make_world_tokenizer(data, path_or_kind);
}

}  // namespace rwkv
