// tools/rwkv-run/cmd_tokenize.cpp: `rwkv-run tokenize` and `rwkv-run detokenize`.
//
//   rwkv-run tokenize   [-m MODEL | --tokenizer world|20b|bytes|FILE] (--text T | --file F) [--json [FILE]]
//   rwkv-run detokenize [-m MODEL | --tokenizer ...] --ids 1,2,3 [--raw]
//
// -m picks the tokenizer from the model's vocabulary size (65536 World, 50277
// GPT-NeoX 20B, 256 bytes); without -m or --tokenizer the World tokenizer is used.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli_args.h"
#include "cli_model.h"
#include "cli_output_path.h"
#include "commands.h"
#include "runtime/core/json.h"
#include "runtime/model/model.h"
#include "runtime/tokenizer/read_file.h"
#include "runtime/tokenizer/tokenizer.h"

namespace {

struct Options {
  cli::ModelArg model;
  std::string tokenizer, text, file, ids;
  cli::JsonOutput json;
  bool raw = false;
};

// Where the world and 20b files are looked for, for the help's footer: the
// directories of this run (rwkv::tokenizer_search_dirs).
std::string tokenizer_dirs_note() {
  std::string note =
      "The world and 20b tokenizer files are looked up in $RWKV_TOKENIZER_DIR when set, else in\n"
      "share/rwkv-run/tokenizers of the install, then $XDG_DATA_HOME/rwkv-run/tokenizers or\n"
      "~/.local/share/rwkv-run/tokenizers; here:";
  for (const std::string& dir : rwkv::tokenizer_search_dirs()) note += "\n  " + dir;
  return note;
}

// -m and --tokenizer, shared by both commands.
void add_tokenizer_choice(cli::Command& cmd, Options& o) {
  cli::add_model(cmd.app(), o.model, false);
  cmd.app().get_option("--model")->description("take the tokenizer that fits this model's vocabulary");
  cli::add_tokenizer(cmd.app(), o.tokenizer);
  cmd.app().get_option("--tokenizer")->description("world (default), 20b, bytes or a tokenizer file")->excludes("--model");
  cmd.app().footer(tokenizer_dirs_note());
}

std::unique_ptr<rwkv::Tokenizer> open_tokenizer(const Options& o) {
  if (!o.model.path().empty()) {
    const auto model = rwkv::load_model(o.model.path());
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

}  // namespace

int cmd_tokenize(int argc, char** argv) {
  Options o;
  cli::Command cmd("tokenize", "Prints the token ids of the text, comma-separated.");
  add_tokenizer_choice(cmd, o);
  CLI::Option* text = cmd.app().add_option("--text", o.text, "the text")->type_name("T");
  CLI::Option* file = cmd.app().add_option("--file", o.file, "read the text from F (- reads stdin)")->type_name("F");
  file->excludes(text);
  cli::add_json(cmd.app(), o.json, "the ids ({\"ids\": [...]})");
  return cmd.run([&] {
    if (!cmd.parse(argc, argv)) return 0;
    if (!text->count() && !file->count()) cli::usage_fail("give one of --text and --file");
    if (o.json.wanted() && !o.json.file.empty())
      o.json.file = cli::checked_output_path("--json", o.json.file, {o.model.path(), o.file}, false);
    const auto tok = open_tokenizer(o);
    const std::string input = text->count() ? o.text : (o.file == "-" ? read_stdin() : rwkv::read_tokenizer_file(o.file));
    const std::vector<int32_t> ids = tok->encode(input);
    cli::note_replaced_bytes("tokenize", *tok, input);
    std::string plain;
    for (size_t i = 0; i < ids.size(); ++i) plain += (i ? "," : "") + std::to_string(ids[i]);
    plain += "\n";
    const std::string json = rwkv::Json{{"ids", ids}}.dump() + "\n";
    if (!o.json.wanted() || !o.json.file.empty()) std::fwrite(plain.data(), 1, plain.size(), stdout);
    if (o.json.wanted() && o.json.file.empty()) std::fwrite(json.data(), 1, json.size(), stdout);
    if (o.json.wanted() && !o.json.file.empty()) cli::write_file_atomic(o.json.file, json);
    return 0;
  });
}

int cmd_detokenize(int argc, char** argv) {
  Options o;
  cli::Command cmd("detokenize",
                   "Prints the bytes of the tokens followed by a newline (--raw: no newline). Ids may be\n"
                   "separated by commas or whitespace.");
  add_tokenizer_choice(cmd, o);
  cmd.app().add_option("--ids", o.ids, "the token ids, e.g. 1,2,3")->type_name("IDS")->required();
  cmd.app().add_flag("--raw", o.raw, "no newline after the text");
  return cmd.run([&] {
    if (!cmd.parse(argc, argv)) return 0;
    // Malformed ids are usage errors; ids outside the vocabulary are the tokenizer's to refuse.
    const std::vector<int32_t> ids = cli::parse_id_list("--ids", o.ids, INT32_MIN, INT32_MAX);
    const auto tok = open_tokenizer(o);
    std::string text = tok->decode(ids);
    if (!o.raw) text += '\n';
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  });
}
