// tools/rwkv-run/chat_prompt.cpp: see chat_prompt.h.
#include "chat_prompt.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "chat_prompt_dirs.h"
#include "cli_args.h"

namespace cli {

// Kept identical to tools/rwkv-run/prompts/assistant.txt and bob-alice.txt
// (tests/runtime/test_cli_chat_prompts.cpp compares them).
const char kAssistantPromptFile[] =
    "# rwkv-run chat prompt: a helpful assistant, in the User/Assistant format of the\n"
    "# RWKV World models (also used for byte-level models).\n"
    "user: User\n"
    "bot: Assistant\n"
    "separator: :\n"
    "---\n"
    "User: Hello, who are you?\n"
    "\n"
    "Assistant: I am an AI assistant. Ask me anything and I will answer clearly, in detail and to the point.\n";

const char kBobAlicePromptFile[] =
    "# rwkv-run chat prompt: the Bob and Alice conversation style of ChatRWKV, for\n"
    "# RWKV-4 Pile / Raven models (20B tokenizer).\n"
    "user: Bob\n"
    "bot: Alice\n"
    "separator: :\n"
    "---\n"
    "This is a long, friendly conversation between Bob and his friend Alice. Alice is clever, kind and curious. She answers Bob in detail, tells him what she thinks, and gives him useful advice.\n"
    "\n"
    "Bob: Hi Alice, how have you been?\n"
    "\n"
    "Alice: Hello Bob! I have been well, thank you. I spent the weekend reading about the stars. And you?\n"
    "\n"
    "Bob: Good, thanks. Can I ask you a few questions today?\n"
    "\n"
    "Alice: Of course. Ask me anything and I will explain it as well as I can.\n";

namespace {

bool is_space_at(const std::string& s, size_t i, size_t* len) {
  const unsigned char c = static_cast<unsigned char>(s[i]);
  if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f') {
    *len = 1;
    return true;
  }
  if (s.compare(i, 3, "\xE3\x80\x80") == 0) {  // U+3000 ideographic space
    *len = 3;
    return true;
  }
  return false;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t nl = text.find('\n', start);
    if (nl == std::string::npos) {
      lines.push_back(text.substr(start));
      break;
    }
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

}  // namespace

std::string trim(const std::string& s) {
  size_t b = 0, len = 0;
  while (b < s.size() && is_space_at(s, b, &len)) b += len;
  size_t e = s.size();
  for (;;) {
    if (e > b && is_space_at(s, e - 1, &len) && len == 1) {
      e -= 1;
    } else if (e >= b + 3 && s.compare(e - 3, 3, "\xE3\x80\x80") == 0) {
      e -= 3;
    } else {
      break;
    }
  }
  return s.substr(b, e - b);
}

ChatPrompt parse_chat_prompt(const std::string& text, const std::string& source) {
  ChatPrompt p;
  bool have_user = false, have_bot = false;
  const std::vector<std::string> lines = split_lines(text);
  size_t i = 0;
  for (; i < lines.size(); ++i) {
    const std::string line = trim(lines[i]);
    const std::string where = source + ":" + std::to_string(i + 1);
    if (line == "---") {
      ++i;
      break;
    }
    if (line.empty() || line[0] == '#') continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos)
      runtime_fail(where + ": expected 'key: value' or '---', got '" + line +
                   "' (see the format in rwkv-run chat --help)");
    const std::string key = trim(line.substr(0, colon));
    const std::string value = trim(line.substr(colon + 1));
    if (key == "user") {
      p.user = value;
      have_user = true;
    } else if (key == "bot") {
      p.bot = value;
      have_bot = true;
    } else if (key == "separator") {
      p.separator = value;
    } else {
      runtime_fail(where + ": unknown key '" + key + "' (expected user, bot or separator)");
    }
  }
  if (!have_user || p.user.empty() || !have_bot || p.bot.empty())
    runtime_fail(source + ": the header needs 'user: NAME' and 'bot: NAME' lines before '---'");
  for (; i < lines.size(); ++i) {
    p.conversation += lines[i];
    if (i + 1 < lines.size()) p.conversation += '\n';
  }
  return p;
}

ChatPrompt read_chat_prompt_file(const std::string& path_or_name) {
  const std::string path = find_chat_prompt_file(path_or_name);
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) runtime_fail(path + ": cannot open (" + std::strerror(errno) + "); give a chat prompt file");
  std::string text;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    text.append(buf, n);
    if (text.size() > (64u << 20)) {
      std::fclose(f);
      runtime_fail(path + ": larger than 64 MiB; is it really a chat prompt file?");
    }
  }
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) runtime_fail(path + ": read error");
  return parse_chat_prompt(text, path);
}

ChatPrompt default_chat_prompt(const std::string& tokenizer_kind) {
  return tokenizer_kind == "20b" ? parse_chat_prompt(kBobAlicePromptFile, "bob-alice.txt")
                                 : parse_chat_prompt(kAssistantPromptFile, "assistant.txt");
}

std::string initial_text(const ChatPrompt& p) {
  std::string joined;
  const std::vector<std::string> lines = split_lines(p.conversation);
  for (size_t i = 0; i < lines.size(); ++i) joined += (i ? "\n" : "") + trim(lines[i]);
  joined = trim(joined);
  return joined.empty() ? std::string() : "\n" + joined + "\n\n";
}

std::string turn_text(const ChatPrompt& p, const std::string& message) {
  return p.user + p.separator + " " + message + "\n\n" + p.bot + p.separator;
}

std::string bot_prefix(const ChatPrompt& p) { return p.bot + p.separator; }
std::string user_prefix(const ChatPrompt& p) { return p.user + p.separator + " "; }

std::string instruction_text(const std::string& tokenizer_kind, const std::string& instruction) {
  if (tokenizer_kind == "20b")
    return "\nBelow is an instruction that describes a task. Write a response that appropriately "
           "completes the request.\n\n# Instruction:\n" +
           instruction + "\n\n# Response:\n";
  return "Instruction: " + instruction + "\n\nResponse:";
}

}  // namespace cli
