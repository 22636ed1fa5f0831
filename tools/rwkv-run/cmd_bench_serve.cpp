// tools/rwkv-run/cmd_bench_serve.cpp: `rwkv-run bench-serve`, the server's load
// benchmark (server/load_client.h): N concurrent streaming chat clients x M
// requests, throughput, time to first token and inter-token latency
// percentiles. Against a running server (--host/--port), or with -m MODEL
// against servers it starts in this process, once without and once with the
// prefix cache, on the same engine (docs/server.md, "Load benchmark").
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "cli_args.h"
#include "cli_model.h"
#include "commands.h"
#include "server/http_server.h"
#include "server/load_client.h"
#include "server/scheduler.h"

namespace {

struct Options {
  cli::ModelOptions model;
  bool have_model = false;
  rwkv::server::LoadOptions load;
  int slots = 8;
  size_t cache_mib = 256;
  int system_words = 150;
};

std::string system_prompt(int words) {
  static const char* const kText[] = {"You", "are", "a", "careful", "assistant.", "Answer", "each", "question",
                                      "in", "plain", "words,", "briefly,", "and", "say", "when", "unsure."};
  std::string s;
  for (int i = 0; i < words; ++i) s += std::string(i ? " " : "") + kText[i % 16];
  return s;
}

void print_row(const char* label, const rwkv::server::LoadResult& r) {
  std::printf("| %-9s | %3d | %3d | %8.1f | %7.1f | %7.1f | %7.1f | %6.1f | %6.1f | %6.1f | %7zu | %7zu | %7zu |\n",
              label, r.ok, r.failed, r.tokens_per_second(), r.ttft_ms.p50, r.ttft_ms.p90, r.ttft_ms.p99, r.itl_ms.p50,
              r.itl_ms.p90, r.itl_ms.p99, r.prompt_tokens, r.cached_tokens, r.completion_tokens);
  if (r.failed) std::printf("  first error: %s\n", r.first_error.c_str());
}

void print_header(const Options& o) {
  std::printf("rwkv-run bench-serve: %d clients x %d streamed chat requests, max_tokens %d, a shared system prompt of "
              "%d words\n",
              o.load.clients, o.load.requests, o.load.max_tokens, o.system_words);
  std::printf("| run       |  ok | err |    tok/s | TTFT ms p50 |     p90 |     p99 | ITL ms p50 |    p90 |    p99 | "
              "prompt | cached | generated |\n");
}

// A server in this process on a free port for the load, then stopped.
rwkv::server::LoadResult run_in_process(Options& o, cli::LoadedModel& lm, size_t cache_mib) {
  rwkv::server::Metrics metrics;
  rwkv::server::SchedulerOptions so;
  so.chunk_len = lm.engine->chunk_len();
  so.cache_bytes = cache_mib << 20;
  so.queue_limit = (size_t)(o.load.clients + 16);
  rwkv::server::Scheduler scheduler(*lm.engine, *lm.tokenizer, so, &metrics);
  rwkv::server::HttpOptions ho;
  ho.port = 0;
  ho.threads = o.load.clients + 8;
  rwkv::server::HttpServer http(scheduler, *lm.tokenizer, metrics, ho);
  o.load.port = http.bind();
  o.load.host = "127.0.0.1";
  o.load.model.clear();
  std::thread serving([&http] { http.serve(); });
  const rwkv::server::LoadResult r = rwkv::server::run_load(o.load);
  scheduler.shutdown(std::chrono::milliseconds(0));
  http.stop();
  serving.join();
  return r;
}

int run(Options& o) {
  o.load.system_prompt = system_prompt(o.system_words);
  if (!o.have_model) {
    print_header(o);
    print_row("server", rwkv::server::run_load(o.load));
    return 0;
  }
  cli::LoadedModel lm = cli::load_model_and_tokenizer(o.model, o.slots);
  std::printf("model: %s (RWKV-%s, %s on %s), %d slots\n", o.model.path.c_str(), lm.version.c_str(),
              lm.dtype.c_str(), lm.device.c_str(), o.slots);
  print_header(o);
  print_row("no cache", run_in_process(o, lm, 0));
  print_row("cache", run_in_process(o, lm, o.cache_mib));
  return 0;
}

void add_load_options(CLI::App& app, Options& o) {
  auto integer = [&app](const char* name, int& dst, long long lo, long long hi, const char* help) {
    app.add_option_function<std::string>(
           name, [&dst, name, lo, hi](const std::string& v) { dst = (int)cli::parse_int(name, v, lo, hi); }, help)
        ->type_name("N");
  };
  integer("--clients", o.load.clients, 1, 1024, "concurrent clients (default 8)");
  integer("--requests", o.load.requests, 1, 1 << 20, "requests per client, one after another (default 4)");
  integer("--max-tokens", o.load.max_tokens, 1, 1 << 20, "max_tokens of each request (default 64)");
  integer("--system-words", o.system_words, 0, 1 << 20, "words of the shared system prompt (default 150)");
  integer("--question-words", o.load.question_words, 0, 1 << 20, "words of each request's own question (default 12)");
  integer("--slots", o.slots, 1, 4096, "with -m: the server's state slots (default 8)");
  integer("--port", o.load.port, 1, 65535, "without -m: the server's port (default 8080)");
  app.add_option("--host", o.load.host, "without -m: the server's address (default 127.0.0.1)");
  app.add_option("--api-key", o.load.api_key, "sent as Authorization: Bearer KEY")->envname("RWKV_API_KEY");
  app.add_option("--model-id", o.load.model, "without -m: the requests' \"model\" (default: left out)");
  app.add_option_function<std::string>(
         "--cache-mib", [&o](const std::string& v) { o.cache_mib = (size_t)cli::parse_int("--cache-mib", v, 1, 1 << 24); },
         "with -m: the prefix cache of the second run, MiB (default 256)")
      ->type_name("MIB");
}

}  // namespace

int cmd_bench_serve(int argc, char** argv) {
  Options o;
  cli::Command cmd("bench-serve",
                   "Load benchmark of rwkv-run serve: concurrent streaming chat clients sharing a system prompt;\n"
                   "throughput, time to first token and inter-token latency (p50/p90/p99). With -m MODEL it\n"
                   "serves the model itself, without and with the prefix cache; else it loads --host:--port.");
  cli::add_model_options(cmd.app(), o.model);
  add_load_options(cmd.app(), o);
  return cmd.run([&] {
    if (!cmd.parse(argc, argv)) return 0;
    o.have_model = !o.model.model.path().empty();
    if (o.have_model) cli::finish_model_options(o.model, "rwkv-run bench-serve -m MODEL");
    return run(o);
  });
}
