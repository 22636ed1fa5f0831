// tools/rwkv-run/commands.h: the subcommands of rwkv-run, one file each.
// Each returns the process exit code: 0 success, 1 run-time error, 2 usage error.
#pragma once

int cmd_selfcheck(int argc, char** argv);  // cmd_selfcheck.cpp
