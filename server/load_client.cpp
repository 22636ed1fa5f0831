// server/load_client.cpp: see load_client.h.
#include "server/load_client.h"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <thread>

#include "server/http_util.h"

namespace rwkv {
namespace server {

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

std::string question(int client, int request, int words) {
  static const char* const kWords[] = {"why", "is", "the", "sea", "blue", "and", "how", "do", "stars", "shine", "at",
                                       "night", "what", "makes", "rain", "fall"};
  std::string q = "Question " + std::to_string(client) + "." + std::to_string(request) + ":";
  for (int w = 0; w < words; ++w) q += std::string(" ") + kWords[(client * 7 + request * 3 + w * 5) % 16];
  return q + "?";
}

// One client's timings, merged into the result at its end.
struct ClientLog {
  std::vector<double> ttft, itl, total;
  int ok = 0, failed = 0;
  std::string first_error;
  size_t prompt = 0, completion = 0, cached = 0;
};

// Reads the usage of a stream's usage chunk, if `data` is one.
void read_usage(const std::string& data, ClientLog& log) {
  const json j = json::parse(data, nullptr, false);
  if (j.is_discarded() || !j.contains("usage") || j["usage"].is_null()) return;
  const json& u = j["usage"];
  log.prompt += u.value("prompt_tokens", 0);
  log.completion += u.value("completion_tokens", 0);
  if (u.contains("prompt_tokens_details")) log.cached += u["prompt_tokens_details"].value("cached_tokens", 0);
}

void one_request(const LoadOptions& o, int client, int r, httplib::Client& http, ClientLog& log) {
  json body{{"messages", json::array({{{"role", "system"}, {"content", o.system_prompt}},
                                      {{"role", "user"}, {"content", question(client, r, o.question_words)}}})},
            {"max_tokens", o.max_tokens},
            {"seed", o.seed + (uint64_t)client * 1000 + (uint64_t)r},
            {"stream", true},
            {"stream_options", {{"include_usage", true}}}};
  if (!o.model.empty()) body["model"] = o.model;
  httplib::Headers headers;
  if (!o.api_key.empty()) headers.emplace("Authorization", "Bearer " + o.api_key);
  const Clock::time_point t0 = Clock::now();
  Clock::time_point last;
  bool first = true;
  std::string pending;
  auto res = post_stream(http, "/v1/chat/completions", headers, body.dump(), [&](const char* d, size_t n) {
    pending.append(d, n);
    for (size_t end; (end = pending.find("\n\n")) != std::string::npos; pending.erase(0, end + 2)) {
      const std::string event = pending.substr(0, end);
      if (event.rfind("data: ", 0) != 0 || event == "data: [DONE]") continue;
      const std::string data = event.substr(6);
      if (data.find("\"content\":\"") == std::string::npos || data.find("\"content\":\"\"") != std::string::npos) {
        read_usage(data, log);
        continue;
      }
      (first ? log.ttft : log.itl).push_back(first ? ms_since(t0) : ms_since(last));
      first = false;
      last = Clock::now();
    }
    return true;
  });
  if (!res || res->status != 200) {
    ++log.failed;
    if (log.first_error.empty())
      log.first_error = res ? "HTTP " + std::to_string(res->status) + ": " + res->body : httplib::to_string(res.error());
    return;
  }
  ++log.ok;
  log.total.push_back(ms_since(t0));
}

}  // namespace

Percentiles percentiles(std::vector<double> v) {
  Percentiles p;
  p.count = v.size();
  if (v.empty()) return p;
  std::sort(v.begin(), v.end());
  auto at = [&v](double q) { return v[std::min(v.size() - 1, (size_t)(q * (double)(v.size() - 1) + 0.5))]; };
  p.p50 = at(0.5);
  p.p90 = at(0.9);
  p.p99 = at(0.99);
  double sum = 0;
  for (double x : v) sum += x;
  p.mean = sum / (double)v.size();
  return p;
}

LoadResult run_load(const LoadOptions& o) {
  std::vector<ClientLog> logs((size_t)o.clients);
  const Clock::time_point t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < o.clients; ++c)
    threads.emplace_back([&o, &logs, c] {
      httplib::Client http(o.host, o.port);
      http.set_read_timeout(600);
      for (int r = 0; r < o.requests; ++r) one_request(o, c, r, http, logs[(size_t)c]);
    });
  for (auto& t : threads) t.join();
  LoadResult out;
  out.wall_seconds = ms_since(t0) / 1000;
  std::vector<double> ttft, itl, total;
  for (const ClientLog& l : logs) {
    out.ok += l.ok;
    out.failed += l.failed;
    if (out.first_error.empty()) out.first_error = l.first_error;
    out.prompt_tokens += l.prompt;
    out.completion_tokens += l.completion;
    out.cached_tokens += l.cached;
    ttft.insert(ttft.end(), l.ttft.begin(), l.ttft.end());
    itl.insert(itl.end(), l.itl.begin(), l.itl.end());
    total.insert(total.end(), l.total.begin(), l.total.end());
  }
  out.ttft_ms = percentiles(ttft);
  out.itl_ms = percentiles(itl);
  out.request_ms = percentiles(total);
  return out;
}

}  // namespace server
}  // namespace rwkv
