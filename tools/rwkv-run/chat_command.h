// tools/rwkv-run/chat_command.h: one input line of `rwkv-run chat` -> what to do.
//
// As ChatRWKV v2's chat: "\n" (backslash n) in a line is a newline; a line is
// trimmed; "-temp=X" / "-top_p=X" words at the end set the sampling of that
// line's generation (temperature clamped to [0.2, 5], top-p to [0, 1]);
// commands start with '+' (case-insensitive), anything else is a message.
// A message that must start with '+' is written "\+...".
#pragma once

#include <string>

namespace cli {

struct ChatCommand {
  enum class Kind {
    none,      // empty line: nothing to do
    error,     // `error` says what is wrong and how to fix it
    message,   // a chat message: `text`
    another,   // "+": another reply to the last message
    retry,     // "++": retry the last free generation
    more,      // "+++": continue the last free generation
    gen,       // "+gen TEXT": free generation from TEXT, fresh state
    instruct,  // "+i TEXT": instruction format, fresh state
    qq,        // "+qq TEXT": plain Q/A, fresh state
    qa,        // "+qa TEXT": Q/A in the chat format, from the chat's initial state
    reset,     // "+reset"
    prompt,    // "+prompt PATH"
    save,      // "+save PATH"
    load,      // "+load PATH"
    help,      // "+help"
  };
  Kind kind = Kind::none;
  std::string text;   // message, generation text or path
  double temp = 1.0;  // sampling for this line's generation
  double top_p = 0.85;
  std::string error;
  std::string note;   // a value clamped into range, said on stderr before the line runs
};

// `temp` and `top_p`: the session's settings, used unless the line overrides them.
ChatCommand parse_chat_line(const std::string& line, double temp, double top_p);

// The text of +help.
extern const char kChatHelp[];

}  // namespace cli
