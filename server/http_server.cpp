// server/http_server.cpp: see http_server.h.
#include "server/http_server.h"
#include "server/http_util.h"

#include <sys/socket.h>

#include <ctime>
#include <nlohmann/json.hpp>

#include "runtime/core/error.h"

namespace rwkv {
namespace server {

namespace {

using json = nlohmann::json;

// The metric label of a path: known endpoints by name, anything else "other" (a bounded set).
std::string endpoint_label(const std::string& path) {
  for (const char* p : {"/v1/completions", "/v1/chat/completions", "/v1/models", "/health", "/metrics"})
    if (path == p) return p;
  return "other";
}

// cpp-httplib listens with a backlog of 5 (compiled into Debian's libcpp-httplib): a burst of
// connections beyond it waits for SYN retries and, under load, some fail. listen() again on the
// bound socket sets the backlog that the kernel keeps.
class ListeningServer : public httplib::Server {
 public:
  void raise_backlog(int backlog) { ::listen(svr_sock_, backlog); }
};

}  // namespace

HttpServer::HttpServer(Scheduler& scheduler, const Tokenizer& tokenizer, Metrics& metrics, HttpOptions options)
    : scheduler_(scheduler), tokenizer_(tokenizer), metrics_(metrics), opt_(std::move(options)),
      http_(std::make_unique<ListeningServer>()) {
  routes();
}

HttpServer::~HttpServer() { stop(); }

int HttpServer::bind() {
  int port = opt_.port;
  if (port == 0) {
    port = http_->bind_to_any_port(opt_.host);
    if (port <= 0) throw Error("serve: cannot listen on " + opt_.host + " (any port)");
  } else if (!http_->bind_to_port(opt_.host, port)) {
    throw Error("serve: cannot listen on " + opt_.host + ":" + std::to_string(port) +
                " (address in use, or not an address of this machine)");
  }
  static_cast<ListeningServer&>(*http_).raise_backlog(1024);
  return port;
}

void HttpServer::serve() { http_->listen_after_bind(); }

void HttpServer::stop() {
  if (http_) http_->stop();
}

void HttpServer::routes() {
  httplib::Server& s = *http_;
  const size_t threads = (size_t)std::max(1, opt_.threads);
  s.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  s.set_payload_max_length(opt_.max_body);
  // SO_REUSEADDR only: cpp-httplib's default also sets SO_REUSEPORT, which would let a second
  // server bind the same port silently and take half of its connections.
  s.set_socket_options([](int sock) {
    const int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  s.set_read_timeout(30);
  s.set_write_timeout(30);
  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (opt_.api_key.empty() || req.path == "/health") return httplib::Server::HandlerResponse::Unhandled;
    if (req.get_header_value("Authorization") == "Bearer " + opt_.api_key)
      return httplib::Server::HandlerResponse::Unhandled;
    send_error(res, 401, "authentication_error", "invalid or missing API key (send Authorization: Bearer KEY)", "",
               "invalid_api_key");
    return httplib::Server::HandlerResponse::Handled;
  });
  s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    const int status = res.status;
    std::string message = "HTTP error " + std::to_string(status);
    if (status == 404) message = "no endpoint " + req.method + " " + req.path;
    if (status == 413) message = "the request body is larger than the server's limit (--max-body)";
    if (status == 400) message = "malformed HTTP request";
    send_error(res, status, "invalid_request_error", message);
  });
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    send_error(res, 500, "server_error", "internal error: " + what);
  });
  s.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    metrics_.count_request(endpoint_label(req.path), res.status);
  });
  s.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    res.status = draining_.load() ? 503 : 200;
    res.set_content(json{{"status", draining_.load() ? "shutting down" : "ok"}}.dump(), "application/json");
  });
  s.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    const json model{{"id", opt_.model_id}, {"object", "model"}, {"created", (long long)std::time(nullptr)},
                     {"owned_by", "rwkv-run"}};
    res.set_content(json{{"object", "list"}, {"data", json::array({model})}}.dump(), "application/json");
  });
  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_.prometheus(scheduler_.stats(), scheduler_.cache_stats()), "text/plain; version=0.0.4");
  });
  s.Post("/v1/completions",
         [this](const httplib::Request& req, httplib::Response& res) { completions(req.body, false, &res); });
  s.Post("/v1/chat/completions",
         [this](const httplib::Request& req, httplib::Response& res) { completions(req.body, true, &res); });
}

}  // namespace server
}  // namespace rwkv
