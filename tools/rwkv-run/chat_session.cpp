// tools/rwkv-run/chat_session.cpp: see chat_session.h.
#include "chat_session.h"

#include <cmath>

#include "cli_interrupt.h"
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
    std::fwrite(text.data(), 1, text.size(), f_);
    std::fflush(f_);
  }

 private:
  std::FILE* f_;
  rwkv::Utf8Stream utf8_;
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

int32_t ChatSession::feed(const std::string& text, std::vector<float>* logits) {
  std::vector<int32_t> ids;
  check("tokenizer", [&] { ids = lm_.tokenizer->encode(text); });
  if (ids.empty()) return -1;
  if (logits) logits->resize(n_vocab_);
  check("evaluating the prompt",
        [&] { lm_.engine->eval(kWork, ids.data(), ids.size(), logits ? logits->data() : nullptr); });
  return ids.back();
}

void ChatSession::copy(Slot from, Slot to) {
  check("copying a state", [&] { lm_.engine->copy(from, to); });
}

void ChatSession::save_work(Slot to, Saved* saved, const std::vector<float>& logits, int32_t last_token) {
  copy(kWork, to);
  saved->valid = true;
  saved->logits = logits;
  saved->last_token = last_token;
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

void ChatSession::reply(std::vector<float> logits, int32_t last_token, double temp, double top_p) {
  rwkv::Sampler smp = sampler(temp, top_p, false);
  StreamOut out(out_);
  out.write(bot_prefix(prompt_));
  std::string text;
  bool ended = false, stopped = false;
  std::vector<float> x(n_vocab_);
  for (int i = 0; i < s_.reply_max; ++i) {
    if (interrupt_requested()) {
      stopped = true;
      break;
    }
    x = logits;
    const float adj = newline_adjust(i);
    for (int32_t t : newline_tokens_) x[size_t(t)] += adj;
    if (avoid_repeat_.count(last_token)) x[size_t(last_token)] = -INFINITY;
    rwkv::Sampler::Result drawn{};
    check("sampling", [&] { drawn = smp.next(x.data(), n_vocab_); });
    const int32_t token = drawn.token;
    check("generating", [&] { lm_.engine->eval(kWork, &token, 1, logits.data()); });
    last_token = token;
    const std::string bytes = token_bytes(token);
    text += bytes;
    out.put(bytes);
    if (text.find("\n\n") != std::string::npos) {
      ended = true;
      break;
    }
  }
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

void ChatSession::free_generate(std::vector<float> logits, int32_t last_token, double temp, double top_p) {
  rwkv::Sampler smp = sampler(temp, top_p, true);
  StreamOut out(out_);
  bool stopped = false;
  std::vector<float> x(n_vocab_);
  const int cap = s_.gen_len + 100;  // room to finish a character split over tokens
  for (int i = 0; i < cap; ++i) {
    if (interrupt_requested()) {
      stopped = true;
      break;
    }
    x = logits;
    if (i > 0)  // ChatRWKV: +qa feeds its tokens with newline_adj = -2
      for (int32_t t : newline_tokens_) x[size_t(t)] += float(gen_newline_bias_);
    if (avoid_repeat_.count(last_token)) x[size_t(last_token)] = -INFINITY;
    rwkv::Sampler::Result drawn{};
    check("sampling", [&] { drawn = smp.next(x.data(), n_vocab_); });
    if (drawn.stop) break;  // end of text: not fed
    const int32_t token = drawn.token;
    check("generating", [&] { lm_.engine->eval(kWork, &token, 1, logits.data()); });
    last_token = token;
    out.put(token_bytes(token));
    if (i + 1 >= s_.gen_len && out.at_char_boundary()) break;
  }
  out.finish();
  out.write("\n\n");
  save_work(kGen1, &gen1_, logits, last_token);
  if (stopped) {
    clear_interrupt();
    note("[generation stopped]");
  }
}

void ChatSession::message(const std::string& text, double temp, double top_p) {
  copy(kChat, kWork);
  std::vector<float> logits;
  const int32_t last = feed(turn_text(prompt_, text), &logits);
  save_work(kPre, &pre_, logits, last);
  reply(std::move(logits), last, temp, top_p);
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
  const int32_t last = feed(text, &logits);
  if (last < 0) {  // cannot happen for the formats used, but never sample without logits
    note("nothing to generate from: the text is empty");
    return;
  }
  gen_newline_bias_ = newline_bias;
  save_work(kGen0, &gen0_, logits, last);
  free_generate(std::move(logits), last, temp, top_p);
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
    lm_.engine->save_state(kChat, path);
  } catch (const rwkv::Error& e) {
    note("+save: " + std::string(e.what()));
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
