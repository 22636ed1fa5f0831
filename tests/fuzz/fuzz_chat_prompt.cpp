// Fuzzes the chat prompt file parser (tools/rwkv-run/chat_prompt.h). What parses
// has non-empty one-line names, and written back as a header plus the
// conversation it parses to the same prompt; the texts built from it never fail.
#include <cstdlib>
#include <string>

#include "tools/rwkv-run/chat_prompt.h"
#include "tools/rwkv-run/cli_args.h"

// chat_prompt.cpp reports problems through cli::runtime_fail (tools/rwkv-run/cli_args.cpp,
// not built here: it needs the whole CLI); the same behaviour, a CliError with exit code 1.
namespace cli {
void runtime_fail(const std::string& msg) { throw CliError(1, msg); }
}  // namespace cli

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  cli::ChatPrompt p;
  try {
    p = cli::parse_chat_prompt(text, "fuzz.txt");
  } catch (const cli::CliError& e) {
    if (e.exit_code != 1) std::abort();
    return 0;
  }
  if (p.user.empty() || p.bot.empty()) std::abort();
  for (const std::string* name : {&p.user, &p.bot, &p.separator})
    if (name->find('\n') != std::string::npos || cli::trim(*name) != *name) std::abort();
  const std::string written =
      "user: " + p.user + "\nbot: " + p.bot + "\nseparator: " + p.separator + "\n---\n" + p.conversation;
  const cli::ChatPrompt again = cli::parse_chat_prompt(written, "written.txt");
  if (again.user != p.user || again.bot != p.bot || again.separator != p.separator ||
      again.conversation != p.conversation)
    std::abort();
  (void)cli::initial_text(p);
  (void)cli::turn_text(p, "hello");
  return 0;
}
