// tests/runtime/test_server_cli.cpp: `rwkv-run serve` as users run it: a
// child process on 127.0.0.1 and a free port, asked with curl; a seeded
// request gives `rwkv-run generate`'s text; SIGTERM with a request in flight
// ends the stream and the process (exit 0) within the grace period.
#include <catch2/catch.hpp>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli_process_util.h"

using json = nlohmann::json;
using namespace cli_test;

namespace {

// The port a serve child printed ("listening on http://127.0.0.1:PORT").
int served_port(Interactive& server) {
  REQUIRE(server.wait_stderr("listening on http://127.0.0.1:", 60));
  const std::string err = server.err();
  const size_t at = err.find("127.0.0.1:") + 10;
  return std::stoi(err.substr(at));
}

// curl's stdout for a POST of `body` (bounded by --max-time).
std::string curl_post(int port, const std::string& path, const std::string& body, const std::string& extra = "") {
  TempDir dir;
  write_file(dir.file("body.json"), body);
  const std::string cmd = "curl -sS --max-time 60 " + extra + " -H 'Content-Type: application/json' --data-binary @" +
                          dir.file("body.json") + " http://127.0.0.1:" + std::to_string(port) + path;
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  CHECK(pclose(p) == 0);
  return out;
}

}  // namespace

TEST_CASE("rwkv-run serve: curl gets generate's text for the same seed and options", "[server][cli]") {
  const std::string model = tiny_model("tiny-rwkv-6v0-1m");
  Interactive server({"serve", "-m", model, "--port", "0", "--slots", "2", "-t", "1", "--device", "cpu"});
  const int port = served_port(server);
  const Result gen = run({"generate", "-m", model, "-p", "The sea is", "-n", "20", "--seed", "11", "-q", "-t", "1",
                          "--device", "cpu"});
  REQUIRE(gen.exit_code == 0);
  const std::string body = json{{"prompt", "The sea is"}, {"max_tokens", 20}, {"seed", 11}}.dump();
  const json answer = json::parse(curl_post(port, "/v1/completions", body));
  CHECK(answer["choices"][0]["text"] == gen.out);  // serve's defaults are generate's (pip's) sampling
  CHECK(answer["model"] == "tiny-rwkv-6v0-1m");
  const std::string models = curl_post(port, "/v1/models", "", "-X GET");
  CHECK(models.find("\"tiny-rwkv-6v0-1m\"") != std::string::npos);
  server.signal(SIGINT);
  const Result end = server.finish(30);
  CHECK(end.exit_code == 0);
  CHECK(end.err.find("rwkv-run serve: stopped") != std::string::npos);
}

TEST_CASE("rwkv-run serve: SIGTERM with a stream in flight ends it and exits 0 within the grace period",
          "[server][cli]") {
  Interactive server({"serve", "-m", tiny_model(), "--port", "0", "--slots", "1", "-t", "1", "--device", "cpu",
                      "--shutdown-grace", "0.5"});
  const int port = served_port(server);
  TempDir dir;
  const std::string body = json{{"prompt", "go"}, {"max_tokens", 16000}, {"stream", true}}.dump();
  write_file(dir.file("body.json"), body);
  const std::string cmd = "curl -sSN --max-time 60 -H 'Content-Type: application/json' --data-binary @" +
                          dir.file("body.json") + " http://127.0.0.1:" + std::to_string(port) + "/v1/completions";
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p);
  char buf[256];
  REQUIRE(fgets(buf, sizeof buf, p) != nullptr);  // the stream has started
  CHECK(std::string(buf).rfind("data: ", 0) == 0);
  server.signal(SIGTERM);
  std::string rest;
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) rest.append(buf, n);
  pclose(p);
  CHECK(rest.find("shutting down") != std::string::npos);  // the error event
  CHECK(rest.find("data: [DONE]") != std::string::npos);
  const Result end = server.finish(30);
  CHECK(end.exit_code == 0);
  CHECK(end.err.find("Terminated: finishing running requests") != std::string::npos);
}

TEST_CASE("rwkv-run serve: usage errors and a port in use", "[server][cli]") {
  const Result bad = run({"serve", "-m", tiny_model(), "--port", "70000"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("--port") != std::string::npos);
  Interactive first({"serve", "-m", tiny_model(), "--port", "0", "-t", "1", "--device", "cpu"});
  const int port = served_port(first);
  const Result second = run({"serve", "-m", tiny_model(), "--port", std::to_string(port), "-t", "1", "--device", "cpu"});
  CHECK(second.exit_code == 1);
  CHECK(second.err.find("cannot listen on 127.0.0.1:" + std::to_string(port)) != std::string::npos);
  first.signal(SIGTERM);
  CHECK(first.finish(30).exit_code == 0);
}
