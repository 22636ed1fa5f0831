// server/http_server.h: the OpenAI-compatible HTTP front of `rwkv-run serve`
// (docs/server.md): POST /v1/completions and /v1/chat/completions (JSON or
// server-sent events), GET /v1/models, /health and /metrics, on cpp-httplib.
//
// A request is parsed and checked (api_request.h), tokenized, and handed to
// the Scheduler; its HTTP thread then waits for the sequence's events and
// writes them (a streamed request: one SSE chunk per UTF-8-complete piece, a
// ": ping" comment every ping interval while nothing comes, so a client that
// went away is noticed and its sequence cancelled). Errors are OpenAI-style
// JSON objects: 400 bad request, 401 without the API key, 404 unknown model
// or path, 413 body over the limit, 503 queue full or shutting down
// (with Retry-After), 500 a failed step.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "runtime/tokenizer/tokenizer.h"
#include "server/api_request.h"
#include "server/metrics.h"
#include "server/scheduler.h"

namespace httplib {
class Server;
}

namespace rwkv {
namespace server {

struct HttpOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                     // 0: any free port (bind() returns it)
  std::string api_key;                 // "": no key asked
  size_t max_body = 1 << 20;           // bytes of a request body; larger: 413
  std::string model_id = "rwkv";       // the one model of GET /v1/models
  size_t max_prompt_tokens = 65536;    // longer prompts: 400
  RequestDefaults defaults;
  int threads = 64;                    // HTTP worker threads (each streamed request holds one)
  int ping_ms = 1000;                  // SSE keep-alive comment interval while a sequence is silent
};

class HttpServer {
 public:
  HttpServer(Scheduler& scheduler, const Tokenizer& tokenizer, Metrics& metrics, HttpOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds host:port; returns the port. Throws rwkv::Error naming the address when it cannot.
  int bind();
  // Answers requests until stop(); returns then.
  void serve();
  // Stops listening and returns once the running handlers have answered (call after the
  // scheduler's shutdown, so that they have). Safe from any thread.
  void stop();
  // /health answers 503 "shutting down" from now on.
  void set_draining() { draining_.store(true); }

 private:
  void routes();
  void completions(const std::string& body, bool chat, void* response);
  GenerationRequest to_generation(const ApiRequest& a) const;

  Scheduler& scheduler_;
  const Tokenizer& tokenizer_;
  Metrics& metrics_;
  HttpOptions opt_;
  std::unique_ptr<httplib::Server> http_;
  std::atomic<bool> draining_{false};
  std::atomic<uint64_t> next_id_{1};
};

}  // namespace server
}  // namespace rwkv
