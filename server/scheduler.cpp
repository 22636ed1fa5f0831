// server/scheduler.cpp: see scheduler.h.
#include "server/scheduler.h"

#include <algorithm>
#include <exception>

#include "runtime/generate/text_filter.h"
#include "runtime/sampler/penalty_weight.h"

namespace rwkv {
namespace server {

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::stop: return "stop";
    case FinishReason::length: return "length";
    case FinishReason::cancelled: return "cancelled";
    case FinishReason::error: return "error";
  }
  return "?";
}

std::vector<SequenceEvent> SequenceHandle::wait(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, timeout, [this] { return !events_.empty(); });
  std::vector<SequenceEvent> out(std::make_move_iterator(events_.begin()), std::make_move_iterator(events_.end()));
  events_.clear();
  return out;
}

void SequenceHandle::push(SequenceEvent e) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(e));
  }
  cv_.notify_all();
}

struct Scheduler::Sequence {
  Sequence(GenerationRequest r, const Tokenizer& tok)
      : req(std::move(r)), sampler(req.sampling, official_penalty_weight_fn(tok)), text(req.stop_strings) {
    std::sort(req.cache_points.begin(), req.cache_points.end());
  }
  std::shared_ptr<SequenceHandle> handle = std::make_shared<SequenceHandle>();
  GenerationRequest req;
  Sampler sampler;
  TextFilter text;
  int slot = -1;
  size_t fed = 0, cached = 0, generated = 0;
  size_t feeding = 0;        // prompt tokens in this step's forward
  int32_t next_token = -1;   // drawn, fed at the next step
  bool has_next = false, drew = false, done = false;

  bool is_cache_point(size_t n) const {
    return std::binary_search(req.cache_points.begin(), req.cache_points.end(), n);
  }
  // Where this sequence's next prompt chunk ends: chunk_len tokens counted from where its
  // prefill started, cut at a cache point.
  size_t chunk_end(size_t chunk_len) const {
    size_t end = std::min(req.prompt.size(), cached + ((fed - cached) / chunk_len + 1) * chunk_len);
    auto next = std::upper_bound(req.cache_points.begin(), req.cache_points.end(), fed);
    if (next != req.cache_points.end() && *next < end) end = *next;
    return end;
  }
};

Scheduler::Scheduler(Engine& engine, const Tokenizer& tokenizer, const SchedulerOptions& options, Metrics* metrics)
    : engine_(engine), tokenizer_(tokenizer), opt_(options), metrics_(metrics), cache_(options.cache_bytes) {
  for (int i = engine_.n_slots() - 1; i >= 0; --i) free_slots_.push_back(i);
  free_count_ = free_slots_.size();
  host_state_.resize(engine_.state_floats());
  thread_ = std::thread([this] { run(); });
}

Scheduler::~Scheduler() { shutdown(std::chrono::milliseconds(0)); }

Scheduler::Submit Scheduler::submit(GenerationRequest request, std::shared_ptr<SequenceHandle>* handle) {
  auto seq = std::make_unique<Sequence>(std::move(request), tokenizer_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return Submit::shutting_down;
    if (queue_.size() >= opt_.queue_limit + free_count_) return Submit::queue_full;
    *handle = seq->handle;
    queue_.push_back(std::move(seq));
  }
  cv_.notify_all();
  return Submit::accepted;
}

void Scheduler::shutdown(std::chrono::milliseconds grace) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      stopping_ = true;
      deadline_ = std::chrono::steady_clock::now() + grace;
    }
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  SchedulerStats s;
  s.slots = (size_t)engine_.n_slots();
  s.active = s.slots - free_count_;
  s.queued = queue_.size();
  s.queue_limit = opt_.queue_limit;
  return s;
}

void Scheduler::run() {
  while (wait_for_work()) {
    drop_cancelled();
    admit();
    if (!active_.empty()) step();
  }
  for (auto& s : active_) finish(*s, FinishReason::cancelled);
  active_.clear();
  std::deque<std::unique_ptr<Sequence>> left;
  {
    std::lock_guard<std::mutex> lock(mu_);
    left.swap(queue_);
  }
  for (auto& s : left) finish(*s, FinishReason::cancelled);
}

// False when the scheduler should end: stopping, and nothing left or the grace period over.
bool Scheduler::wait_for_work() {
  std::unique_lock<std::mutex> lock(mu_);
  auto has_work = [this] { return !active_.empty() || (!queue_.empty() && free_count_ > 0); };
  for (;;) {
    if (stopping_) {
      if (std::chrono::steady_clock::now() >= deadline_) return false;
      if (has_work()) return true;
      if (queue_.empty()) return false;
      cv_.wait_until(lock, deadline_);
      continue;
    }
    if (has_work()) return true;
    cv_.wait(lock);
  }
}

void Scheduler::drop_cancelled() {
  for (auto& s : active_)
    if (s->handle->cancelled()) finish(*s, FinishReason::cancelled);
  std::vector<std::unique_ptr<Sequence>> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = queue_.begin(); it != queue_.end();)
      if ((*it)->handle->cancelled()) {
        dropped.push_back(std::move(*it));
        it = queue_.erase(it);
      } else {
        ++it;
      }
  }
  for (auto& s : dropped) finish(*s, FinishReason::cancelled);
  active_.remove_if([](const std::unique_ptr<Sequence>& s) { return s->done; });
}

void Scheduler::admit() {
  for (;;) {
    std::unique_ptr<Sequence> s;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (queue_.empty() || free_slots_.empty()) return;
      s = std::move(queue_.front());
      queue_.pop_front();
      s->slot = free_slots_.back();
      free_slots_.pop_back();
      --free_count_;
    }
    try {
      // At least one prompt token is fed, so the first draw has this request's logits.
      s->cached = cache_.lookup(s->req.prompt.data(), s->req.prompt.size() - 1, &host_state_);
      if (s->cached > 0)
        engine_.write(s->slot, host_state_.data());
      else
        engine_.reset(s->slot);
    } catch (const std::exception& e) {
      finish(*s, FinishReason::error, e.what());
      continue;
    }
    s->fed = s->cached;
    if (metrics_) metrics_->add_tokens(s->req.prompt.size(), s->req.prompt.size() - s->cached, 0);
    active_.push_back(std::move(s));
  }
}

void Scheduler::keep_prefix(Sequence& s) {
  if (opt_.cache_bytes == 0) return;
  engine_.read(s.slot, host_state_.data());
  cache_.insert(s.req.prompt.data(), s.fed, host_state_.data(), host_state_.size());
}

void Scheduler::step() {
  const auto t0 = std::chrono::steady_clock::now();
  const size_t floats = engine_.state_floats();
  Batch feed, draw;
  feed.logits = LogitsMode::none;
  draw.logits = LogitsMode::last;
  std::vector<Sequence*> feed_seqs, draw_seqs;
  for (auto& s : active_)
    if (s->has_next) {
      draw.seqs.push_back(SeqInput{&s->next_token, 1, engine_.slot(s->slot), floats});
      draw_seqs.push_back(s.get());
    }
  size_t budget = opt_.step_prefill_tokens;
  bool first = true;
  for (auto& s : active_) {
    if (s->has_next) continue;
    const size_t n = s->chunk_end(opt_.chunk_len) - s->fed;
    if (!first && n > budget) break;  // the next steps take it, in arrival order
    first = false;
    budget -= std::min(n, budget);
    s->feeding = n;
    const SeqInput in{s->req.prompt.data() + s->fed, n, engine_.slot(s->slot), floats};
    const bool last = s->fed + n == s->req.prompt.size();
    (last ? draw : feed).seqs.push_back(in);
    (last ? draw_seqs : feed_seqs).push_back(s.get());
  }
  size_t rows = 0;
  for (const Batch* b : {&feed, &draw})
    for (const SeqInput& in : b->seqs) rows += in.n_tokens;
  try {
    if (!feed.seqs.empty()) engine_.backend().forward(feed, nullptr);
    std::vector<int32_t> tokens(draw.seqs.size());
    std::vector<Sampler*> samplers;
    for (Sequence* s : draw_seqs) {
      s->sampler.set_step_bias(s->req.logit_bias);
      samplers.push_back(&s->sampler);
      s->drew = true;
    }
    if (!draw.seqs.empty()) engine_.backend().forward_sample(draw, samplers.data(), tokens.data());
    for (Sequence* s : feed_seqs) {
      s->fed += s->feeding;
      if (s->is_cache_point(s->fed)) keep_prefix(*s);
    }
    for (size_t i = 0; i < draw_seqs.size(); ++i) {
      Sequence& s = *draw_seqs[i];
      if (!s.has_next) {  // its prompt's last chunk
        s.fed += s.feeding;
        if (s.is_cache_point(s.fed)) keep_prefix(s);
      }
      after_draw(s, tokens[i]);
    }
  } catch (const std::exception& e) {
    fail_all(e.what());
  }
  active_.remove_if([](const std::unique_ptr<Sequence>& s) { return s->done; });
  if (metrics_)
    metrics_->observe_step(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), rows);
}

// A drawn token through the same steps as rwkv::generate (runtime/generate/generate.cpp).
void Scheduler::after_draw(Sequence& s, int32_t token) {
  bool stopped = false;
  auto emit = [&s](const std::string& piece) {
    if (piece.empty()) return;
    SequenceEvent e;
    e.text = piece;
    s.handle->push(std::move(e));
  };
  auto flush = [&] { emit(s.text.finish(&stopped)); };
  s.has_next = false;
  if (s.sampler.is_stop(token)) {
    flush();
    finish(s, FinishReason::stop);
    return;
  }
  ++s.generated;
  if (metrics_) metrics_->add_tokens(0, 0, 1);
  const std::string& bytes = tokenizer_.is_special(token) ? std::string() : tokenizer_.token_bytes(token);
  emit(s.text.push(bytes, &stopped));
  if (stopped) {
    finish(s, FinishReason::stop);
  } else if (s.generated >= s.req.max_tokens) {
    flush();
    finish(s, stopped ? FinishReason::stop : FinishReason::length);
  } else {
    s.next_token = token;
    s.has_next = true;
  }
}

void Scheduler::finish(Sequence& s, FinishReason reason, const std::string& error) {
  if (s.done) return;
  s.done = true;
  if (s.drew) {
    Sampler* p = &s.sampler;
    try {
      engine_.backend().finish_sampling(&p, 1);
    } catch (const std::exception&) {  // the sequence ends anyway; its sampler is not reused
    }
  }
  SequenceEvent e;
  e.finished = true;
  e.reason = reason;
  e.error = error;
  e.prompt_tokens = s.req.prompt.size();
  e.cached_tokens = s.cached;
  e.completion_tokens = s.generated;
  s.handle->push(std::move(e));
  if (metrics_) metrics_->count_finish(finish_reason_name(reason));
  if (s.slot >= 0) {
    std::lock_guard<std::mutex> lock(mu_);
    free_slots_.push_back(s.slot);
    ++free_count_;
    s.slot = -1;
  }
}

void Scheduler::fail_all(const std::string& what) {
  for (auto& s : active_) finish(*s, FinishReason::error, what);
}

}  // namespace server
}  // namespace rwkv
