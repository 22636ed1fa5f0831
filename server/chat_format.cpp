// server/chat_format.cpp: see chat_format.h.
#include "server/chat_format.h"

#include <stdexcept>

namespace rwkv {
namespace server {

namespace {

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  size_t at = 0;
  while ((at = s.find(from, at)) != std::string::npos) {
    s.replace(at, from.size(), to);
    at += to.size();
  }
  return s;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

}  // namespace

std::string normalize_message(const std::string& content) {
  std::string s = replace_all(content, "\r\n", "\n");
  while (s.find("\n\n") != std::string::npos) s = replace_all(s, "\n\n", "\n");
  size_t b = 0, e = s.size();
  while (b < e && is_space(s[b])) ++b;
  while (e > b && is_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

std::vector<std::string> render_chat(const std::vector<ChatMessage>& messages, const std::string& tokenizer_kind) {
  const bool pile = tokenizer_kind == "20b";
  const std::string user = pile ? "Bob" : "User", bot = pile ? "Alice" : "Assistant";
  std::vector<std::string> pieces;
  for (const ChatMessage& m : messages) {
    const std::string text = normalize_message(m.content);
    if (m.role == "system")
      pieces.push_back(pile ? text + "\n\n" : "System: " + text + "\n\n");
    else if (m.role == "user")
      pieces.push_back(user + ": " + text + "\n\n");
    else if (m.role == "assistant")
      pieces.push_back(bot + ": " + text + "\n\n");
    else
      throw std::invalid_argument("unknown role '" + m.role + "' (system, user or assistant)");
  }
  pieces.push_back(bot + ":");
  return pieces;
}

}  // namespace server
}  // namespace rwkv
