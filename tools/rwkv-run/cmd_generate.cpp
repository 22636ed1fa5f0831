// tools/rwkv-run/cmd_generate.cpp: `rwkv-run generate`, a prompt's
// continuation streamed to stdout, on the C API (rwkv_generate). Timings go to
// stderr: load time, prompt tokens and prefill speed, generated tokens and
// decode speed.
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cli_interrupt.h"
#include "cli_model.h"
#include "commands.h"

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
};

int on_text(const char* text, size_t len, void* user) {
  auto* p = static_cast<Printer*>(user);
  std::fwrite(text, 1, len, stdout);
  std::fflush(stdout);
  if (len) p->last_was_newline = text[len - 1] == '\n';
  p->bytes += len;
  return cli::interrupt_requested() ? 1 : 0;
}

const char* stop_name(rwkv_stop_reason r) {
  switch (r) {
    case RWKV_STOP_MAX_TOKENS: return "token budget (-n)";
    case RWKV_STOP_TOKEN: return "stop token";
    case RWKV_STOP_STRING: return "stop text";
    case RWKV_STOP_CALLBACK: return "interrupted";
  }
  return "?";
}

int run(const Options& o) {
  const std::string prompt = read_prompt(o);
  cli::LoadedModel lm = cli::load_model_and_tokenizer(o.model, 1);
  cli::note_auto_device("generate", o.model.requested_device, lm.info.device);
  rwkv_model* model = lm.model.get();
  const int32_t V = lm.info.n_vocab;
  for (const std::vector<int32_t>* ids : {&o.sampling.ban, &o.stop_tokens})
    for (int32_t id : *ids)
      if (id >= V)
        cli::usage_fail((ids == &o.stop_tokens ? "--stop-token " : "--ban ") + std::to_string(id) +
                        " is outside the model's vocabulary [0, " + std::to_string(V) + ")");

  if (!o.state_in.empty()) {
    if (rwkv_state_load(model, 0, o.state_in.c_str()) != RWKV_OK)
      cli::runtime_fail(std::string(rwkv_model_last_error(model)) + " (--state-in takes a file written by --state-out for this model)");
  }

  const std::string kind = rwkv_tokenizer_kind(lm.tokenizer.get());
  std::vector<int32_t> stop_tokens = o.stop_tokens;
  if (!o.ignore_eos && (kind == "world" || kind == "20b")) stop_tokens.push_back(0);  // end of text
  rwkv_sampler_params sp = rwkv_sampler_default_params();
  sp.temperature = o.sampling.temp;
  sp.top_p = o.sampling.top_p;
  sp.top_k = o.sampling.top_k;
  sp.alpha_presence = o.sampling.presence;
  sp.alpha_frequency = o.sampling.frequency;
  sp.alpha_decay = o.sampling.decay;
  sp.banned_tokens = o.sampling.ban.data();
  sp.n_banned_tokens = o.sampling.ban.size();
  sp.stop_tokens = stop_tokens.data();
  sp.n_stop_tokens = stop_tokens.size();
  const uint64_t seed = o.sampling.seed ? *o.sampling.seed : cli::random_seed();
  sp.seed = seed;
  sp.tokenizer = lm.tokenizer.get();  // pip's penalty weights (rwkv-spec.md 8.2)
  cli::SamplerPtr sampler = cli::make_sampler(sp);

  std::vector<const char*> stops;
  for (const std::string& s : o.stops) stops.push_back(s.c_str());
  Printer printer;
  rwkv_generate_params gp = rwkv_generate_default_params();
  gp.max_tokens = o.n_tokens < 0 ? INT32_MAX : int32_t(o.n_tokens);
  gp.stop_strings = stops.data();
  gp.n_stop_strings = stops.size();
  gp.on_text = on_text;
  gp.user_data = &printer;

  if (o.echo) {
    std::fwrite(prompt.data(), 1, prompt.size(), stdout);
    std::fflush(stdout);
  }
  cli::install_interrupt_handler(true);
  rwkv_generate_result r{};
  cli::check(rwkv_generate(model, 0, lm.tokenizer.get(), sampler.get(), prompt.data(), prompt.size(), &gp, &r),
             model, "generate");
  if (isatty(1) && (printer.bytes || o.echo) && !printer.last_was_newline) std::fputs("\n", stdout);
  std::fflush(stdout);

  if (!o.state_out.empty() && rwkv_state_save(model, 0, o.state_out.c_str()) != RWKV_OK)
    cli::runtime_fail(std::string(rwkv_model_last_error(model)) + " (check the --state-out path)");

  if (!o.quiet) {
    auto rate = [](size_t n, double s) { return s > 0 ? double(n) / s : 0.0; };
    std::fprintf(stderr, "load:     %.3f s (%s, %s on %s, %s)\n", lm.load_seconds, o.model.path.c_str(),
                 lm.info.dtype, lm.info.device, kind.c_str());
    if (lm.info.device_bytes)
      std::fprintf(stderr, "device:   %.1f MiB held (weights, workspace, state slots)\n",
                   lm.info.device_bytes / 1048576.0);
    std::fprintf(stderr, "prompt:   %zu tokens in %.3f s, %.1f tokens/s (prefill)\n", r.n_prompt_tokens,
                 r.prefill_seconds, rate(r.n_prompt_tokens, r.prefill_seconds));
    if (o.n_tokens != 0)
      std::fprintf(stderr, "generate: %zu tokens in %.3f s, %.1f tokens/s (decode); stop: %s; seed %llu\n",
                   r.n_tokens, r.decode_seconds, rate(r.n_tokens, r.decode_seconds), stop_name(r.stop_reason),
                   static_cast<unsigned long long>(seed));
    if (!o.state_out.empty()) std::fprintf(stderr, "state:    saved to %s\n", o.state_out.c_str());
  }
  return 0;
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
    return run(o);
  });
}
