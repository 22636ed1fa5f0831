// tools/rwkv-run/chat_command.cpp: see chat_command.h.
#include "chat_command.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cmath>
#include <cstdlib>

#include "chat_prompt.h"

namespace cli {

const char kChatHelp[] =
    "chat commands (a line that is not a command is a message; \\n in a line is a newline):\n"
    "  MESSAGE          talk; the reply ends at a blank line\n"
    "  +                another reply to the last message\n"
    "  +gen TEXT        free generation from TEXT (fresh state)\n"
    "  +i TEXT          instruction: 'Instruction: TEXT' / 'Response:' (fresh state)\n"
    "  +qq TEXT         plain question and answer (fresh state)\n"
    "  +qa TEXT         question and answer in the chat format, from the chat's start\n"
    "  ++               retry the last free generation (+gen, +i, +qq, +qa)\n"
    "  +++              continue the last free generation\n"
    "  +reset           back to the chat's initial state\n"
    "  +prompt FILE     load another chat prompt file and reset\n"
    "  +save FILE       save the conversation's state to FILE\n"
    "  +load FILE       continue a conversation saved with +save (same model)\n"
    "  +help            this list\n"
    "  -temp=X -top_p=X at the end of a line: sampling for that line only\n"
    "  \\+TEXT           a message that starts with '+'\n"
    "  Ctrl-C stops a reply; Ctrl-D (end of input) quits.\n";

namespace {

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  return s;
}

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
}

ChatCommand error(const std::string& msg) {
  ChatCommand c;
  c.kind = ChatCommand::Kind::error;
  c.error = msg;
  return c;
}

// Strips trailing "-temp=X" / "-top_p=X" words into c; false (with c.error) on a bad value.
bool take_sampling_words(std::string& msg, ChatCommand& c) {
  for (;;) {
    size_t start = msg.size();
    while (start > 0 && !is_ws(msg[start - 1])) --start;
    const std::string word = msg.substr(start);
    const bool is_temp = word.rfind("-temp=", 0) == 0;
    const bool is_top_p = word.rfind("-top_p=", 0) == 0;
    if (!is_temp && !is_top_p) return true;
    const std::string value = word.substr(is_temp ? 6 : 7);
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(value.c_str(), &end);
    if (value.empty() || *end || errno == ERANGE || !std::isfinite(v)) {
      c.error = is_temp ? "bad '" + word + "': write -temp=NUMBER (0.2 to 5) at the end of the line"
                        : "bad '" + word + "': write -top_p=NUMBER (0 to 1) at the end of the line";
      return false;
    }
    // ChatRWKV v2 clamps the temperature to [0.2, 5] and top-p below at 0 (here also above at 1).
    const double lo = is_temp ? 0.2 : 0.0, hi = is_temp ? 5.0 : 1.0;
    const double used = std::min(hi, std::max(lo, v));
    (is_temp ? c.temp : c.top_p) = used;
    if (used != v) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "%s is outside [%g, %g]: using %g", word.c_str(), lo, hi, used);
      c.note += (c.note.empty() ? "" : "; ") + std::string(buf);
    }
    msg = trim(msg.substr(0, start));
  }
}

}  // namespace

ChatCommand parse_chat_line(const std::string& line, double temp, double top_p) {
  ChatCommand c;
  c.temp = temp;
  c.top_p = top_p;
  std::string msg = line;
  replace_all(msg, "\\n", "\n");
  msg = trim(msg);
  if (!take_sampling_words(msg, c)) return error(c.error);
  if (msg.empty()) return c;  // Kind::none

  using K = ChatCommand::Kind;
  if (msg.compare(0, 2, "\\+") == 0) {
    msg.erase(0, 1);  // an escaped '+': a message
  } else if (msg[0] == '+') {
    size_t word_end = 0;
    while (word_end < msg.size() && !is_ws(msg[word_end])) ++word_end;
    const std::string word = lower(msg.substr(0, word_end));
    const std::string arg = trim(msg.substr(word_end));
    struct Entry {
      const char* name;
      K kind;
      const char* arg;  // what the argument is, or nullptr for none
    };
    static const Entry kCommands[] = {
        {"+", K::another, nullptr},     {"++", K::retry, nullptr},   {"+++", K::more, nullptr},
        {"+gen", K::gen, "TEXT"},       {"+i", K::instruct, "TEXT"}, {"+qq", K::qq, "TEXT"},
        {"+qa", K::qa, "TEXT"},         {"+reset", K::reset, nullptr}, {"+prompt", K::prompt, "FILE"},
        {"+save", K::save, "FILE"},     {"+load", K::load, "FILE"},  {"+help", K::help, nullptr},
    };
    for (const Entry& e : kCommands) {
      if (word != e.name) continue;
      if (e.arg && arg.empty()) return error(std::string(e.name) + " needs a " + e.arg + ": " + e.name + " " + e.arg);
      if (!e.arg && !arg.empty())
        return error(std::string(e.name) + " takes nothing after it (to send a message starting with '+', write \\+)");
      c.kind = e.kind;
      c.text = arg;
      return c;
    }
    return error("unknown chat command '" + msg.substr(0, word_end) +
                 "' (type +help for the list; write \\+ to start a message with '+')");
  }
  // A message: no blank lines inside, they would end the user's turn early.
  replace_all(msg, "\r\n", "\n");
  while (msg.find("\n\n") != std::string::npos) replace_all(msg, "\n\n", "\n");
  c.kind = K::message;
  c.text = msg;
  return c;
}

}  // namespace cli
