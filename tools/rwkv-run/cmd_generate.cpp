// tools/rwkv-run/cmd_generate.cpp: `rwkv-run generate`, a prompt's
// continuation streamed to stdout, on the engine and the generation loop
// (runtime/engine/engine.h, runtime/generate/generate.h). Timings go to
// stderr: load time, prompt tokens and prefill speed, generated tokens and
// decode speed.
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cli_interrupt.h"
#include "cli_model.h"
#include "cli_output_path.h"
#include "commands.h"
#include "runtime/generate/generate.h"
#include "runtime/sampler/penalty_weight.h"

namespace {

using cli::CliError;

cli::SamplerOptions generate_sampling_defaults() { return cli::SamplerOptions{}; }  // pip PIPELINE_ARGS

struct Options {
  cli::ModelOptions model;
  cli::SamplerOptions sampling = generate_sampling_defaults();
  std::string prompt, prompt_file, state_in, state_out;
  bool have_prompt = false, escape = false, echo = false, quiet = false, ignore_eos = false;
  long long n_tokens = 256;
  std::vector<std::string> stops;
  std::vector<int32_t> stop_tokens;
};

// The options of `generate` on `cmd`, stored into `o`; returns the -p option (to tell an empty -p from none).
CLI::Option* add_options(cli::Command& cmd, Options& o) {
  CLI::App& app = cmd.app();
  cli::add_model_options(app, o.model);
  const char* group = "generation";
  CLI::Option* prompt = app.add_option("-p,--prompt", o.prompt, "the prompt")->type_name("TEXT")->group(group);
  app.add_option("-f,--prompt-file", o.prompt_file, "read the prompt from FILE")
      ->type_name("FILE")
      ->excludes(prompt)
      ->group(group);
  app.add_flag("-e,--escape", o.escape, "turn \\n, \\t, \\\\ in the prompt into newline, tab, backslash")->group(group);
  app.add_option_function<std::string>(
         "-n,--n-tokens", [&o](const std::string& v) { o.n_tokens = cli::parse_int("-n", v, -1, INT32_MAX); },
         "tokens to generate (default 256; 0: only feed the prompt, with --state-out; -1: until a stop or Ctrl-C)")
      ->type_name("N")
      ->group(group);
  app.add_option_function<std::vector<std::string>>(
         "--stop",
         [&o](const std::vector<std::string>& v) {
           for (const std::string& t : v) {
             if (t.empty()) cli::usage_fail("--stop needs a non-empty text");
             o.stops.push_back(t);
           }
         },
         "stop when the text contains TEXT, not printed (repeatable)")
      ->type_name("TEXT")
      ->allow_extra_args(false)
      ->group(group);
  app.add_option_function<std::vector<std::string>>(
         "--stop-token",
         [&o](const std::vector<std::string>& v) {
           for (const std::string& t : v) {
             const std::vector<int32_t> ids = cli::parse_id_list("--stop-token", t);
             o.stop_tokens.insert(o.stop_tokens.end(), ids.begin(), ids.end());
           }
         },
         "stop when one of these token ids is drawn (repeatable)")
      ->type_name("ID[,ID]")
      ->allow_extra_args(false)
      ->group(group);
  app.add_flag("--ignore-eos", o.ignore_eos, "do not stop at token 0 (World / 20B end of text; stops by default)")
      ->group(group);
  app.add_flag("--echo", o.echo, "print the prompt before the continuation")->group(group);
  app.add_option("--state-in", o.state_in, "start from a state saved by --state-out (same model)")
      ->type_name("FILE")
      ->group(group);
  app.add_option("--state-out", o.state_out, "save the state after the prompt and the generated text")
      ->type_name("FILE")
      ->group(group);
  cli::add_quiet(app, o.quiet, "no timings on stderr");
  app.get_option("--quiet")->group(group);
  cli::add_sampler_options(app, o.sampling);
  app.footer("Ctrl-C stops the generation (the timings and --state-out still follow).");
  return prompt;
}

std::string read_all(FILE* f, const std::string& name) {
  std::string text;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  if (std::ferror(f)) cli::runtime_fail(name + ": read error (" + std::strerror(errno) + ")");
  return text;
}

std::string unescape(const std::string& s) {
  std::string r;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      r += s[i];
      continue;
    }
    const char c = s[++i];
    if (c == 'n') r += '\n';
    else if (c == 't') r += '\t';
    else if (c == '\\') r += '\\';
    else {
      r += '\\';
      r += c;
    }
  }
  return r;
}

// The prompt from -p, --prompt-file or stdin (before the model loads: a usage
// problem should not wait for a large model).
std::string read_prompt(const Options& o) {
  std::string text;
  if (o.have_prompt) {
    text = o.prompt;
  } else if (!o.prompt_file.empty()) {
    FILE* f = std::fopen(o.prompt_file.c_str(), "rb");
    if (!f) cli::runtime_fail(o.prompt_file + ": cannot open (" + std::strerror(errno) + "); check --prompt-file");
    try {
      text = read_all(f, o.prompt_file);
    } catch (...) {
      std::fclose(f);
      throw;
    }
    std::fclose(f);
  } else {
    if (isatty(0)) cli::usage_fail("no prompt: give -p TEXT, --prompt-file FILE, or pipe the text to stdin");
    text = read_all(stdin, "stdin");
  }
  if (o.escape) text = unescape(text);
  if (text.empty())
    cli::usage_fail("the prompt is empty: give -p TEXT, --prompt-file FILE, or text on stdin");
  return text;
}

struct Printer {
  bool last_was_newline = true;
  size_t bytes = 0;
  int write_errno = 0;  // set when stdout refused a write (full disk, closed pipe): the text stops
};

// Writes `text` to stdout and flushes; false (errno in p->write_errno) when stdout refuses it.
bool write_stdout(Printer* p, const std::string& text) {
  if (p->write_errno) return false;
  errno = 0;
  const bool ok = std::fwrite(text.data(), 1, text.size(), stdout) == text.size() && std::fflush(stdout) == 0;
  if (!ok) p->write_errno = errno ? errno : EIO;
  return ok;
}

// Prompts that take long enough to prefill get a note on stderr before it starts (Ctrl-C stops it).
constexpr size_t kLongPromptTokens = 4096;

const char* stop_name(rwkv::StopReason r) {
  switch (r) {
    case rwkv::StopReason::max_tokens: return "token budget (-n)";
    case rwkv::StopReason::stop_token: return "stop token";
    case rwkv::StopReason::stop_string: return "stop text";
    case rwkv::StopReason::callback: return "interrupted";
  }
  return "?";
}

void check_token_options(const Options& o, int32_t n_vocab) {
  for (const std::vector<int32_t>* ids : {&o.sampling.ban, &o.stop_tokens})
    for (int32_t id : *ids)
      if (id >= n_vocab)
        cli::usage_fail((ids == &o.stop_tokens ? "--stop-token " : "--ban ") + std::to_string(id) +
                        " is outside the model's vocabulary [0, " + std::to_string(n_vocab) + ")");
}

void print_timings(const Options& o, const cli::LoadedModel& lm, size_t n_prompt, const rwkv::GenerateResult& r,
                   uint64_t seed) {
  auto rate = [](size_t n, double s) { return s > 0 ? double(n) / s : 0.0; };
  std::fprintf(stderr, "load:     %.3f s (%s, %s on %s, %s)\n", lm.load_seconds, o.model.path.c_str(),
               lm.dtype.c_str(), lm.device.c_str(), lm.tokenizer->kind());
  if (lm.engine->device_bytes())
    std::fprintf(stderr, "device:   %.1f MiB held: weights %.1f MiB (%.3f GB), workspace and state slots\n",
                 lm.engine->device_bytes() / 1048576.0, lm.engine->device_weight_bytes() / 1048576.0,
                 lm.engine->device_weight_bytes() / 1e9);
  if (lm.engine->max_rows() > 0)
    std::fprintf(stderr, "rounds:   %d token rows per round (%s)\n", lm.engine->max_rows(),
                 lm.engine->max_rows_automatic() ? "automatic, from the free GPU memory" : "--max-rows");
  // An interrupted prompt counts the tokens it consumed.
  std::fprintf(stderr, "prompt:   %zu tokens in %.3f s, %.1f tokens/s (prefill)\n", r.prompt_consumed,
               r.prefill_seconds, rate(r.prompt_consumed, r.prefill_seconds));
  if (o.n_tokens != 0)
    std::fprintf(stderr, "generate: %zu tokens in %.3f s, %.1f tokens/s (decode); stop: %s; seed %llu\n",
                 r.tokens.size(), r.decode_seconds, rate(r.tokens.size(), r.decode_seconds), stop_name(r.reason),
                 static_cast<unsigned long long>(seed));
  if (!o.state_out.empty()) {
    if (r.prompt_consumed < n_prompt)
      std::fprintf(stderr, "state:    saved to %s: the state after the first %zu of the prompt's %zu tokens\n",
                   o.state_out.c_str(), r.prompt_consumed, n_prompt);
    else
      std::fprintf(stderr, "state:    saved to %s\n", o.state_out.c_str());
  }
}

// Saves --state-out with SIGINT/SIGTERM/SIGHUP held, so a second signal cannot
// cut the write short (the file is written atomically anyway: state_file.h).
void save_state_out(rwkv::Engine& engine, const std::string& path) {
  cli::SignalHold hold;
  try {
    engine.save_state(0, path);
  } catch (const rwkv::Error& e) {
    cli::runtime_fail(std::string(e.what()) + " (check the --state-out path)");
  }
}

// The exit code after a signal: 0 for Ctrl-C (a request to stop the text, like a stop
// text), 128 + the signal for SIGTERM and SIGHUP (the shell's code for them).
int exit_code_after_signal() {
  const int sig = cli::interrupt_signal();
  return sig == 0 || sig == SIGINT ? 0 : 128 + sig;
}

int run(Options o, bool state_out_given) {
  if (state_out_given)  // the model, the prompt file or a tokenizer file must not be overwritten
    o.state_out = cli::checked_output_path("--state-out", o.state_out,
                                           {o.model.path, o.prompt_file, o.model.tokenizer}, true);
  const std::string prompt = read_prompt(o);
  cli::LoadedModel lm = cli::load_model_and_tokenizer(o.model, 1);
  rwkv::Engine& engine = *lm.engine;
  check_token_options(o, lm.info.n_vocab);
  if (!o.state_in.empty()) {
    try {
      engine.load_state(0, o.state_in);
    } catch (const rwkv::Error& e) {
      cli::runtime_fail(std::string(e.what()) + " (--state-in takes a file written by --state-out for this model)");
    }
  }

  const rwkv::Tokenizer& tok = *lm.tokenizer;
  const std::string kind = tok.kind();
  rwkv::SamplerParams sp = cli::sampler_params(o.sampling);
  sp.token_stop = o.stop_tokens;
  if (!o.ignore_eos && (kind == "world" || kind == "20b")) sp.token_stop.push_back(0);  // end of text
  const uint64_t seed = o.sampling.seed ? *o.sampling.seed : cli::random_seed();
  sp.seed = seed;
  rwkv::Sampler sampler(sp, rwkv::official_penalty_weight_fn(tok));  // pip's weights (docs/rwkv-math.md section 8.2)

  rwkv::GenerateOptions go;
  go.max_tokens = o.n_tokens < 0 ? size_t(INT32_MAX) : size_t(o.n_tokens);
  go.chunk_len = engine.chunk_len();
  go.stop_strings = o.stops;
  Printer printer;
  auto on_text = [&printer](const std::string& piece) {
    if (!write_stdout(&printer, piece)) return false;
    if (!piece.empty()) printer.last_was_newline = piece.back() == '\n';
    printer.bytes += piece.size();
    return !cli::interrupt_requested();
  };
  go.cancel = [&printer] { return cli::interrupt_requested() || printer.write_errno != 0; };

  // A closed stdout is a write error (EPIPE), not a silent death: the state and timings still follow.
  std::signal(SIGPIPE, SIG_IGN);
  if (o.echo && write_stdout(&printer, prompt)) printer.last_was_newline = prompt.back() == '\n';
  cli::install_interrupt_handler(true, true);
  const std::vector<int32_t> ids = tok.encode(prompt);
  cli::note_replaced_bytes("generate", tok, prompt);
  if (ids.empty()) cli::runtime_fail("generate: the prompt is empty");
  if (!o.quiet && ids.size() >= kLongPromptTokens)
    std::fprintf(stderr, "prefill:  %zu prompt tokens (Ctrl-C stops and keeps the state reached)\n", ids.size());
  rwkv::GenerateResult r;
  cli::check("generate", [&] {
    r = rwkv::generate(engine.backend(), engine.slot(0), engine.state_floats(), tok, sampler, ids, go, on_text);
  });
  // Timings start on a fresh line: on a terminal the newline goes to stdout, else to stderr (stdout
  // keeps exactly the text), just before the first note that follows.
  const bool text_open = (printer.bytes || o.echo) && !printer.last_was_newline && !printer.write_errno;
  if (text_open && isatty(1)) write_stdout(&printer, "\n");
  bool stderr_line_open = text_open && !isatty(1);
  auto fresh_stderr_line = [&stderr_line_open] {
    if (stderr_line_open) std::fputs("\n", stderr);
    stderr_line_open = false;
  };
  if (r.prompt_consumed < ids.size()) {  // said even with -q: the saved state is not the whole prompt's
    fresh_stderr_line();
    std::fprintf(stderr, "rwkv-run generate: interrupted during the prompt, after %zu of its %zu tokens\n",
                 r.prompt_consumed, ids.size());
  }

  if (!o.state_out.empty()) save_state_out(engine, o.state_out);
  if (!o.quiet) {
    fresh_stderr_line();
    print_timings(o, lm, ids.size(), r, seed);
  }
  if (printer.write_errno) cli::runtime_fail(std::string("cannot write to stdout: ") + std::strerror(printer.write_errno));
  return exit_code_after_signal();
}

}  // namespace

int cmd_generate(int argc, char** argv) {
  Options o;
  cli::Command cmd("generate",
                   "Continues the prompt and streams the text to stdout. Without -p or --prompt-file the prompt\n"
                   "is read from stdin. On stderr at the end: load time, prompt tokens and prefill tokens/s,\n"
                   "generated tokens and decode tokens/s.");
  CLI::Option* prompt = add_options(cmd, o);
  return cmd.run([&] {
    if (!cmd.parse(argc, argv)) return 0;
    cli::finish_model_options(o.model, "rwkv-run generate -m MODEL -p PROMPT");
    o.have_prompt = prompt->count() > 0;
    return run(o, cmd.app().count("--state-out") > 0);
  });
}
