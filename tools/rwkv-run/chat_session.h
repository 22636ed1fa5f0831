// tools/rwkv-run/chat_session.h: the conversation behind `rwkv-run chat`, on
// the engine (runtime/engine/engine.h): ChatRWKV v2's chat loop with named
// states.
//
// The engine's state slots (kSlots of them):
//   work      every computation happens here
//   init      after the prompt file's initial conversation     (+reset, +qa start here)
//   chat      the conversation after the last reply           (+save / +load)
//   pre       after the last message, before its reply         (+ starts here)
//   gen0      after the last free generation's prompt          (++ starts here)
//   gen1      after the last free generation                   (+++ starts here)
// The logits that go with pre, gen0 and gen1 are kept on the host ('+', '++' and '+++' draw
// their first token from them).
//
// Sampling: each step's logit changes below (the newline adjustment, AVOID_REPEAT) are the
// sampler's step bias (runtime/sampler/sampler.h), and every token after the first of a reply or
// generation is fed and the next drawn in one Backend::forward_sample call: on cuda the draw runs
// on the device and only the token id comes back; on the CPU it is the host sampler on the same
// logits as before. Logits come to the host once per message or generation prompt (for the
// first draw and '+'/'++') and once at the end of a free generation (for '+++'); when that
// generation ends at a stop token they stay on the device, and '+++' recomputes them by feeding
// the generated tokens again on gen0's state.
//
// A reply (ChatRWKV v2 chat.py, docs/rwkv-math.md section 8.2 for the penalties): sampled
// token by token with presence/frequency penalties counted within the reply
// (weight 1 for every token, as the chat demos), token 0 (World and 20B end of
// text) banned,
// and the newline logits adjusted by the reply's length i (tokens so far):
// -inf for the first two tokens, (i-1-len_short)/10 up to len_short (short
// replies are discouraged), 0 up to len_long, then +(i-1-len_long)/4, growing
// until the reply ends. "Newline logits" are the tokens "\n" and, where the
// vocabulary has it as one token (World, 20B), "\n\n". A token of AVOID_REPEAT
// ("，：？！") is never drawn twice in a row. The reply ends at the first "\n\n";
// if it stops earlier (Ctrl-C, --reply-max) the blank line is fed and printed
// anyway, so the next turn starts cleanly.
// A free generation (+gen, +i, +qq, +qa, ++, +++) has the same penalties,
// stops at token 0 (World, 20B) or after gen_len tokens (at a character
// boundary), and
// leaves the chat's own state alone.
#pragma once

#include <cstdint>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "chat_command.h"
#include "chat_prompt.h"
#include "cli_args.h"
#include "cli_model.h"
#include "runtime/sampler/sampler.h"

namespace cli {

struct ChatSettings {
  SamplerOptions sampling;  // temp and top_p are the defaults of each line
  uint64_t seed = 0;        // generation n uses a seed derived from (seed, n)
  int reply_max = 999;      // tokens per reply at most (ChatRWKV: 999)
  int gen_len = 200;        // tokens per free generation (ChatRWKV: FREE_GEN_LEN)
  int len_short = 40;       // newline control (ChatRWKV: CHAT_LEN_SHORT, CHAT_LEN_LONG)
  int len_long = 150;
  std::string model_path;   // +save refuses to write over it
};

class ChatSession {
 public:
  static constexpr int kSlots = 6;

  // `lm` must have kSlots slots and outlive the session. `out` receives the
  // conversation (bot prefixes, replies, generations), `info` notes and errors.
  ChatSession(LoadedModel& lm, ChatPrompt prompt, ChatSettings settings, std::FILE* out,
              std::FILE* info);

  // Feeds the prompt's initial conversation (the init and chat states).
  void start();

  // Runs one command. What the user can fix (nothing to retry, a bad file) is
  // one line on `info` and the chat goes on; a model failure throws CliError.
  void run(const ChatCommand& c);

  const ChatPrompt& prompt() const { return prompt_; }

 private:
  enum Slot : int32_t { kWork = 0, kInit, kChat, kPre, kGen0, kGen1 };
  struct Saved {  // a state's logits and last token (for AVOID_REPEAT)
    bool valid = false;
    std::vector<float> logits;
    int32_t last_token = -1;
    // gen1 only: when not empty, `logits` were left on the device; they are those after feeding
    // these tokens one at a time on gen0's state (resolve_gen1).
    std::vector<int32_t> replay;
  };

  void message(const std::string& text, double temp, double top_p);
  void another(double temp, double top_p);
  // A free generation from `text` fed onto the state `from` (kWork: a fresh state).
  void free_start(Slot from, const std::string& text, double newline_bias, double temp, double top_p);
  void free_retry(double temp, double top_p);
  void free_more(double temp, double top_p);
  void load_prompt(const std::string& path);
  void save_chat(const std::string& path);  // +save: the chat slot to a state file
  void load_chat(const std::string& path);  // +load

  // Feeds text to the work slot; returns its last token (-1: empty) and (if logits) the logits
  // after it. With `interrupted`, a Ctrl-C between chunks stops it (*interrupted = true, the
  // work slot then part-fed).
  int32_t feed(const std::string& text, std::vector<float>* logits, bool* interrupted = nullptr);
  void dropped_text();
  static constexpr size_t kLongText = 4096;  // tokens: a text this long is announced on stderr
  void copy(Slot from, Slot to);
  void save_work(Slot to, Saved* saved, const std::vector<float>& logits, int32_t last_token);
  void reset_work();
  void restart_chat();  // init from the prompt, chat = init

  // Generation from the work slot, whose logits (after last_token) are `logits`.
  void reply(const std::vector<float>& logits, int32_t last_token, double temp, double top_p);
  void free_generate(const std::vector<float>& logits, int32_t last_token, double temp, double top_p);
  std::vector<rwkv::StepBias> reply_bias(int i, int32_t last_token) const;
  std::vector<rwkv::StepBias> free_bias(int i, int32_t last_token) const;
  rwkv::Sampler::Result draw_first(rwkv::Sampler& smp, const std::vector<float>& logits);
  rwkv::Sampler::Result feed_and_draw(int32_t token, rwkv::Sampler& smp);
  void feed_token(int32_t token, std::vector<float>* logits);
  void resolve_gen1();
  rwkv::Sampler sampler(double temp, double top_p, bool free_generation);
  float newline_adjust(int i) const;
  std::string token_bytes(int32_t token) const;
  void note(const std::string& line);

  LoadedModel& lm_;
  ChatPrompt prompt_;
  ChatSettings s_;
  std::FILE* out_;
  std::FILE* info_;
  std::string tokenizer_kind_;
  size_t n_vocab_;
  std::vector<int32_t> newline_tokens_;
  std::set<int32_t> avoid_repeat_;
  int32_t init_last_token_ = -1;
  Saved pre_, gen0_, gen1_;
  double gen_newline_bias_ = 0;  // of the last free generation (+qa: -2), kept by ++ and +++
  uint64_t generation_ = 0;      // generations so far (seeds)
};

}  // namespace cli
