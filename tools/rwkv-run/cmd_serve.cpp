// tools/rwkv-run/cmd_serve.cpp: `rwkv-run serve -m MODEL`, the OpenAI-compatible
// HTTP server (server/http_server.h) over continuous batching on the engine's
// state slots (server/scheduler.h). docs/server.md has the API and the design.
//
// Signals: SIGINT, SIGTERM and SIGHUP stop accepting requests (/health says
// "shutting down", new requests get 503), let running generations finish for
// --shutdown-grace seconds, cancel the rest, and exit 0. SIGPIPE is ignored
// (a client that went away is a failed write, which cancels its sequence).
#include <signal.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "cli_args.h"
#include "cli_interrupt.h"
#include "cli_model.h"
#include "commands.h"
#include "server/http_server.h"
#include "server/scheduler.h"

namespace {

struct Options {
  cli::ModelOptions model;
  rwkv::server::HttpOptions http;
  rwkv::server::SchedulerOptions sched;
  int slots = 8;
  size_t cache_mib = 256;
  double grace_s = 10;
  std::string alias;
};

void add_network_options(CLI::App& app, Options& o) {
  const char* group = "server";
  app.add_option("--host", o.http.host, "address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)")
      ->type_name("ADDR")
      ->group(group);
  app.add_option_function<std::string>(
         "--port", [&o](const std::string& v) { o.http.port = (int)cli::parse_int("--port", v, 0, 65535); },
         "TCP port (default 8080; 0: any free port, printed on stderr)")
      ->type_name("N")
      ->group(group);
  app.add_option("--api-key", o.http.api_key, "ask every request for Authorization: Bearer KEY (default: none)")
      ->type_name("KEY")
      ->envname("RWKV_API_KEY")
      ->group(group);
  app.add_option("--alias", o.alias, "the model's id in the API (default: the file name without extension)")
      ->type_name("NAME")
      ->group(group);
  app.add_option_function<std::string>(
         "--max-body",
         [&o](const std::string& v) { o.http.max_body = (size_t)cli::parse_int("--max-body", v, 1024, 1LL << 30); },
         "largest request body in bytes; larger: 413 (default 1048576)")
      ->type_name("BYTES")
      ->group(group);
  app.add_option_function<std::string>(
         "--shutdown-grace", [&o](const std::string& v) { o.grace_s = cli::parse_double("--shutdown-grace", v, 0, 3600); },
         "seconds running requests may finish after SIGINT/SIGTERM (default 10)")
      ->type_name("S")
      ->group(group);
}

void add_batch_options(CLI::App& app, Options& o) {
  const char* group = "batching";
  app.add_option_function<std::string>(
         "--slots", [&o](const std::string& v) { o.slots = (int)cli::parse_int("--slots", v, 1, 4096); },
         "sequences generated at once, one state slot each (default 8)")
      ->type_name("N")
      ->group(group);
  app.add_option_function<std::string>(
         "--queue", [&o](const std::string& v) { o.sched.queue_limit = (size_t)cli::parse_int("--queue", v, 0, 1 << 20); },
         "requests that may wait for a slot; beyond: 503 with Retry-After (default 64)")
      ->type_name("N")
      ->group(group);
  app.add_option_function<std::string>(
         "--cache-mib", [&o](const std::string& v) { o.cache_mib = (size_t)cli::parse_int("--cache-mib", v, 0, 1 << 24); },
         "prefix state cache in MiB, host memory; 0: none (default 256)")
      ->type_name("MIB")
      ->group(group);
  app.add_option_function<std::string>(
         "--step-tokens",
         [&o](const std::string& v) { o.sched.step_prefill_tokens = (size_t)cli::parse_int("--step-tokens", v, 1, 1 << 20); },
         "prompt tokens fed per step, all new requests together (default 512)")
      ->type_name("N")
      ->group(group);
  app.add_option_function<std::string>(
         "--max-prompt-tokens",
         [&o](const std::string& v) { o.http.max_prompt_tokens = (size_t)cli::parse_int("--max-prompt-tokens", v, 1, 1 << 24); },
         "longest prompt accepted, in tokens; longer: 400 (default 65536)")
      ->type_name("N")
      ->group(group);
  app.add_option_function<std::string>(
         "--max-tokens",
         [&o](const std::string& v) { o.http.defaults.max_tokens_limit = (size_t)cli::parse_int("--max-tokens", v, 1, 1 << 24); },
         "largest max_tokens a request may ask (default 16384)")
      ->type_name("N")
      ->group(group);
}

void add_default_sampling(CLI::App& app, Options& o) {
  const char* group = "sampling defaults (for requests that leave a field out)";
  rwkv::server::RequestDefaults& d = o.http.defaults;
  auto number = [&app, group](const char* name, double& dst, double lo, double hi, const char* help) {
    app.add_option_function<std::string>(
           name, [&dst, name, lo, hi](const std::string& v) { dst = cli::parse_double(name, v, lo, hi); }, help)
        ->type_name("X")
        ->group(group);
  };
  number("--temp", d.temperature, 0, 2, "temperature (default 1)");
  number("--top-p", d.top_p, 0, 1, "nucleus (default 0.85)");
  number("--presence", d.presence_penalty, -2, 2, "presence penalty (default 0.2)");
  number("--frequency", d.frequency_penalty, -2, 2, "frequency penalty (default 0.2)");
  number("--decay", d.penalty_decay, 0, 1, "penalty decay per token (default 0.996)");
  app.add_option_function<std::string>(
         "--top-k", [&d](const std::string& v) { d.top_k = (int)cli::parse_int("--top-k", v, 0, INT32_MAX); },
         "keep the N most likely tokens; 0 = all (default 0)")
      ->type_name("N")
      ->group(group);
}

std::string default_alias(const std::string& path) {
  std::string name = path.substr(path.find_last_of('/') + 1);
  const size_t dot = name.find_last_of('.');
  return dot == std::string::npos || dot == 0 ? name : name.substr(0, dot);
}

// Polls for a stop signal until `done`; on one, drains and stops the server.
void watch_signals(std::atomic<bool>& done, rwkv::server::Scheduler& scheduler, rwkv::server::HttpServer& http,
                   double grace_s) {
  while (!done.load()) {
    const int sig = cli::interrupt_signal();
    if (sig == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    std::fprintf(stderr, "rwkv-run serve: %s: finishing running requests (up to %g s), then exiting\n",
                 strsignal(sig), grace_s);
    http.set_draining();
    scheduler.shutdown(std::chrono::milliseconds((long long)(grace_s * 1000)));
    http.stop();
    return;
  }
}

int run(Options& o) {
  cli::install_interrupt_handler(false, true);  // SIGINT, SIGTERM, SIGHUP set a flag the watcher polls
  signal(SIGPIPE, SIG_IGN);
  cli::LoadedModel lm = cli::load_model_and_tokenizer(o.model, o.slots);
  o.http.model_id = o.alias.empty() ? default_alias(o.model.path) : o.alias;
  o.http.threads = o.slots + (int)std::min<size_t>(o.sched.queue_limit, 1024) + 8;
  o.sched.chunk_len = lm.engine->chunk_len();
  o.sched.cache_bytes = o.cache_mib << 20;
  rwkv::server::Metrics metrics;
  rwkv::server::Scheduler scheduler(*lm.engine, *lm.tokenizer, o.sched, &metrics);
  rwkv::server::HttpServer http(scheduler, *lm.tokenizer, metrics, o.http);
  int port = 0;
  try {
    port = http.bind();
  } catch (const rwkv::Error& e) {
    cli::runtime_fail(std::string(e.what()) + " (choose another --port or --host)");
  }
  std::fprintf(stderr,
               "rwkv-run serve: listening on http://%s:%d (model '%s', RWKV-%s, %s on %s, %d slots, queue %zu, "
               "prefix cache %zu MiB)\n",
               o.http.host.c_str(), port, o.http.model_id.c_str(), lm.version.c_str(), lm.dtype.c_str(),
               lm.device.c_str(), o.slots, o.sched.queue_limit, o.cache_mib);
  std::atomic<bool> done{false};
  std::thread watcher([&] { watch_signals(done, scheduler, http, o.grace_s); });
  http.serve();
  done.store(true);
  watcher.join();
  scheduler.shutdown(std::chrono::milliseconds(0));
  std::fprintf(stderr, "rwkv-run serve: stopped\n");
  return 0;
}

}  // namespace

int cmd_serve(int argc, char** argv) {
  Options o;
  cli::Command cmd("serve",
                   "An OpenAI-compatible HTTP server: POST /v1/completions and /v1/chat/completions (stream or\n"
                   "not), GET /v1/models, /health and /metrics; requests share the model through continuous\n"
                   "batching on --slots state slots, with a prefix state cache (docs/server.md).");
  cli::add_model_options(cmd.app(), o.model);
  add_network_options(cmd.app(), o);
  add_batch_options(cmd.app(), o);
  add_default_sampling(cmd.app(), o);
  cmd.app().footer("SIGINT/SIGTERM: stop accepting, finish running requests (--shutdown-grace), exit 0.");
  return cmd.run([&] {
    if (!cmd.parse(argc, argv)) return 0;
    cli::finish_model_options(o.model, "rwkv-run serve -m MODEL [--port 8080]");
    return run(o);
  });
}
