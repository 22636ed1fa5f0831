// Write failures are errors (tools/rwkv-run/cli_args.cpp Command::run, cmd_generate.cpp):
// every command whose stdout is /dev/full exits 1 with one line
// "rwkv-run <cmd>: cannot write to stdout: No space left on device"; --json FILE and
// logits --out FILE on a full device exit 1 naming the file.
//
// The full device is a private node in a temporary directory (mknod c 1 7, as /dev/full),
// so that a regression that renames over its output can never replace the system's
// /dev/full; where mknod is not allowed (not root) /dev/full itself is used for stdout only.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <string>
#include <vector>

#include "runtime/cli_child_util.h"

namespace {

// A "full" device node (writes fail with ENOSPC) inside `dir`; empty when it cannot be made.
std::string private_full_device(const cli_test::TempDir& dir) {
  const std::string path = dir.file("full");
  return ::mknod(path.c_str(), S_IFCHR | 0666, makedev(1, 7)) == 0 ? path : std::string();
}

cli_child::Exit run_to_full(const std::vector<std::string>& args, const std::string& stdin_file = "") {
  cli_test::TempDir dir;
  const std::string full = private_full_device(dir);
  cli_child::ChildOptions o;
  o.stdout_file = full.empty() ? "/dev/full" : full;  // opened by the test: never renamed over
  o.stdin_file = stdin_file;
  cli_child::Child child(args, o);
  return child.finish(30);
}

void check_stdout_full(const std::vector<std::string>& args, const std::string& stdin_file = "") {
  const std::string cmd = args[0];
  const cli_child::Exit e = run_to_full(args, stdin_file);
  INFO(cmd << ": " << e.err);
  CHECK(e.code == 1);
  CHECK(e.err.find("rwkv-run " + cmd + ": cannot write to stdout: No space left on device\n") != std::string::npos);
}

}  // namespace

TEST_CASE("rwkv-run: each command with stdout on a full device exits 1", "[cli][write_errors]") {
  const std::string m = cli_test::tiny_model();
  check_stdout_full({"tokenize", "--tokenizer", "bytes", "--text", "hello"});
  check_stdout_full({"tokenize", "--tokenizer", "bytes", "--text", "hello", "--json"});
  check_stdout_full({"detokenize", "--tokenizer", "bytes", "--ids", "104,105"});
  check_stdout_full({"info", m});
  check_stdout_full({"info", m, "--json"});
  check_stdout_full({"generate", "-m", m, "-p", "hi", "-n", "5", "--seed", "1"});
  check_stdout_full({"generate", "-m", m, "-p", "hi", "-n", "5", "--seed", "1", "--echo", "-q"});
  cli_test::TempDir dir;
  check_stdout_full({"convert", m, dir.file("c.safetensors")});
  cli_test::write_file(dir.file("chat_in"), "+help\nHello\n");
  check_stdout_full({"chat", "-m", m, "--seed", "1", "--gen-len", "5", "--echo"}, dir.file("chat_in"));
}

TEST_CASE("rwkv-run: --json FILE and --out FILE on a full device exit 1 naming the file", "[cli][write_errors]") {
  cli_test::TempDir dir;
  const std::string full = private_full_device(dir);
  if (full.empty()) {
    WARN("mknod not allowed here: the --json/--out FILE cases need a private full device, skipped");
    return;
  }
  const std::string m = cli_test::tiny_model();
  const auto tok = cli_test::run({"tokenize", "--tokenizer", "bytes", "--text", "hello", "--json", full});
  INFO(tok.err);
  CHECK(tok.exit_code == 1);
  CHECK(tok.err == "rwkv-run tokenize: cannot write " + full + ": No space left on device\n");
  const auto info = cli_test::run({"info", m, "--json=" + full});
  INFO(info.err);
  CHECK(info.exit_code == 1);
  CHECK(info.err == "rwkv-run info: cannot write " + full + ": No space left on device\n");
  const auto logits = cli_test::run({"logits", "-m", m, "--tokens", "1,2,3", "--out", full});
  INFO(logits.err);
  CHECK(logits.exit_code == 1);
  CHECK(logits.err.find(full + ": write failed (No space left on device)") != std::string::npos);
  struct stat st {};
  REQUIRE(::stat(full.c_str(), &st) == 0);
  CHECK(S_ISCHR(st.st_mode));  // written into, not replaced
}
