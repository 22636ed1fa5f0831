// Write failures are errors (tools/rwkv-run/cli_args.cpp Command::run, cmd_generate.cpp):
// every command whose stdout is /dev/full exits 1 with one line
// "rwkv-run <cmd>: cannot write to stdout: No space left on device"; --json FILE and
// logits --out FILE on /dev/full exit 1 naming the file.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "runtime/cli_child_util.h"

namespace {

cli_child::Exit run_to_full(const std::vector<std::string>& args, const std::string& stdin_file = "") {
  cli_child::ChildOptions o;
  o.stdout_file = "/dev/full";
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
  const std::string m = cli_test::tiny_model();
  const auto tok = cli_test::run({"tokenize", "--tokenizer", "bytes", "--text", "hello", "--json", "/dev/full"});
  INFO(tok.err);
  CHECK(tok.exit_code == 1);
  CHECK(tok.err == "rwkv-run tokenize: cannot write /dev/full: No space left on device\n");
  const auto info = cli_test::run({"info", m, "--json=/dev/full"});
  INFO(info.err);
  CHECK(info.exit_code == 1);
  CHECK(info.err == "rwkv-run info: cannot write /dev/full: No space left on device\n");
  const auto logits = cli_test::run({"logits", "-m", m, "--tokens", "1,2,3", "--out", "/dev/full"});
  INFO(logits.err);
  CHECK(logits.exit_code == 1);
  CHECK(logits.err.find("/dev/full: write failed (No space left on device)") != std::string::npos);
}
