// server/scheduler.h: continuous batching of generations on the engine's
// state slots (docs/server.md, "Scheduling").
//
// One thread runs the model. Each step it
//   1. drops cancelled sequences and admits queued requests while slots are
//      free (a request's state starts from the longest cached prefix of its
//      prompt, runtime PrefixCache, or from the model's initial state);
//   2. feeds every decoding sequence its last drawn token and every
//      prefilling sequence its next prompt chunk (chunks of chunk_len tokens
//      counted from the prompt's start, as rwkv::generate cuts them, also cut
//      at the request's cache points; at most step_prefill_tokens prompt
//      tokens a step, the first chunk always taken, so a long prompt cannot
//      stall the decoders);
//   3. draws the next token of every sequence whose prompt is now complete
//      (Backend::forward_sample, one sampler per sequence, its logit biases
//      re-applied at every draw) and streams its text through the same
//      UTF-8 and stop-string filters as rwkv::generate;
//   4. frees the slot of every sequence that stopped (stop token or string:
//      "stop"; max_tokens: "length"; cancelled; a failed step: "error").
// So a request gets the tokens `rwkv-run generate` draws for the same prompt,
// sampling options and seed, alone or among others (up to the rounding of
// batched products).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "runtime/engine/engine.h"
#include "runtime/sampler/sampler.h"
#include "runtime/tokenizer/tokenizer.h"
#include "server/metrics.h"
#include "server/prefix_cache.h"

namespace rwkv {
namespace server {

enum class FinishReason { stop, length, cancelled, error };
const char* finish_reason_name(FinishReason r);  // "stop", "length", "cancelled", "error"

struct GenerationRequest {
  std::vector<int32_t> prompt;      // at least one token, each in the vocabulary
  std::vector<size_t> cache_points;  // prompt lengths whose state the prefix cache keeps
  SamplerParams sampling;            // the seed included
  std::vector<StepBias> logit_bias;  // applied at every draw (at most Sampler::kMaxStepBias)
  size_t max_tokens = 16;            // >= 1
  std::vector<std::string> stop_strings;
};

// What a sequence reports, in order: text pieces (complete UTF-8), then one final event.
struct SequenceEvent {
  std::string text;
  bool finished = false;
  FinishReason reason = FinishReason::stop;
  std::string error;  // reason error: what failed
  size_t prompt_tokens = 0, cached_tokens = 0, completion_tokens = 0;  // on the final event
};

// The link between a request's HTTP thread and the scheduler.
class SequenceHandle {
 public:
  // The events since the last call; waits up to `timeout` when there are none.
  std::vector<SequenceEvent> wait(std::chrono::milliseconds timeout);
  void cancel() { cancelled_.store(true); }
  bool cancelled() const { return cancelled_.load(); }
  void push(SequenceEvent e);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<SequenceEvent> events_;
  std::atomic<bool> cancelled_{false};
};

struct SchedulerOptions {
  size_t queue_limit = 64;           // requests waiting for a slot before submit() refuses
  size_t chunk_len = 256;            // prompt tokens per sequence and forward (rwkv::generate's)
  size_t step_prefill_tokens = 512;  // prompt tokens per step, all sequences together
  size_t cache_bytes = 0;            // prefix cache capacity; 0: no cache
};

class Scheduler {
 public:
  // Uses every slot of `engine` (which nobody else may use while the scheduler lives).
  Scheduler(Engine& engine, const Tokenizer& tokenizer, const SchedulerOptions& options, Metrics* metrics);
  ~Scheduler();  // shutdown(0)
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  enum class Submit { accepted, queue_full, shutting_down };
  // Queues a request (checked by the caller: tokens in the vocabulary, max_tokens >= 1, valid
  // stop strings and biases). On `accepted`, *handle receives its events.
  Submit submit(GenerationRequest request, std::shared_ptr<SequenceHandle>* handle);

  // Admits nothing more; running and queued sequences go on until they finish or `grace`
  // passes, then are cancelled; returns when the scheduler thread has ended. Idempotent.
  void shutdown(std::chrono::milliseconds grace);

  SchedulerStats stats() const;
  PrefixCacheStats cache_stats() const { return cache_.stats(); }

 private:
  struct Sequence;
  void run();
  bool wait_for_work();
  void admit();
  void drop_cancelled();
  void step();
  void after_draw(Sequence& s, int32_t token);
  void keep_prefix(Sequence& s);
  void finish(Sequence& s, FinishReason reason, const std::string& error = "");
  void fail_all(const std::string& what);

  Engine& engine_;
  const Tokenizer& tokenizer_;
  SchedulerOptions opt_;
  Metrics* metrics_;
  PrefixCache cache_;
  std::vector<float> init_state_, host_state_;

  mutable std::mutex mu_;  // guards queue_, stopping_, deadline_, free_slots_, free_count_
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Sequence>> queue_;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point deadline_;
  size_t free_count_ = 0;

  std::list<std::unique_ptr<Sequence>> active_;  // scheduler thread only
  std::vector<int> free_slots_;
  std::thread thread_;
};

}  // namespace server
}  // namespace rwkv
