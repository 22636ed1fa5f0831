// runtime/generate/generate.cpp: see generate.h.
#include "runtime/generate/generate.h"

#include <algorithm>
#include <chrono>

#include "runtime/generate/text_filter.h"

namespace rwkv {

const char* stop_reason_name(StopReason r) {
  switch (r) {
    case StopReason::max_tokens: return "max_tokens";
    case StopReason::stop_token: return "stop_token";
    case StopReason::stop_string: return "stop_string";
    case StopReason::callback: return "callback";
  }
  return "?";
}

namespace {

// Feeds one token without logits (the last kept token of a generation).
void feed_last(Backend& backend, float* state, size_t state_floats, const int32_t* token) {
  Batch batch;
  batch.seqs.push_back(SeqInput{token, 1, state, state_floats});
  batch.logits = LogitsMode::none;
  backend.forward(batch, nullptr);
}

// While it lives, the backend may keep the sampler's state (Backend::forward_sample); at the end
// of generate(), normal or by an exception, the host Sampler is made current again.
class SamplingSession {
 public:
  SamplingSession(Backend& backend, Sampler& sampler) : backend_(backend), sampler_(&sampler) {}
  ~SamplingSession() {
    try {
      finish();
    } catch (...) {  // already unwinding or failing: the first error is the one reported
    }
  }
  void finish() {
    if (!sampler_) return;
    Sampler* s = sampler_;
    sampler_ = nullptr;
    backend_.finish_sampling(&s, 1);
  }

 private:
  Backend& backend_;
  Sampler* sampler_;
};

// Token bytes -> complete UTF-8 -> stop strings -> callback.
class TextSink {
 public:
  TextSink(std::vector<std::string> stops, const TextCallback& cb, std::string* text)
      : filter_(std::move(stops)), cb_(cb), text_(text) {}

  // Returns the reason to stop, if any, through *reason; false when going on.
  bool add(const std::string& bytes, StopReason* reason) {
    bool stopped = false;
    const std::string piece = filter_.push(bytes, &stopped);
    if (!deliver(piece)) {
      *reason = StopReason::callback;
      return true;
    }
    if (stopped) {
      *reason = StopReason::stop_string;
      return true;
    }
    return false;
  }

  // End of generation: flushes what is held back (an incomplete character as
  // U+FFFD, which could still complete a stop string).
  void finish(bool* stop_string_found) { deliver(filter_.finish(stop_string_found)); }

 private:
  bool deliver(const std::string& piece) {
    if (piece.empty()) return true;
    text_->append(piece);
    return cb_ ? cb_(piece) : true;
  }

  TextFilter filter_;
  const TextCallback& cb_;
  std::string* text_;
};

// Feeds every chunk of the prompt but the last (prefill()'s chunks: each one
// chunk_len tokens), asking `cancel` before each and before the last chunk.
// Returns false when cancelled; *fed: the tokens fed. The whole prompt is
// checked first, so a bad token fails with no state touched.
bool prefill_head(Backend& backend, float* state, size_t state_floats, const std::vector<int32_t>& prompt,
                  size_t chunk_len, const CancelCheck& cancel, size_t* fed) {
  if (chunk_len == 0) throw InputError(InputError::Kind::argument, "forward: chunk_len must be at least 1");
  Batch whole;
  whole.seqs.push_back(SeqInput{prompt.data(), prompt.size(), state, state_floats});
  validate_spans(whole, backend.info().n_vocab);
  const size_t head = (prompt.size() - 1) / chunk_len * chunk_len;
  for (*fed = 0; *fed < head; *fed += chunk_len) {
    if (cancel && cancel()) return false;
    prefill(backend, state, state_floats, prompt.data() + *fed, chunk_len, chunk_len, nullptr);
  }
  return !(cancel && cancel());
}

}  // namespace

GenerateResult generate(Backend& backend, float* state, size_t state_floats,
                        const Tokenizer& tokenizer, Sampler& sampler,
                        const std::vector<int32_t>& prompt, const GenerateOptions& options,
                        const TextCallback& on_text) {
  const ModelInfo& info = backend.info();
  if (tokenizer.vocab_size() != info.n_vocab)
    throw Error("generate: the tokenizer (\"" + std::string(tokenizer.kind()) + "\", " +
                std::to_string(tokenizer.vocab_size()) + " ids) does not match the model's " +
                std::to_string(info.n_vocab) + "-token vocabulary");
  if (prompt.empty()) throw Error("generate: the prompt is empty");
  GenerateResult result;
  TextSink sink(options.stop_strings, on_text, &result.text);  // validates the stop strings

  using Clock = std::chrono::steady_clock;
  const Clock::time_point t0 = Clock::now();
  // The prompt in prefill()'s chunks, stoppable between them; the last one also draws the first token.
  size_t head = 0;
  if (!prefill_head(backend, state, state_floats, prompt, options.chunk_len, options.cancel, &head)) {
    result.prompt_consumed = head;
    result.reason = StopReason::callback;
    result.prefill_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    return result;
  }
  result.prompt_consumed = prompt.size();
  if (options.max_tokens == 0) {
    prefill(backend, state, state_floats, prompt.data() + head, prompt.size() - head, options.chunk_len, nullptr);
    result.prefill_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    return result;
  }
  SamplingSession session(backend, sampler);
  int32_t token = prefill_and_sample(backend, state, state_floats, prompt.data() + head, prompt.size() - head,
                                     options.chunk_len, sampler);
  const Clock::time_point t1 = Clock::now();
  result.prefill_seconds = std::chrono::duration<double>(t1 - t0).count();
  auto stop_decode_clock = [&] {
    result.decode_seconds = std::chrono::duration<double>(Clock::now() - t1).count();
  };

  for (;;) {
    if (sampler.is_stop(token)) {
      result.reason = StopReason::stop_token;
      result.stop_token = token;
      break;
    }
    result.tokens.push_back(token);
    const std::string& bytes = tokenizer.is_special(token) ? std::string() : tokenizer.token_bytes(token);
    StopReason why = StopReason::max_tokens;
    const bool stop_now = sink.add(bytes, &why);
    const bool done = stop_now || result.tokens.size() >= options.max_tokens;
    // Feed the token so the state holds every kept token; no logits when done.
    if (done) {
      feed_last(backend, state, state_floats, &result.tokens.back());
    } else {
      token = prefill_and_sample(backend, state, state_floats, &result.tokens.back(), 1, 1, sampler);
    }
    if (stop_now) {
      result.reason = why;
      session.finish();
      stop_decode_clock();
      return result;  // nothing is flushed after a stop string or a callback stop
    }
    if (done) {
      result.reason = StopReason::max_tokens;
      break;
    }
  }
  session.finish();
  // The callback's answer to the last piece changes nothing: generation ends anyway.
  bool stop_string_found = false;
  sink.finish(&stop_string_found);
  if (stop_string_found) result.reason = StopReason::stop_string;
  stop_decode_clock();
  return result;
}

}  // namespace rwkv
