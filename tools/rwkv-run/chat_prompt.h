// tools/rwkv-run/chat_prompt.h: chat prompt files and the text formats of
// `rwkv-run chat` (names, separator, the turns the model sees).
//
// A chat prompt file is plain UTF-8 text: a header of "key: value" lines, a
// line "---", then the initial conversation, verbatim:
//
//   # comment lines (header only) start with '#'
//   user: User            the user's name (required)
//   bot: Assistant        the bot's name (required)
//   separator: :          what follows a name (optional, default ":")
//   ---
//   User: Hello, who are you?
//
//   Assistant: I am an AI assistant. ...
//
// Values are trimmed. The conversation is used as ChatRWKV v2 uses its
// init_prompt: every line trimmed, the whole trimmed, and "\n" + it + "\n\n"
// fed to the model (nothing when empty). Each message then becomes
// "<user><separator> <message>\n\n<bot><separator>" and the reply runs to the
// first blank line ("\n\n").
#pragma once

#include <string>

namespace cli {

struct ChatPrompt {
  std::string user, bot, separator = ":";
  std::string conversation;  // the initial conversation, as written in the file
};

// Parses a prompt file's text; throws CliError (exit 1) naming `source` and the line.
ChatPrompt parse_chat_prompt(const std::string& text, const std::string& source);
// Reads and parses a file, or a shipped prompt by name (find_chat_prompt_file in
// chat_prompt_dirs.h); throws CliError (exit 1) when unreadable or malformed.
ChatPrompt read_chat_prompt_file(const std::string& path_or_name);

// The built-in prompt for a tokenizer kind: "20b" (Pile / Raven models) gets
// the Bob/Alice conversation, every other kind (world, bytes) User/Assistant.
// The same texts ship as tools/rwkv-run/prompts/{assistant,bob-alice}.txt.
ChatPrompt default_chat_prompt(const std::string& tokenizer_kind);
extern const char kAssistantPromptFile[];
extern const char kBobAlicePromptFile[];

// The text fed once at the start (and after +reset / +prompt); may be "".
std::string initial_text(const ChatPrompt& p);
// "<user><sep> <message>\n\n<bot><sep>": one user turn and the bot's cue.
std::string turn_text(const ChatPrompt& p, const std::string& message);
// "<bot><sep>": printed before a reply.
std::string bot_prefix(const ChatPrompt& p);
// "<user><sep> ": the input prompt on a terminal.
std::string user_prefix(const ChatPrompt& p);

// The `+i` instruction format: World-style "Instruction: ...\n\nResponse:"
// for World and bytes tokenizers, the Alpaca-style "# Instruction:" /
// "# Response:" block of ChatRWKV for 20B models.
std::string instruction_text(const std::string& tokenizer_kind, const std::string& instruction);

// Trims ASCII whitespace (and U+3000, as ChatRWKV) at both ends.
std::string trim(const std::string& s);

}  // namespace cli
