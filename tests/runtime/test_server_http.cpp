// tests/runtime/test_server_http.cpp: the HTTP front (server/http_server.h) in
// this process on 127.0.0.1 and a free port, with cpp-httplib's client: each
// endpoint, streamed and whole answers equal to rwkv::generate, the errors
// (400, 401, 404, 413, 503), a client leaving mid-stream, 32 concurrent
// streams each equal to its solo run, and /metrics.
#include <catch2/catch.hpp>
#include <httplib.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "server/http_server.h"
#include "server/http_util.h"
#include "server_test_util.h"

using json = nlohmann::json;
using namespace server_test;
using rwkv::server::HttpOptions;
using rwkv::server::HttpServer;
using rwkv::server::Scheduler;
using rwkv::server::SchedulerOptions;

namespace {

// A server on a free port, running until the end of the scope.
struct LiveServer {
  LiveServer(const TinyModel& m, int slots, HttpOptions ho = {}, SchedulerOptions so = {})
      : engine(m.engine(slots)) {
    ho.port = 0;
    ho.model_id = "tiny";
    ho.ping_ms = 100;
    so.chunk_len = engine->chunk_len();
    scheduler = std::make_unique<Scheduler>(*engine, *m.tokenizer, so, &metrics);
    http = std::make_unique<HttpServer>(*scheduler, *m.tokenizer, metrics, ho);
    port = http->bind();
    thread = std::thread([this] { http->serve(); });
  }
  ~LiveServer() {
    scheduler->shutdown(std::chrono::milliseconds(0));
    http->stop();
    thread.join();
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(60);
    return c;
  }
  std::unique_ptr<rwkv::Engine> engine;
  rwkv::server::Metrics metrics;
  std::unique_ptr<Scheduler> scheduler;
  std::unique_ptr<HttpServer> http;
  int port = 0;
  std::thread thread;
};

json post(const LiveServer& s, const std::string& path, const json& body, int* status = nullptr,
          const httplib::Headers& headers = {}) {
  auto res = s.client().Post(path.c_str(), headers, body.dump(), "application/json");
  REQUIRE(res);
  if (status) *status = res->status;
  return json::parse(res->body);
}

// The text of a streamed answer (its "data:" lines); *finish gets the last finish_reason.
std::string stream_text(const std::string& sse, bool chat, std::string* finish, bool* done) {
  std::string text;
  size_t at = 0;
  *done = false;
  while ((at = sse.find("data: ", at)) != std::string::npos) {
    const size_t end = sse.find("\n\n", at);
    const std::string data = sse.substr(at + 6, end - at - 6);
    at = end;
    if (data == "[DONE]") {
      *done = true;
      continue;
    }
    const json j = json::parse(data);
    if (j["choices"].empty()) continue;
    const json& c = j["choices"][0];
    if (!c["finish_reason"].is_null()) *finish = c["finish_reason"];
    if (!chat) text += c["text"].get<std::string>();
    else if (c["delta"].contains("content")) text += c["delta"]["content"].get<std::string>();
  }
  return text;
}

json completion(const std::string& prompt, uint64_t seed, int max_tokens, bool stream = false) {
  return json{{"model", "tiny"}, {"prompt", prompt}, {"seed", seed}, {"max_tokens", max_tokens},
              {"temperature", 1.0}, {"top_p", 0.85}, {"presence_penalty", 0.2}, {"frequency_penalty", 0.2},
              {"stream", stream}};
}

rwkv::server::GenerationRequest same_request(const TinyModel& m, const std::string& prompt, uint64_t seed, int n) {
  auto r = request(*m.tokenizer, prompt, seed, n);
  r.sampling.top_p = 0.85;
  r.sampling.alpha_presence = 0.2;
  r.sampling.alpha_frequency = 0.2;
  return r;
}

}  // namespace

TEST_CASE("server http: health, models, completions whole and streamed equal rwkv::generate", "[server]") {
  TinyModel m;
  LiveServer s(m, 2);
  auto health = s.client().Get("/health");
  REQUIRE(health);
  CHECK(health->status == 200);
  CHECK(json::parse(health->body)["status"] == "ok");
  auto models = s.client().Get("/v1/models");
  REQUIRE(models);
  CHECK(json::parse(models->body)["data"][0]["id"] == "tiny");

  const std::string want = reference_text(m, same_request(m, "Once upon a time", 42, 24));
  int status = 0;
  const json whole = post(s, "/v1/completions", completion("Once upon a time", 42, 24), &status);
  CHECK(status == 200);
  CHECK(whole["object"] == "text_completion");
  CHECK(whole["choices"][0]["text"] == want);
  CHECK(whole["choices"][0]["finish_reason"] == "length");
  CHECK(whole["usage"]["completion_tokens"] == 24);
  CHECK(whole["usage"]["prompt_tokens"] == 16);
  CHECK(whole["usage"]["total_tokens"] == 40);

  auto res = s.client().Post("/v1/completions", completion("Once upon a time", 42, 24, true).dump(), "application/json");
  REQUIRE(res);
  CHECK(res->get_header_value("Content-Type") == "text/event-stream");
  std::string finish;
  bool done = false;
  CHECK(stream_text(res->body, false, &finish, &done) == want);
  CHECK(finish == "length");
  CHECK(done);
}

TEST_CASE("server http: chat completions, stop strings, usage in the stream", "[server]") {
  TinyModel m;
  LiveServer s(m, 2);
  const json body{{"messages", {{{"role", "user"}, {"content", "Hi"}}}}, {"seed", 1}, {"max_tokens", 30},
                  {"temperature", 1.0}, {"stop", "e"}};
  int status = 0;
  const json whole = post(s, "/v1/chat/completions", body, &status);
  CHECK(status == 200);
  CHECK(whole["object"] == "chat.completion");
  const std::string text = whole["choices"][0]["message"]["content"];
  CHECK(whole["choices"][0]["message"]["role"] == "assistant");
  CHECK(text.find('e') == std::string::npos);
  CHECK(text.find("\n\n") == std::string::npos);
  json streamed = body;
  streamed["stream"] = true;
  streamed["stream_options"] = {{"include_usage", true}};
  auto res = s.client().Post("/v1/chat/completions", streamed.dump(), "application/json");
  REQUIRE(res);
  std::string finish;
  bool done = false;
  CHECK(stream_text(res->body, true, &finish, &done) == text);
  CHECK(finish == whole["choices"][0]["finish_reason"]);
  CHECK(res->body.find("\"usage\"") != std::string::npos);
  CHECK(res->body.find("\"role\":\"assistant\"") != std::string::npos);
}

TEST_CASE("server http: 400, 401, 404 and 413 answers are OpenAI error objects", "[server]") {
  TinyModel m;
  HttpOptions ho;
  ho.api_key = "sesame";
  ho.max_body = 4096;
  LiveServer s(m, 1, ho);
  const httplib::Headers key = {{"Authorization", "Bearer sesame"}};
  int status = 0;
  json e = post(s, "/v1/completions", completion("x", 1, 2), &status);
  CHECK(status == 401);
  CHECK(e["error"]["type"] == "authentication_error");
  e = post(s, "/v1/completions", completion("x", 1, 2), &status, {{"Authorization", "Bearer wrong"}});
  CHECK(status == 401);
  CHECK(s.client().Get("/health")->status == 200);  // no key needed
  e = post(s, "/v1/completions", json{{"prompt", "x"}, {"temperature", 9}}, &status, key);
  CHECK(status == 400);
  CHECK(e["error"]["param"] == "temperature");
  auto bad = s.client().Post("/v1/completions", key, "{not json", "application/json");
  REQUIRE(bad);
  CHECK(bad->status == 400);
  CHECK(json::parse(bad->body)["error"]["type"] == "invalid_request_error");
  e = post(s, "/v1/completions", json{{"prompt", "x"}, {"model", "gpt-4"}}, &status, key);
  CHECK(status == 404);
  CHECK(e["error"]["code"] == "model_not_found");
  auto nowhere = s.client().Get("/v1/nowhere", key);
  REQUIRE(nowhere);
  CHECK(nowhere->status == 404);
  CHECK(json::parse(nowhere->body)["error"]["message"].get<std::string>().find("/v1/nowhere") != std::string::npos);
  auto big = s.client().Post("/v1/completions", key, std::string(5000, ' ') + "{}", "application/json");
  REQUIRE(big);
  CHECK(big->status == 413);
  e = post(s, "/v1/completions", json{{"prompt", json::array({300})}}, &status, key);
  CHECK(status == 400);  // a token outside the 256-token vocabulary
  auto invalid_utf8 = s.client().Post("/v1/completions", key, "{\"prompt\":\"x\",\"stop\":\"\xff\"}", "application/json");
  REQUIRE(invalid_utf8);
  CHECK(invalid_utf8->status == 400);
}

TEST_CASE("server http: 503 with Retry-After when every slot and the queue are taken, and a client leaving frees its slot",
          "[server]") {
  TinyModel m;
  SchedulerOptions so;
  so.queue_limit = 0;
  LiveServer s(m, 1, {}, so);
  // A stream that never ends by itself holds the only slot; while it runs another request is
  // refused with 503; then its client goes away.
  httplib::Client c = s.client();
  int busy_status = 0;
  std::string retry_after;
  rwkv::server::post_stream(c, "/v1/completions", {}, completion("loop", 5, 16000, true).dump(),
         [&](const char*, size_t) {
           auto busy = s.client().Post("/v1/completions", completion("x", 1, 2).dump(), "application/json");
           if (busy) {
             busy_status = busy->status;
             retry_after = busy->get_header_value("Retry-After");
           }
           return false;  // the client leaves after the first chunk
         });
  CHECK(busy_status == 503);
  CHECK(retry_after == "1");
  // The server notices at its next write and frees the slot.
  int status = 0;
  for (int i = 0; i < 400 && status != 200; ++i) {
    auto res = s.client().Post("/v1/completions", completion("x", 1, 2).dump(), "application/json");
    REQUIRE(res);
    status = res->status;
    if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  CHECK(status == 200);
  const std::string metrics = s.client().Get("/metrics")->body;
  CHECK(metrics.find("rwkv_sequences_finished_total{reason=\"cancelled\"} 1") != std::string::npos);
  CHECK(metrics.find("rwkv_slots 1") != std::string::npos);
  CHECK(metrics.find("rwkv_requests_total{endpoint=\"/v1/completions\",status=\"200\"}") != std::string::npos);
  CHECK(metrics.find("rwkv_step_seconds_bucket{le=\"+Inf\"}") != std::string::npos);
}

TEST_CASE("server http: 32 concurrent streams, each equal to its solo run", "[server]") {
  TinyModel m;
  SchedulerOptions so;
  so.step_prefill_tokens = 64;
  LiveServer s(m, 8, {}, so);
  constexpr int kClients = 32;
  std::vector<std::string> want(kClients), got(kClients), finish(kClients);
  std::vector<std::string> prompts(kClients);
  for (int i = 0; i < kClients; ++i) {
    prompts[i] = "Client " + std::to_string(i) + std::string(i % 5 * 20, 'z') + " says";
    want[i] = reference_text(m, same_request(m, prompts[i], 1000 + i, 12 + i % 7));
  }
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i)
    clients.emplace_back([&, i] {
      const auto t0 = std::chrono::steady_clock::now();
      auto res = s.client().Post("/v1/completions", completion(prompts[i], 1000 + i, 12 + i % 7, true).dump(),
                                 "application/json");
      bool done = false;
      if (res && res->status == 200)
        got[i] = stream_text(res->body, false, &finish[i], &done);
      else
        got[i] = (res ? "HTTP " + std::to_string(res->status) + " " + res->body : httplib::to_string(res.error())) +
                 " after " + std::to_string(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()) + " s";
    });
  for (auto& t : clients) t.join();
  for (int i = 0; i < kClients; ++i) {
    INFO("client " << i);
    CHECK(got[i] == want[i]);
  }
}
