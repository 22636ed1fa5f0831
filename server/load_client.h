// server/load_client.h: the load benchmark of `rwkv-run bench-serve`
// (docs/server.md, "Load benchmark"): `clients` concurrent clients, each
// sending `requests` streamed chat requests one after another to a running
// server, every request the same shared system prompt plus a question of its
// own; it measures throughput, time to first token and the gaps between
// streamed pieces (inter-token latency), as percentiles.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace rwkv {
namespace server {

struct LoadOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string api_key;
  std::string model;         // the request's "model" ("" to leave it out)
  int clients = 8;
  int requests = 4;          // per client
  int max_tokens = 64;
  std::string system_prompt;  // shared by every request (the prefix cache's case)
  int question_words = 12;    // the part of each request's prompt of its own
  uint64_t seed = 1;
};

struct Percentiles {
  size_t count = 0;
  double p50 = 0, p90 = 0, p99 = 0, mean = 0;
};
Percentiles percentiles(std::vector<double> values);

struct LoadResult {
  int ok = 0, failed = 0;
  std::string first_error;
  size_t prompt_tokens = 0, completion_tokens = 0, cached_tokens = 0;
  double wall_seconds = 0;
  Percentiles ttft_ms, itl_ms, request_ms;
  double tokens_per_second() const { return wall_seconds > 0 ? completion_tokens / wall_seconds : 0; }
};

// Runs the load; every request bounded by a 10-minute read timeout.
LoadResult run_load(const LoadOptions& options);

}  // namespace server
}  // namespace rwkv
