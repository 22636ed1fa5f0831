// Tests of `rwkv-run chat` (tools/rwkv-run/cmd_chat.cpp, chat_session.cpp)
// driven through pipes with the tiny byte-level v7 model. Sessions run greedy
// (top-p 0) without penalties, so every reply can be recomputed here through
// the C API: ChatRWKV v2's reply rules (newline logit adjusted by the reply's
// length, end at the first blank line) on rwkv_eval's logits. The byte
// vocabulary has no end-of-text token, so nothing is banned or stops early.
#include <catch2/catch.hpp>

#include <signal.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "runtime/capi_test_util.h"
#include "runtime/cli_process_util.h"

namespace {

using cli_test::run;
using cli_test::tiny_model;

const char kPromptFile[] =
    "# test prompt\n"
    "user: User\n"
    "bot: Assistant\n"
    "---\n"
    "  User: Hi there.  \n"
    "\n"
    "Assistant: Hello! How can I help?\n\n\n";
// The documented rule: lines trimmed, the whole trimmed, "\n" + it + "\n\n".
const char kInitialText[] = "\nUser: Hi there.\n\nAssistant: Hello! How can I help?\n\n";

std::string turn(const std::string& msg) { return "User: " + msg + "\n\nAssistant:"; }

std::vector<int32_t> bytes_of(const std::string& s) {
  std::vector<int32_t> t;
  for (unsigned char c : s) t.push_back(c);
  return t;
}

int32_t argmax(const std::vector<float>& x) {
  return int32_t(std::max_element(x.begin(), x.end()) - x.begin());
}

// The model's state and logits, advanced by text, as the chat would.
struct Ref {
  capi_test::Model m;
  std::vector<float> logits;
  Ref() {
    capi_test::load(m, "tiny-rwkv-7v0-834K.pth");
    feed(kInitialText);
  }
  void reset() {
    REQUIRE(rwkv_state_reset(m, 0) == RWKV_OK);
    logits.clear();
  }
  void feed(const std::string& text) { logits = capi_test::eval(m, 0, bytes_of(text)); }

  // A greedy chat reply from the current logits: ChatRWKV v2's newline
  // adjustment (len_short 40, len_long 150), ends at "\n\n";
  // a reply cut at reply_max gets its blank line fed.
  std::string reply(int reply_max = 999) {
    std::string text;
    for (int i = 0; i < reply_max; ++i) {
      std::vector<float> x = logits;
      const int j = i - 1;
      const float adj = j <= 0 ? -INFINITY : j <= 40 ? float(j - 40) / 10 : j <= 150 ? 0.f : float(j - 150) * 0.25f;
      x['\n'] += adj;
      const int32_t tok = argmax(x);
      text += char(tok);
      feed(std::string(1, char(tok)));
      if (text.find("\n\n") != std::string::npos) return text;
    }
    const std::string tail = !text.empty() && text.back() == '\n' ? "\n" : "\n\n";
    feed(tail);
    return text + tail;
  }

  // A greedy free generation of n tokens; `newline_bias`
  // is added to "\n" from the second token on (+qa: -2).
  std::string free(int n, float newline_bias = 0) {
    std::string text;
    for (int i = 0; i < n; ++i) {
      std::vector<float> x = logits;
      if (i > 0) x['\n'] += newline_bias;
      const int32_t tok = argmax(x);
      text += char(tok);
      feed(std::string(1, char(tok)));
    }
    return text;
  }
};

struct Chat {
  cli_test::TempDir dir;
  std::vector<std::string> args;
  explicit Chat(std::vector<std::string> extra = {}) {
    cli_test::write_file(dir.file("prompt.txt"), kPromptFile);
    args = {"chat", "-m", tiny_model(), "--prompt", dir.file("prompt.txt"), "--top-p", "0",
            "--presence", "0", "--frequency", "0", "--seed", "5"};
    args.insert(args.end(), extra.begin(), extra.end());
  }
  cli_test::Result talk(const std::string& input) {
    cli_test::Result r = run(args, input);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return r;
  }
};

std::string repo_root() {
  std::string f = __FILE__;  // <root>/tests/runtime/test_cli_chat.cpp
  for (int i = 0; i < 3; ++i) f = f.substr(0, f.rfind('/'));
  return f;
}

}  // namespace

TEST_CASE("rwkv-run chat: replies follow ChatRWKV's rules and the conversation goes on", "[cli][chat]") {
  Chat chat;
  Ref ref;
  ref.feed(turn("Hello, who are you?"));
  const std::string r1 = ref.reply();
  ref.feed(turn("Tell me a story."));
  const std::string r2 = ref.reply();
  const auto r = chat.talk("Hello, who are you?\nTell me a story.\n");
  CHECK(r.out == "Assistant:" + r1 + "Assistant:" + r2);
  CHECK(r1.size() >= 2);
  CHECK(r1.compare(r1.size() - 2, 2, "\n\n") == 0);
}

TEST_CASE("rwkv-run chat: + answers the last message again from the state before the reply", "[cli][chat]") {
  Chat chat;
  Ref ref;
  ref.feed(turn("Hello, who are you?"));
  const std::string r1 = ref.reply();
  // Greedy, so the other reply is the same text; from any other state it would differ.
  ref.feed(turn("Tell me a story."));
  const std::string r2 = ref.reply();
  const auto r = chat.talk("Hello, who are you?\n+\nTell me a story.\n");
  CHECK(r.out == "Assistant:" + r1 + "Assistant:" + r1 + "Assistant:" + r2);
  // '+' with nothing to answer is a note, not a reply.
  const auto none = chat.talk("+\n");
  CHECK(none.out.empty());
  CHECK(none.err.find("nothing to reply to again") != std::string::npos);
}

TEST_CASE("rwkv-run chat: -temp and -top_p at the end of a line set that reply's sampling", "[cli][chat]") {
  // Sampled at the default top-p, except the line that asks for -top_p=0 (greedy).
  Chat chat;
  chat.args = {"chat", "-m", tiny_model(), "--prompt", chat.dir.file("prompt.txt"), "--presence", "0",
               "--frequency", "0", "--seed", "5", "--reply-max", "40"};
  Ref ref;
  ref.feed(turn("Hello, who are you?"));
  const std::string greedy = ref.reply(40);
  const auto r = chat.talk("Hello, who are you? -temp=3 -top_p=0\n");
  CHECK(r.out == "Assistant:" + greedy);
  const auto sampled = chat.talk("Hello, who are you? -temp=1.5\n");
  CHECK(sampled.out != "Assistant:" + greedy);
  const auto bad = chat.talk("Hello -temp=hot\n");
  CHECK(bad.out.empty());
  CHECK(bad.err.find("bad '-temp=hot'") != std::string::npos);
}

TEST_CASE("rwkv-run chat: +reset goes back to the initial conversation", "[cli][chat]") {
  Chat chat;
  Ref ref;
  ref.feed(turn("Hello, who are you?"));
  const std::string r1 = ref.reply();
  ref.feed(turn("Hello, who are you?"));
  const std::string r1_again = ref.reply();
  const auto r = chat.talk("Hello, who are you?\nHello, who are you?\n+reset\nHello, who are you?\n");
  CHECK(r.out == "Assistant:" + r1 + "Assistant:" + r1_again + "Assistant:" + r1);
  CHECK(r.err.find("Chat reset.") != std::string::npos);
}

TEST_CASE("rwkv-run chat: +save and +load carry the conversation to another session", "[cli][chat]") {
  Chat chat;
  Ref ref;
  ref.feed(turn("Hello, who are you?"));
  const std::string r1 = ref.reply();
  ref.feed(turn("Tell me a story."));
  const std::string r2 = ref.reply();
  const std::string file = chat.dir.file("conversation.state");
  const auto a = chat.talk("Hello, who are you?\n+save " + file + "\n");
  CHECK(a.out == "Assistant:" + r1);
  CHECK(a.err.find("Saved the conversation to " + file) != std::string::npos);
  const auto b = chat.talk("+load " + file + "\nTell me a story.\n");
  CHECK(b.out == "Assistant:" + r2);
  // A bad file is a note; the conversation stays where it was.
  cli_test::write_file(chat.dir.file("junk.state"), "not a state");
  const auto c = chat.talk("Hello, who are you?\n+load " + chat.dir.file("junk.state") + "\nTell me a story.\n");
  CHECK(c.out == "Assistant:" + r1 + "Assistant:" + r2);
  CHECK(c.err.find("+load: ") != std::string::npos);
  // A state of another model is refused.
  const auto v4 = run({"generate", "-m", tiny_model("tiny-rwkv-4v0-660K"), "-p", "x", "-n", "0", "-q",
                       "--state-out", chat.dir.file("v4.state")});
  REQUIRE(v4.exit_code == 0);
  const auto d = chat.talk("+load " + chat.dir.file("v4.state") + "\n");
  CHECK(d.err.find("+load: ") != std::string::npos);
}

TEST_CASE("rwkv-run chat: +gen then +++ and ++ generate then continue and retry", "[cli][chat]") {
  Chat chat({"--gen-len", "40"});
  Ref ref;
  ref.reset();
  ref.feed("\nOnce upon a time");
  const std::string g1 = ref.free(40);
  const std::string g2 = ref.free(40);  // +++ continues
  // ++ after +++ retries the continuation: greedy, the same text again.
  const auto r = chat.talk("+gen Once upon a time\n+++\n++\n");
  CHECK(r.out == g1 + "\n\n" + g2 + "\n\n" + g2 + "\n\n");
  // Free generation leaves the chat alone: a message after it answers from the initial conversation.
  Ref chat_ref;
  chat_ref.feed(turn("Hello, who are you?"));
  const auto after = chat.talk("+gen Once upon a time\nHello, who are you?\n");
  CHECK(after.out == g1 + "\n\n" + "Assistant:" + chat_ref.reply());
  const auto none = chat.talk("++\n+++\n");
  CHECK(none.out.empty());
  CHECK(none.err.find("nothing to retry") != std::string::npos);
  CHECK(none.err.find("nothing to continue") != std::string::npos);
}

TEST_CASE("rwkv-run chat: +qq and +i and +qa prompt formats", "[cli][chat]") {
  Chat chat({"--gen-len", "30"});
  Ref qq;
  qq.reset();
  qq.feed("\nQ: What is the sun?\nA:");
  Ref ins;
  ins.reset();
  ins.feed("Instruction: Write a poem.\n\nResponse:");
  Ref qa;  // from the initial conversation, "\n" held back by 2 after the first token
  qa.feed(turn("What is the sun?"));
  const std::string expected = qq.free(30) + "\n\n" + ins.free(30) + "\n\n" + qa.free(30, -2) + "\n\n";
  const auto r = chat.talk("+qq What is the sun?\n+i Write a poem.\n+qa What is the sun?\n");
  CHECK(r.out == expected);
}

TEST_CASE("rwkv-run chat: +prompt loads a prompt file and the shipped files work", "[cli][chat]") {
  const std::string dir = repo_root() + "/tools/rwkv-run/prompts/";
  // The built-in default is tools/rwkv-run/prompts/assistant.txt.
  const std::vector<std::string> base = {"chat", "-m", tiny_model(), "--top-p", "0", "--reply-max", "30"};
  const auto builtin = run(base, "Hi\n");
  std::vector<std::string> with_file = base;
  with_file.insert(with_file.end(), {"--prompt", dir + "assistant.txt"});
  const auto file = run(with_file, "Hi\n");
  REQUIRE(builtin.exit_code == 0);
  REQUIRE(file.exit_code == 0);
  CHECK(builtin.out == file.out);
  CHECK(builtin.out.rfind("Assistant:", 0) == 0);
  // +prompt switches to Bob and Alice: the replies are Alice's.
  const auto bob = run(base, "+prompt " + dir + "bob-alice.txt\nHi\n");
  REQUIRE(bob.exit_code == 0);
  CHECK(bob.out.rfind("Alice:", 0) == 0);
  CHECK(bob.err.find("Loaded the prompt") != std::string::npos);
  // A missing or malformed file is a note and the chat goes on.
  Chat chat;
  cli_test::write_file(chat.dir.file("bad.txt"), "no header here\n---\nhello\n");
  const auto bad = chat.talk("+prompt " + chat.dir.file("missing.txt") + "\n+prompt " + chat.dir.file("bad.txt") + "\n");
  CHECK(bad.err.find("missing.txt: cannot open") != std::string::npos);
  CHECK(bad.err.find("bad.txt:1: expected 'key: value'") != std::string::npos);
}

TEST_CASE("rwkv-run chat: unknown commands are one note and the chat goes on", "[cli][chat]") {
  Chat chat;
  Ref ref;
  ref.feed(turn("+1 for that"));
  const std::string escaped = ref.reply();
  const auto r = chat.talk("+foo\n+gen\n+reset now\n\\+1 for that\n");
  CHECK(r.err.find("unknown chat command '+foo' (type +help for the list") != std::string::npos);
  CHECK(r.err.find("+gen needs a TEXT") != std::string::npos);
  CHECK(r.err.find("+reset takes nothing after it") != std::string::npos);
  CHECK(r.out == "Assistant:" + escaped);
  const auto help = chat.talk("+help\n");
  for (const char* c : {"+gen", "+i ", "+qq", "+qa", "++ ", "+++", "+reset", "+prompt", "+save", "+load", "+help", "-temp="})
    CHECK(help.err.find(c) != std::string::npos);
}

TEST_CASE("rwkv-run chat: Ctrl-C stops a generation and not the chat", "[cli][chat]") {
  cli_test::TempDir dir;
  cli_test::write_file(dir.file("prompt.txt"), kPromptFile);
  cli_test::Interactive child({"chat", "-m", tiny_model(), "--prompt", dir.file("prompt.txt"), "--seed", "1",
                               "--gen-len", "100000000", "--reply-max", "20", "--echo"});
  // Ctrl-C at the input prompt does not end the chat: a new prompt follows.
  REQUIRE(child.read_until("User: "));
  child.signal(SIGINT);
  REQUIRE(child.read_until("User: \nUser: "));
  child.send("+gen Once upon a time\n");
  const bool got = child.read_until(size_t(300));
  INFO(child.out().size() << " bytes: " << child.out());
  REQUIRE(got);
  child.signal(SIGINT);
  child.send("Hi\n");
  REQUIRE(child.read_until("Assistant:"));
  child.close_stdin();
  const cli_test::Result r = child.finish();
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("[generation stopped]") != std::string::npos);
  CHECK(r.out.size() < 1000000);
}

TEST_CASE("rwkv-run chat: bad options are one line with exit 2 and bad files exit 1", "[cli][chat]") {
  cli_test::TempDir dir;
  cli_test::write_file(dir.file("bad.txt"), "user: A\n---\n");
  const std::string m = tiny_model();
  const std::vector<std::vector<std::string>> usage = {
      {"chat", "-m", m, "--frobnicate"}, {"chat", "-m", m, "--top-p", "2"}, {"chat", "-m", m, "--reply-max", "0"},
      {"chat", "-m", m, "--gen-len", "x"}, {"chat", "-m", m, "--temp"},   {"chat"},
      {"chat", "-m", m, "--ban", "999"},  {"chat", "-m", m, "--device", "tpu"},
  };
  for (const auto& args : usage) {
    const auto r = run(args, "Hi\n");
    INFO(args.back() << "\n" << r.err);
    CHECK(r.exit_code == 2);
    CHECK(cli_test::one_error_line(r.err, "chat"));
    CHECK(r.out.empty());
  }
  const std::vector<std::vector<std::string>> runtime = {
      {"chat", "-m", dir.file("missing.pth")},
      {"chat", "-m", m, "--prompt", dir.file("missing.txt")},
      {"chat", "-m", m, "--prompt", dir.file("bad.txt")},
  };
  for (const auto& args : runtime) {
    const auto r = run(args, "Hi\n");
    INFO(args.back() << "\n" << r.err);
    CHECK(r.exit_code == 1);
    CHECK(cli_test::one_error_line(r.err, "chat"));
  }
  const auto help = run({"chat", "--help"});
  CHECK(help.exit_code == 0);
  for (const char* opt : {"-m, --model", "--prompt", "--reply-max", "--gen-len", "--echo", "--temp", "--top-p",
                          "--top-k", "--presence", "--frequency", "--decay", "--seed", "--ban", "--device",
                          "--dtype", "--threads", "--tokenizer", "+save", "+load", "+help"})
    CHECK(help.out.find(opt) != std::string::npos);
}
