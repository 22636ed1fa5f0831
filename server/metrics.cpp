// server/metrics.cpp: see metrics.h.
#include "server/metrics.h"

#include <cstdio>

namespace rwkv {
namespace server {

void Metrics::count_request(const std::string& endpoint, int status) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{endpoint, status}];
}

void Metrics::add_tokens(size_t prompt, size_t prefilled, size_t completion) {
  std::lock_guard<std::mutex> lock(mu_);
  prompt_tokens_ += prompt;
  prefilled_tokens_ += prefilled;
  completion_tokens_ += completion;
}

void Metrics::count_finish(const char* reason) {
  std::lock_guard<std::mutex> lock(mu_);
  ++finishes_[reason];
}

void Metrics::observe_step(double seconds, size_t rows) {
  std::lock_guard<std::mutex> lock(mu_);
  ++steps_;
  step_rows_ += rows;
  step_seconds_ += seconds;
  for (size_t i = 0; i < kStepBuckets.size(); ++i)
    if (seconds <= kStepBuckets[i]) {
      ++step_counts_[i];
      break;
    }
}

namespace {

void metric(std::string& out, const char* name, const char* type, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

void sample(std::string& out, const std::string& name, double v) { out += name + " " + number(v) + "\n"; }

// A metric of one unlabelled sample.
void scalar(std::string& out, const char* name, const char* type, const char* help, double v) {
  metric(out, name, type, help);
  sample(out, name, v);
}

}  // namespace

std::string Metrics::prometheus(const SchedulerStats& s, const PrefixCacheStats& c) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string o;
  metric(o, "rwkv_requests_total", "counter", "HTTP requests answered, by endpoint and status.");
  for (const auto& [key, n] : requests_)
    sample(o, "rwkv_requests_total{endpoint=\"" + key.first + "\",status=\"" + std::to_string(key.second) + "\"}",
           (double)n);
  metric(o, "rwkv_sequences_finished_total", "counter", "Generations ended, by reason.");
  for (const auto& [reason, n] : finishes_)
    sample(o, "rwkv_sequences_finished_total{reason=\"" + reason + "\"}", (double)n);
  scalar(o, "rwkv_prompt_tokens_total", "counter", "Prompt tokens of admitted requests.", (double)prompt_tokens_);
  scalar(o, "rwkv_prefill_tokens_total", "counter",
         "Prompt tokens run through the model (the rest came from the prefix cache).", (double)prefilled_tokens_);
  scalar(o, "rwkv_completion_tokens_total", "counter", "Tokens generated.", (double)completion_tokens_);
  scalar(o, "rwkv_active_sequences", "gauge", "Sequences holding a state slot.", (double)s.active);
  scalar(o, "rwkv_queued_requests", "gauge", "Requests waiting for a slot.", (double)s.queued);
  scalar(o, "rwkv_queue_limit", "gauge",
         "Requests that may wait before the server answers 503.", (double)s.queue_limit);
  scalar(o, "rwkv_slots", "gauge", "State slots of the pool.", (double)s.slots);
  scalar(o, "rwkv_slots_used", "gauge", "State slots in use.", (double)s.active);
  metric(o, "rwkv_step_seconds", "histogram", "Wall time of one scheduler step (all active sequences).");
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kStepBuckets.size(); ++i) {
    cumulative += step_counts_[i];
    sample(o, "rwkv_step_seconds_bucket{le=\"" + number(kStepBuckets[i]) + "\"}", (double)cumulative);
  }
  sample(o, "rwkv_step_seconds_bucket{le=\"+Inf\"}", (double)steps_);
  sample(o, "rwkv_step_seconds_sum", step_seconds_);
  sample(o, "rwkv_step_seconds_count", (double)steps_);
  scalar(o, "rwkv_step_rows_total", "counter", "Token rows fed by all steps.", (double)step_rows_);
  scalar(o, "rwkv_prefix_cache_entries", "gauge", "States in the prefix cache.", (double)c.entries);
  scalar(o, "rwkv_prefix_cache_bytes", "gauge", "Bytes the prefix cache holds.", (double)c.bytes);
  scalar(o, "rwkv_prefix_cache_capacity_bytes", "gauge", "The prefix cache's limit (--cache-mib).", (double)c.capacity);
  scalar(o, "rwkv_prefix_cache_hits_total", "counter", "Prompts that started from a cached state.", (double)c.hits);
  scalar(o, "rwkv_prefix_cache_misses_total", "counter", "Prompts with no cached prefix.", (double)c.misses);
  scalar(o, "rwkv_prefix_cache_tokens_saved_total", "counter",
         "Prompt tokens not prefilled thanks to the cache.", (double)c.tokens_saved);
  scalar(o, "rwkv_prefix_cache_evictions_total", "counter",
         "Entries evicted to stay within the capacity.", (double)c.evictions);
  return o;
}

}  // namespace server
}  // namespace rwkv
