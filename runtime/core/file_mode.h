// runtime/core/file_mode.h: the permission bits of a file the runtime creates.
// Files are written through a temporary file (mkstemp makes it 0600) renamed
// into place; the writers fchmod it to new_file_mode(), what open(2) with 0666
// would give: 0666 less the process's umask.
#pragma once

#include <sys/types.h>

namespace rwkv {

// 0666 & ~umask. The umask is read from /proc/self/status (no change to the
// process's umask, so safe with other threads); where that is not available,
// from umask(2) set and restored.
mode_t new_file_mode();

}  // namespace rwkv
