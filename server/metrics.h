// server/metrics.h: the server's counters and the step-time histogram, and
// their Prometheus text exposition for GET /metrics (docs/server.md lists
// every metric). Thread-safe: the HTTP threads count requests, the scheduler
// thread counts tokens and steps.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "server/prefix_cache.h"

namespace rwkv {
namespace server {

// What the scheduler reports at the moment of a scrape.
struct SchedulerStats {
  size_t active = 0, queued = 0, slots = 0, queue_limit = 0;
};

class Metrics {
 public:
  // Upper bounds (seconds) of the step-time histogram's buckets; +Inf follows.
  static constexpr std::array<double, 12> kStepBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                          0.1,   0.25,   0.5,   1.0,  2.5,   5.0};

  void count_request(const std::string& endpoint, int status);
  void add_tokens(size_t prompt, size_t prefilled, size_t completion);
  void count_finish(const char* reason);
  // One scheduler step: its wall time and the token rows it fed.
  void observe_step(double seconds, size_t rows);

  std::string prometheus(const SchedulerStats& s, const PrefixCacheStats& c) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::map<std::string, uint64_t> finishes_;
  uint64_t prompt_tokens_ = 0, prefilled_tokens_ = 0, completion_tokens_ = 0;
  std::array<uint64_t, kStepBuckets.size()> step_counts_{};  // non-cumulative
  uint64_t steps_ = 0, step_rows_ = 0;
  double step_seconds_ = 0;
};

}  // namespace server
}  // namespace rwkv
