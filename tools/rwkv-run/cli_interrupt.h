// tools/rwkv-run/cli_interrupt.h: Ctrl-C (SIGINT) as a request to stop the
// text being generated, not the program. The handler only sets a flag, which
// the generation loops poll between tokens. The chat's input wait
// (line_reader.cpp) sees it too and drops the line being typed.
#pragma once

namespace cli {

// Installs the handler; call it from the main thread, which is the one that
// polls the flag. once_only: a second Ctrl-C while the flag is still set ends
// the program (for `generate`, which never clears it).
void install_interrupt_handler(bool once_only);

bool interrupt_requested();
void clear_interrupt();

}  // namespace cli
