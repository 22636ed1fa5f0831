// tools/rwkv-run/chat_session.cpp: see chat_session.h.
#include "chat_session.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

#include "cli_interrupt.h"
#include "cli_output_path.h"
#include "runtime/engine/chunked_forward.h"
#include "runtime/generate/utf8_stream.h"

namespace cli {

namespace {

// Token bytes in, complete characters out to a FILE, flushed as they come.
class StreamOut {
 public:
  explicit StreamOut(std::FILE* f) : f_(f) {}
  void put(const std::string& bytes) { write(utf8_.push(bytes)); }
  void finish() { write(utf8_.finish()); }
  bool at_char_boundary() const { return utf8_.held() == 0; }
  void write(const std::string& text) {
    if (text.empty()) return;
    errno = 0;
    if (std::fwrite(text.data(), 1, text.size(), f_) != text.size() || std::fflush(f_) != 0)
      runtime_fail(std::string("cannot write to stdout: ") + std::strerror(errno ? errno : EIO));
  }

 private:
  std::FILE* f_;
  rwkv::Utf8Stream utf8_;
};

// While it lives, the backend may hold the sampler's state (Backend::forward_sample: on cuda in
// device memory); release() (or the destructor, on an error) gives it back to the host object
// before the Sampler ends.
class SamplerOnBackend {
 public:
  SamplerOnBackend(rwkv::Backend& backend, rwkv::Sampler& sampler) : backend_(backend), sampler_(&sampler) {}
  ~SamplerOnBackend() {
    try {
      release();
    } catch (...) {  // already failing: the first error is the one reported
    }
  }
  void release() {
    if (!sampler_) return;
    rwkv::Sampler* s = sampler_;
    sampler_ = nullptr;
    check("sampling", [&] { backend_.finish_sampling(&s, 1); });
  }

 private:
  rwkv::Backend& backend_;
  rwkv::Sampler* sampler_;
};

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

ChatSession::ChatSession(LoadedModel& lm, ChatPrompt prompt, ChatSettings settings, std::FILE* out,
                         std::FILE* info)
    : lm_(lm), prompt_(std::move(prompt)), s_(std::move(settings)), out_(out), info_(info) {
  tokenizer_kind_ = lm_.tokenizer->kind();
  n_vocab_ = size_t(lm_.info.n_vocab);
  auto single_token = [&](const std::string& text, int32_t* id) {
    const std::vector<int32_t> ids = lm_.tokenizer->encode(text);
    if (ids.size() != 1) return false;
    *id = ids[0];
    return true;
  };
  int32_t id;
  if (single_token("\n", &id)) newline_tokens_.push_back(id);
  if (single_token("\n\n", &id)) newline_tokens_.push_back(id);
  for (const char* c : {"\xEF\xBC\x8C", "\xEF\xBC\x9A", "\xEF\xBC\x9F", "\xEF\xBC\x81"})  // ，：？！
    if (single_token(c, &id)) avoid_repeat_.insert(id);
}

void ChatSession::note(const std::string& line) {
  std::fflush(out_);  // keep the order when both streams go to one place
  std::fprintf(info_, "%s\n", line.c_str());
  std::fflush(info_);
}

int32_t ChatSession::feed(const std::string& text, std::vector<float>* logits, bool* interrupted) {
  std::vector<int32_t> ids;
  check("tokenizer", [&] { ids = lm_.tokenizer->encode(text); });
  note_replaced_bytes("chat", *lm_.tokenizer, text);
  if (ids.empty()) return -1;
  if (logits) logits->resize(n_vocab_);
  // A long text runs in the engine's chunks with a Ctrl-C check before each (the same chunks
  // as one eval call, so the same result); `interrupted` then says it stopped part way.
  const size_t step = interrupted ? std::max<size_t>(1, lm_.engine->chunk_len()) : ids.size();
  if (interrupted && ids.size() >= kLongText)
    note("[reading the message: " + std::to_string(ids.size()) + " tokens; Ctrl-C drops it]");
  for (size_t at = 0; at < ids.size(); at += step) {
    if (interrupted && interrupt_requested()) {
      *interrupted = true;
      return -1;
    }
    const size_t n = std::min(step, ids.size() - at);
    float* out = at + n == ids.size() && logits ? logits->data() : nullptr;
    check("evaluating the prompt", [&] { lm_.engine->eval(kWork, ids.data() + at, n, out); });
  }
  return ids.back();
}

// After a text's feed was interrupted: the work slot is dropped (the next command starts from a saved state).
void ChatSession::dropped_text() {
  clear_interrupt();
  note("[message dropped]");
}

void ChatSession::copy(Slot from, Slot to) {
  check("copying a state", [&] { lm_.engine->copy(from, to); });
}

void ChatSession::save_work(Slot to, Saved* saved, const std::vector<float>& logits, int32_t last_token) {
  copy(kWork, to);
  saved->valid = true;
  saved->logits = logits;
  saved->last_token = last_token;
  saved->replay.clear();
}

void ChatSession::reset_work() {
  check("resetting the state", [&] { lm_.engine->reset(kWork); });
}

void ChatSession::restart_chat() {
  reset_work();
  const std::string text = initial_text(prompt_);
  init_last_token_ = text.empty() ? -1 : feed(text, nullptr);
  copy(kWork, kInit);
  copy(kWork, kChat);
  pre_.valid = false;
}

void ChatSession::start() { restart_chat(); }

rwkv::Sampler ChatSession::sampler(double temp, double top_p, bool free_generation) {
  rwkv::SamplerParams p = sampler_params(s_.sampling);
  p.temperature = temp;  // this line's values
  p.top_p = top_p;
  // Token 0 ends the text in World and 20B vocabularies (a byte vocabulary has
  // no such token): a reply never draws it, a free generation stops at it.
  if (tokenizer_kind_ == "world" || tokenizer_kind_ == "20b")
    (free_generation ? p.token_stop : p.token_ban).push_back(0);
  p.seed = splitmix64(s_.seed + 0x9E3779B97F4A7C15ull * ++generation_);
  return rwkv::Sampler(std::move(p));  // no weight function: weight 1 for every token, as the chat demos count
}

// ChatRWKV v2 chat.py: the newline_adj of reply token i is the one computed
// after token i-1 (the first two are -inf); see chat_session.h.
float ChatSession::newline_adjust(int i) const {
  const int j = i - 1;
  if (j <= 0) return -INFINITY;
  if (j <= s_.len_short) return float(j - s_.len_short) / 10.0f;
  if (j <= s_.len_long) return 0.0f;
  return float(j - s_.len_long) * 0.25f;
}

std::string ChatSession::token_bytes(int32_t token) const {
  std::string bytes;
  check("tokenizer", [&] { bytes = lm_.tokenizer->decode({token}); });
  return bytes;
}

// ChatRWKV v2 chat.py's per-step logit changes of reply token i as the sampler's step bias:
// the newline adjustment, and -inf for the previous token when it is in AVOID_REPEAT.
std::vector<rwkv::StepBias> ChatSession::reply_bias(int i, int32_t last_token) const {
  std::vector<rwkv::StepBias> bias;
  const float adj = newline_adjust(i);
  for (int32_t t : newline_tokens_) bias.push_back({t, adj});
  if (avoid_repeat_.count(last_token)) bias.push_back({last_token, -INFINITY});
  return bias;
}

// The same for free-generation token i: +qa's newline_adj after the first token.
std::vector<rwkv::StepBias> ChatSession::free_bias(int i, int32_t last_token) const {
  std::vector<rwkv::StepBias> bias;
  if (i > 0)
    for (int32_t t : newline_tokens_) bias.push_back({t, float(gen_newline_bias_)});
  if (avoid_repeat_.count(last_token)) bias.push_back({last_token, -INFINITY});
  return bias;
}

// The first token of a reply or generation, drawn on the host from the saved logits (these were
// fetched once, for '+', '++' and '+++'); the step bias must be set.
rwkv::Sampler::Result ChatSession::draw_first(rwkv::Sampler& smp, const std::vector<float>& logits) {
  std::vector<float> x = logits;
  rwkv::Sampler::Result drawn{};
  check("sampling", [&] { drawn = smp.next(x.data(), n_vocab_); });
  return drawn;
}

// Feeds `token` to the work slot and draws the next one through Backend::forward_sample (on cuda
// the draw runs on the device and only the token id comes back); the step bias must be set.
rwkv::Sampler::Result ChatSession::feed_and_draw(int32_t token, rwkv::Sampler& smp) {
  rwkv::Engine& e = *lm_.engine;
  int32_t next = -1;
  check("generating", [&] {
    next = rwkv::prefill_and_sample(e.locked_backend(), e.slot(kWork), e.state_floats(), &token, 1, 1, smp);
  });
  return {next, smp.is_stop(next)};
}

// Feeds one token to the work slot; `logits` (or null) receives the logits after it.
void ChatSession::feed_token(int32_t token, std::vector<float>* logits) {
  if (logits) logits->resize(n_vocab_);
  check("generating", [&] { lm_.engine->eval(kWork, &token, 1, logits ? logits->data() : nullptr); });
}

// Token i is drawn with the logits after token i-1, so a drawn token stays pending (printed, not
// fed) until the next step feeds it with the draw of token i+1 in one forward_sample call.
void ChatSession::reply(const std::vector<float>& logits, int32_t last_token, double temp, double top_p) {
  rwkv::Sampler smp = sampler(temp, top_p, false);
  SamplerOnBackend bound(lm_.engine->locked_backend(), smp);
  StreamOut out(out_);
  out.write(bot_prefix(prompt_));
  std::string text;
  bool ended = false, stopped = false;
  int32_t pending = -1;  // drawn and printed, not yet fed
  for (int i = 0; i < s_.reply_max; ++i) {
    if (interrupt_requested()) {
      stopped = true;
      break;
    }
    check("sampling", [&] { smp.set_step_bias(reply_bias(i, last_token)); });
    const int32_t token = i == 0 ? draw_first(smp, logits).token : feed_and_draw(pending, smp).token;
    pending = token;
    last_token = token;
    const std::string bytes = token_bytes(token);
    text += bytes;
    out.put(bytes);
    if (text.find("\n\n") != std::string::npos) {
      ended = true;
      break;
    }
  }
  if (pending >= 0) feed_token(pending, nullptr);
  bound.release();
  out.finish();
  if (!ended) {  // close the turn in the state and on screen
    const std::string tail = ends_with(text, "\n") ? "\n" : "\n\n";
    feed(tail, nullptr);
    out.write(tail);
  }
  copy(kWork, kChat);
  if (stopped) {
    clear_interrupt();
    note("[reply stopped]");
  }
}

// As reply(). The generation's end state goes to gen1 with the logits after its last token:
// fetched by feeding a pending last token with logits; when a stop token was drawn, the logits it
// was drawn from stayed on the device, so gen1 records the fed tokens instead and '+++' recomputes
// them from gen0 (resolve_gen1).
void ChatSession::free_generate(const std::vector<float>& logits, int32_t last_token, double temp, double top_p) {
  rwkv::Sampler smp = sampler(temp, top_p, true);
  SamplerOnBackend bound(lm_.engine->locked_backend(), smp);
  StreamOut out(out_);
  bool stopped = false;
  int32_t pending = -1;         // drawn and printed, not yet fed
  std::vector<int32_t> fed;     // the generated tokens fed so far, in order
  const int cap = s_.gen_len + 100;  // room to finish a character split over tokens
  for (int i = 0; i < cap; ++i) {
    if (interrupt_requested()) {
      stopped = true;
      break;
    }
    check("sampling", [&] { smp.set_step_bias(free_bias(i, last_token)); });
    const rwkv::Sampler::Result drawn = i == 0 ? draw_first(smp, logits) : feed_and_draw(pending, smp);
    if (pending >= 0) fed.push_back(pending);
    pending = -1;
    if (drawn.stop) break;  // end of text: not fed
    pending = drawn.token;
    last_token = drawn.token;
    out.put(token_bytes(drawn.token));
    if (i + 1 >= s_.gen_len && out.at_char_boundary()) break;
  }
  bound.release();
  out.finish();
  out.write("\n\n");
  if (pending >= 0) {
    std::vector<float> end_logits;
    feed_token(pending, &end_logits);
    save_work(kGen1, &gen1_, end_logits, last_token);
  } else if (fed.empty()) {
    save_work(kGen1, &gen1_, logits, last_token);  // nothing fed: the start's logits
  } else {
    save_work(kGen1, &gen1_, {}, last_token);
    gen1_.replay = std::move(fed);
  }
  if (stopped) {
    clear_interrupt();
    note("[generation stopped]");
  }
}

// Makes gen1_'s logits current when the generation that wrote it ended with its logits left on
// the device: gen0's state and the generated tokens, fed one at a time as they were, give the
// same state (already in kGen1) and the logits after the last one. Leaves that state in kWork.
void ChatSession::resolve_gen1() {
  if (gen1_.replay.empty()) return;
  copy(kGen0, kWork);
  const std::vector<int32_t>& tokens = gen1_.replay;
  for (size_t k = 0; k + 1 < tokens.size(); ++k) feed_token(tokens[k], nullptr);
  feed_token(tokens.back(), &gen1_.logits);
  gen1_.replay.clear();
}

void ChatSession::message(const std::string& text, double temp, double top_p) {
  copy(kChat, kWork);
  std::vector<float> logits;
  bool interrupted = false;
  const int32_t last = feed(turn_text(prompt_, text), &logits, &interrupted);
  if (interrupted) return dropped_text();
  save_work(kPre, &pre_, logits, last);
  reply(logits, last, temp, top_p);
}

void ChatSession::another(double temp, double top_p) {
  if (!pre_.valid) {
    note("nothing to reply to again: '+' follows a message (none since the start, +reset, +prompt or +load)");
    return;
  }
  copy(kPre, kWork);
  reply(pre_.logits, pre_.last_token, temp, top_p);
}

void ChatSession::free_start(Slot from, const std::string& text, double newline_bias, double temp,
                             double top_p) {
  if (from == kWork) reset_work();
  else copy(from, kWork);
  std::vector<float> logits;
  bool interrupted = false;
  const int32_t last = feed(text, &logits, &interrupted);
  if (interrupted) return dropped_text();
  if (last < 0) {  // cannot happen for the formats used, but never sample without logits
    note("nothing to generate from: the text is empty");
    return;
  }
  gen_newline_bias_ = newline_bias;
  save_work(kGen0, &gen0_, logits, last);
  free_generate(logits, last, temp, top_p);
}

void ChatSession::free_retry(double temp, double top_p) {
  if (!gen0_.valid) {
    note("nothing to retry: '++' follows +gen, +i, +qq or +qa");
    return;
  }
  copy(kGen0, kWork);
  free_generate(gen0_.logits, gen0_.last_token, temp, top_p);
}

void ChatSession::free_more(double temp, double top_p) {
  if (!gen1_.valid) {
    note("nothing to continue: '+++' follows +gen, +i, +qq or +qa");
    return;
  }
  resolve_gen1();
  copy(kGen1, kGen0);  // so that ++ retries this continuation
  gen0_ = gen1_;
  copy(kGen1, kWork);
  free_generate(gen1_.logits, gen1_.last_token, temp, top_p);
}

void ChatSession::load_prompt(const std::string& path) {
  ChatPrompt p;
  try {
    p = read_chat_prompt_file(path);
  } catch (const CliError& e) {
    note(std::string("+prompt: ") + e.what());
    return;
  }
  prompt_ = std::move(p);
  restart_chat();
  note("Loaded the prompt " + path + " (" + prompt_.user + " / " + prompt_.bot + "); chat reset.");
}

void ChatSession::save_chat(const std::string& path) {
  try {
    // The output rules of every command (cli_output_path.h): not the model, links followed.
    lm_.engine->save_state(kChat, checked_output_path("+save", path, {s_.model_path}, true));
  } catch (const rwkv::Error& e) {
    note("+save: " + std::string(e.what()));
    return;
  } catch (const CliError& e) {
    note(e.what());
    return;
  }
  note("Saved the conversation to " + path + ".");
}

void ChatSession::load_chat(const std::string& path) {
  try {
    lm_.engine->load_state(kChat, path);
  } catch (const rwkv::Error& e) {
    note("+load: " + std::string(e.what()) + " (load a file written by +save with this model)");
    return;
  }
  pre_.valid = false;
  note("Loaded the conversation from " + path + ".");
}

void ChatSession::run(const ChatCommand& c) {
  using K = ChatCommand::Kind;
  std::string text = c.text;
  if (!c.note.empty()) note(c.note);
  switch (c.kind) {
    case K::none: return;
    case K::error: note(c.error); return;
    case K::help:
      std::fflush(out_);
      std::fputs(kChatHelp, info_);
      std::fflush(info_);
      return;
    case K::message: message(text, c.temp, c.top_p); return;
    case K::another: another(c.temp, c.top_p); return;
    case K::gen: free_start(kWork, "\n" + text, 0, c.temp, c.top_p); return;
    case K::instruct:
      for (size_t at; (at = text.find("\n\n")) != std::string::npos;) text.replace(at, 2, "\n");
      free_start(kWork, instruction_text(tokenizer_kind_, text), 0, c.temp, c.top_p);
      return;
    case K::qq: free_start(kWork, "\nQ: " + text + "\nA:", 0, c.temp, c.top_p); return;
    case K::qa: free_start(kInit, turn_text(prompt_, text), -2, c.temp, c.top_p); return;
    case K::retry: free_retry(c.temp, c.top_p); return;
    case K::more: free_more(c.temp, c.top_p); return;
    case K::reset:
      copy(kInit, kChat);
      pre_.valid = false;
      note("Chat reset.");
      return;
    case K::prompt: load_prompt(text); return;
    case K::save: save_chat(text); return;
    case K::load: load_chat(text); return;
  }
}

}  // namespace cli
