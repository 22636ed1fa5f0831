// server/chat_format.h: chat messages as the text an RWKV model was trained on
// (docs/server.md, "Chat format").
//
// World and byte-level models: "System: ...\n\n", "User: ...\n\n",
// "Assistant: ...\n\n", then the cue "Assistant:" (the reply starts with its
// space). 20B (Pile/Raven) models: a system message as plain text + "\n\n",
// "Bob: ...\n\n", "Alice: ...\n\n", then "Alice:". As ChatRWKV does, every
// message is trimmed, "\r\n" becomes "\n" and blank lines inside a message are
// removed ("\n\n" ends a turn); the reply stops at "\n\n".
#pragma once

#include <string>
#include <vector>

namespace rwkv {
namespace server {

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

// The rendered text, one piece per message and then the cue (so the server
// can keep the state after each message in its prefix cache). `tokenizer_kind`
// is "world", "20b" or "bytes". Throws std::invalid_argument for another role.
std::vector<std::string> render_chat(const std::vector<ChatMessage>& messages, const std::string& tokenizer_kind);

// The stop string every chat reply ends at (the turn separator).
inline const char* chat_turn_separator() { return "\n\n"; }

// A message's content as the model sees it (trimmed, "\r\n" -> "\n", no blank lines).
std::string normalize_message(const std::string& content);

}  // namespace server
}  // namespace rwkv
