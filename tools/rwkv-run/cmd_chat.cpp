// tools/rwkv-run/cmd_chat.cpp: `rwkv-run chat`, ChatRWKV v2's chat in the
// terminal, on the engine (the conversation logic is chat_session.h, the line
// syntax chat_command.h, the prompt files chat_prompt.h).
//
// stdout carries the conversation only (the "User: " input prompt on a
// terminal or with --echo, the bot's name, replies, free generations);
// notes, help and errors go to stderr, so a piped session's stdout is the
// conversation itself.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "chat_prompt_dirs.h"
#include "chat_session.h"
#include "cli_interrupt.h"
#include "commands.h"
#include "line_reader.h"

namespace {

cli::SamplerOptions chat_sampling_defaults() {
  cli::SamplerOptions s;  // ChatRWKV v2 chat.py (GEN_TEMP, GEN_TOP_P, GEN_alpha_*), decay 0.996
  s.temp = 1.0;
  s.top_p = 0.8;
  s.presence = 0.2;
  s.frequency = 0.2;
  s.decay = 0.996;
  return s;
}

struct Options {
  cli::ModelOptions model;
  cli::SamplerOptions sampling = chat_sampling_defaults();
  std::string prompt_file;
  int reply_max = 999, gen_len = 200;
  bool echo = false;
};

// --prompt's help: where the shipped prompt files were found (chat_prompt_dirs.h).
std::string prompt_option_help() {
  const std::string shipped = cli::chat_prompt_dir_note();
  return "chat prompt file (names, separator, initial conversation), or the name of a shipped one: " +
         (shipped.empty() ? std::string("none found") : shipped);
}

void add_options(cli::Command& cmd, Options& o) {
  CLI::App& app = cmd.app();
  cli::add_model_options(app, o.model);
  const char* group = "chat";
  app.add_option("--prompt", o.prompt_file, prompt_option_help())
      ->type_name("FILE|NAME")
      ->group(group);
  app.add_option_function<std::string>(
         "--reply-max", [&o](const std::string& v) { o.reply_max = int(cli::parse_int("--reply-max", v, 1, 1000000)); },
         "tokens per reply at most (default 999)")
      ->type_name("N")
      ->group(group);
  app.add_option_function<std::string>(
         "--gen-len", [&o](const std::string& v) { o.gen_len = int(cli::parse_int("--gen-len", v, 1, 100000000)); },
         "tokens per free generation, +gen etc. (default 200)")
      ->type_name("N")
      ->group(group);
  app.add_flag("--echo", o.echo,
               "print the 'User: ' prompt and each input line on stdout (for transcripts of piped input; "
               "automatic on a terminal)")
      ->group(group);
  cli::add_sampler_options(app, o.sampling);
  app.footer(std::string("(-temp=X and -top_p=X at the end of a line change them for that line.)\n\n") + cli::kChatHelp);
}

int run(const Options& o) {
  cli::LoadedModel lm = cli::load_model_and_tokenizer(o.model, cli::ChatSession::kSlots);
  for (int32_t id : o.sampling.ban)
    if (id >= lm.info.n_vocab)
      cli::usage_fail("--ban " + std::to_string(id) + " is outside the vocabulary [0, " +
                      std::to_string(lm.info.n_vocab) + ")");
  const std::string kind = lm.tokenizer->kind();
  cli::ChatPrompt prompt =
      o.prompt_file.empty() ? cli::default_chat_prompt(kind) : cli::read_chat_prompt_file(o.prompt_file);

  cli::ChatSettings s;
  s.sampling = o.sampling;
  s.seed = o.sampling.seed ? *o.sampling.seed : cli::random_seed();
  s.reply_max = o.reply_max;
  s.gen_len = o.gen_len;
  s.model_path = o.model.path;
  cli::ChatSession chat(lm, prompt, s, stdout, stderr);
  cli::install_interrupt_handler(false);
  chat.start();

  const bool tty = isatty(0) != 0;
  std::fprintf(stderr,
               "rwkv-run chat: %s (RWKV %s, %d layers, %s, %s tokenizer), seed %llu. "
               "Type +help for commands, Ctrl-D to quit.\n",
               o.model.path.c_str(), lm.version.c_str(), lm.info.n_layer, lm.device.c_str(), kind.c_str(),
               static_cast<unsigned long long>(s.seed));
  cli::LineReader reader(0);
  for (;;) {
    if (tty || o.echo) {
      std::fputs(cli::user_prefix(chat.prompt()).c_str(), stdout);
      cli::flush_stdout();
    }
    std::string line;
    const cli::LineReader::Status st = reader.read(&line);
    if (st == cli::LineReader::Status::end) {
      if (tty || o.echo) std::fputs("\n", stdout);
      break;
    }
    if (st == cli::LineReader::Status::too_long) {
      std::fprintf(stderr, "rwkv-run chat: a line longer than %zu bytes was discarded (the limit of one message)\n",
                   cli::LineReader::kDefaultMaxLine);
      continue;
    }
    if (st == cli::LineReader::Status::interrupted) {
      if (tty || o.echo) std::fputs("\n", stdout);  // Ctrl-C at the prompt drops the line
      continue;
    }
    if (o.echo && !tty) std::printf("%s\n", line.c_str());
    cli::flush_stdout();
    chat.run(cli::parse_chat_line(line, s.sampling.temp, s.sampling.top_p));
  }
  std::fflush(stdout);
  return 0;
}

}  // namespace

int cmd_chat(int argc, char** argv) {
  Options o;
  cli::Command cmd("chat",
                   "Talk with a model, ChatRWKV style. Each line you type is a message; the reply streams and\n"
                   "ends at a blank line. Lines starting with '+' are commands (+help lists them). Ctrl-C\n"
                   "stops a reply, Ctrl-D quits. World and byte-level models use the 'User: ...' /\n"
                   "'Assistant:' format, 20B (Pile, Raven) models the Bob / Alice format; --prompt FILE|NAME sets\n"
                   "another (for the format, see the shipped prompt files listed under --prompt).");
  add_options(cmd, o);
  return cmd.run([&] {
    if (!cmd.parse(argc, argv)) return 0;
    cli::finish_model_options(o.model, "rwkv-run chat -m MODEL");
    return run(o);
  });
}
