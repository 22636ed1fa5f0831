// tools/rwkv-run/cmd_tokenize.cpp: `rwkv-run tokenize` and `rwkv-run detokenize`.
//
//   rwkv-run tokenize   [-m MODEL | --tokenizer world|20b|bytes|FILE] (--text T | --file F) [--json]
//   rwkv-run detokenize [-m MODEL | --tokenizer ...] --ids 1,2,3 [--raw]
//
// -m picks the tokenizer from the model's vocabulary size (65536 World, 50277
// GPT-NeoX 20B, 256 bytes); without -m or --tokenizer the World tokenizer is used.
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "runtime/model/model.h"
#include "runtime/tokenizer/read_file.h"
#include "runtime/tokenizer/tokenizer.h"

namespace {

const char kTokenizeUsage[] =
    "usage: rwkv-run tokenize [-m MODEL | --tokenizer world|20b|bytes|FILE] (--text T | --file F) [--json]\n"
    "  Prints the token ids of the text, comma-separated (--json: {\"ids\": [...]}).\n"
    "  --file - reads standard input. Without -m or --tokenizer the World tokenizer is used.\n"
    "  Standard tokenizer files are looked up in $RWKV_TOKENIZER_DIR, else\n"
    "  $XDG_DATA_HOME/rwkv-run/tokenizers, else ~/.local/share/rwkv-run/tokenizers\n"
    "  (scripts/fetch_tokenizers.sh installs them).\n";

const char kDetokenizeUsage[] =
    "usage: rwkv-run detokenize [-m MODEL | --tokenizer world|20b|bytes|FILE] --ids 1,2,3 [--raw]\n"
    "  Prints the bytes of the tokens followed by a newline (--raw: no newline).\n"
    "  Ids may be separated by commas or whitespace.\n";

struct Options {
  std::string model, tokenizer, text, file, ids;
  bool have_text = false, json = false, raw = false;
};

// Parses the options both commands share plus their own; returns false on a
// usage error (message already printed).
bool parse_options(int argc, char** argv, bool tokenize, Options& o) {
  const char* usage = tokenize ? kTokenizeUsage : kDetokenizeUsage;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](std::string& dst) {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "rwkv-run %s: %s needs a value\n%s", argv[0], a.c_str(), usage);
        return false;
      }
      dst = argv[++i];
      return true;
    };
    if (a == "-h" || a == "--help") {
      std::fputs(usage, stdout);
      std::exit(0);
    } else if (a == "-m" || a == "--model") {
      if (!value(o.model)) return false;
    } else if (a == "--tokenizer") {
      if (!value(o.tokenizer)) return false;
    } else if (tokenize && a == "--text") {
      if (!value(o.text)) return false;
      o.have_text = true;
    } else if (tokenize && a == "--file") {
      if (!value(o.file)) return false;
    } else if (tokenize && a == "--json") {
      o.json = true;
    } else if (!tokenize && a == "--ids") {
      if (!value(o.ids)) return false;
    } else if (!tokenize && a == "--raw") {
      o.raw = true;
    } else {
      std::fprintf(stderr, "rwkv-run %s: unknown option '%s'\n%s", argv[0], a.c_str(), usage);
      return false;
    }
  }
  if (!o.model.empty() && !o.tokenizer.empty()) {
    std::fprintf(stderr, "rwkv-run %s: give -m or --tokenizer, not both\n%s", argv[0], usage);
    return false;
  }
  if (tokenize && o.have_text == !o.file.empty()) {
    std::fprintf(stderr, "rwkv-run tokenize: give exactly one of --text and --file\n%s", usage);
    return false;
  }
  return true;
}

std::unique_ptr<rwkv::Tokenizer> open_tokenizer(const Options& o) {
  if (!o.model.empty()) {
    const auto model = rwkv::load_model(o.model);
    return rwkv::load_tokenizer(rwkv::tokenizer_kind_for_vocab(model->info.n_vocab));
  }
  return rwkv::load_tokenizer(o.tokenizer.empty() ? "world" : o.tokenizer);
}

std::string read_stdin() {
  std::string data;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0) data.append(buf, n);
  return data;
}

// "1,2, 3" -> ids; false when an item is not an integer.
bool parse_ids(const std::string& s, std::vector<int32_t>& ids) {
  size_t i = 0;
  for (;;) {
    while (i < s.size() && (s[i] == ',' || s[i] == ' ' || s[i] == '\t' || s[i] == '\n')) ++i;
    if (i >= s.size()) return true;
    const char* begin = s.c_str() + i;
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(begin, &end, 10);
    if (end == begin || errno == ERANGE || v < INT32_MIN || v > INT32_MAX) return false;
    i += size_t(end - begin);
    if (i < s.size() && s[i] != ',' && s[i] != ' ' && s[i] != '\t' && s[i] != '\n') return false;
    ids.push_back(int32_t(v));
  }
}

}  // namespace

int cmd_tokenize(int argc, char** argv) {
  Options o;
  if (!parse_options(argc, argv, true, o)) return 2;
  try {
    const auto tok = open_tokenizer(o);
    const std::string text = o.have_text ? o.text : (o.file == "-" ? read_stdin() : rwkv::read_tokenizer_file(o.file));
    const auto ids = tok->encode(text);
    std::string out = o.json ? "{\"ids\": [" : "";
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i) out += o.json ? ", " : ",";
      out += std::to_string(ids[i]);
    }
    out += o.json ? "]}\n" : "\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rwkv-run tokenize: %s\n", e.what());
    return 1;
  }
}

int cmd_detokenize(int argc, char** argv) {
  Options o;
  if (!parse_options(argc, argv, false, o)) return 2;
  std::vector<int32_t> ids;
  if (!parse_ids(o.ids, ids)) {
    std::fprintf(stderr, "rwkv-run detokenize: --ids must be integers separated by commas\n%s", kDetokenizeUsage);
    return 2;
  }
  try {
    const auto tok = open_tokenizer(o);
    std::string text = tok->decode(ids);
    if (!o.raw) text += '\n';
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rwkv-run detokenize: %s\n", e.what());
    return 1;
  }
}
