// Signals and a closed stdout during `rwkv-run generate` (tools/rwkv-run/cmd_generate.cpp,
// cli_interrupt.h) and `rwkv-run chat`: a long prompt's prefill stops between chunks, no
// token is drawn after it, the timings follow, and --state-out holds exactly the state
// reached (the state after the first k prompt tokens: the same file as a plain run on those
// k tokens). SIGINT exits 0 (a stop request), SIGTERM 143, SIGHUP 129; a closed stdout
// exits 1 naming the broken pipe. Each child waits for a stderr marker before the signal.
#include <catch2/catch.hpp>

#include <dirent.h>
#include <signal.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "runtime/cli_child_util.h"

namespace {

using cli_test::TempDir;

const char* kMarker = "prefill:  ";  // printed before a long prompt's prefill starts

// A byte-level prompt long enough that its prefill takes seconds on the tiny model.
std::string long_prompt() {
  const std::string line = "The quick brown fox jumps over the lazy dog while the committee reviews the budget. ";
  std::string text;
  while (text.size() < 600000) text += line;
  return text;
}

// k from "after K of its N tokens" on stderr; -1 when absent.
long consumed_tokens(const std::string& err) {
  const std::string key = "interrupted during the prompt, after ";
  const size_t at = err.find(key);
  if (at == std::string::npos) return -1;
  return std::strtol(err.c_str() + at + key.size(), nullptr, 10);
}

// The state file of a plain run over the first k bytes (= tokens) of the prompt.
std::string reference_state(const TempDir& dir, const std::string& prompt, long k) {
  cli_test::write_file(dir.file("prefix.txt"), prompt.substr(0, size_t(k)));
  const auto r = cli_test::run({"generate", "-m", cli_test::tiny_model(), "-f", dir.file("prefix.txt"), "-n", "0",
                                "-t", "2", "-q", "--state-out", dir.file("ref.state")});
  REQUIRE(r.exit_code == 0);
  return cli_test::read_file(dir.file("ref.state"));
}

bool state_loads(const std::string& path) {
  const auto r = cli_test::run({"generate", "-m", cli_test::tiny_model(), "--state-in", path, "-p", "x", "-n", "1",
                                "-q", "--seed", "1"});
  return r.exit_code == 0;
}

// Files in `dir` whose name contains ".tmp" (left-over temporaries of an interrupted write).
int temp_files(const std::string& dir) {
  int n = 0;
  DIR* d = opendir(dir.c_str());
  if (!d) return 0;
  while (dirent* e = readdir(d))
    if (std::string(e->d_name).find(".tmp") != std::string::npos) ++n;
  closedir(d);
  return n;
}

// Sends `sig` during the prefill of a long prompt with --state-out; checks the common results
// and returns the exit.
cli_child::Exit interrupt_prefill(int sig, int expected_code) {
  TempDir dir;
  const std::string prompt = long_prompt();
  cli_test::write_file(dir.file("prompt.txt"), prompt);
  const std::string state = dir.file("out.state");
  cli_child::ChildOptions o;
  o.stdout_file = dir.file("stdout");
  cli_child::Child child({"generate", "-m", cli_test::tiny_model(), "-f", dir.file("prompt.txt"), "-n", "20",
                          "-t", "2", "--seed", "1", "--state-out", state},
                         o);
  REQUIRE(child.wait_stderr(kMarker));
  child.signal(sig);
  cli_child::Exit e = child.finish(20);
  e.out = cli_test::read_file(dir.file("stdout"));
  INFO(e.err);
  CHECK(e.code == expected_code);
  CHECK(e.out.empty());  // no token drawn after the interrupted prompt
  CHECK(e.err.find("load:") != std::string::npos);
  CHECK(e.err.find("prompt:") != std::string::npos);
  const long k = consumed_tokens(e.err);
  REQUIRE(k >= 0);
  CHECK(k < long(prompt.size()));
  CHECK(k % 256 == 0);  // whole chunks (the CPU engine's chunk_len)
  CHECK(e.err.find("the state after the first " + std::to_string(k) + " of the prompt's") != std::string::npos);
  REQUIRE(state_loads(state));
  if (k > 0) CHECK(cli_test::read_file(state) == reference_state(dir, prompt, k));
  return e;
}

}  // namespace

TEST_CASE("rwkv-run generate: SIGINT during a long prefill stops it and saves the state reached",
          "[cli][signals]") {
  interrupt_prefill(SIGINT, 0);
}

TEST_CASE("rwkv-run generate: SIGTERM during a long prefill saves the state and exits 143", "[cli][signals]") {
  interrupt_prefill(SIGTERM, 143);
}

TEST_CASE("rwkv-run generate: SIGHUP during a long prefill saves the state and exits 129", "[cli][signals]") {
  interrupt_prefill(SIGHUP, 129);
}

TEST_CASE("rwkv-run generate: SIGTERM while decoding ends the text, saves the state, exits 143",
          "[cli][signals]") {
  TempDir dir;
  const std::string state = dir.file("out.state");
  cli_child::Child child({"generate", "-m", cli_test::tiny_model(), "-p", "Once", "-n", "-1", "--seed", "3",
                          "--state-out", state});
  REQUIRE(child.read_until(200));
  child.signal(SIGTERM);
  const cli_child::Exit e = child.finish(20);
  INFO(e.err);
  CHECK(e.code == 143);
  CHECK(e.err.find("stop: interrupted") != std::string::npos);
  CHECK(e.err.find("state:    saved to") != std::string::npos);
  CHECK(state_loads(state));
}

TEST_CASE("rwkv-run generate: a closed stdout stops the text, saves the state and exits 1", "[cli][signals]") {
  TempDir dir;
  const std::string state = dir.file("out.state");
  cli_child::Child child({"generate", "-m", cli_test::tiny_model(), "-p", "Once", "-n", "-1", "--seed", "3",
                          "--state-out", state});
  REQUIRE(child.read_until(10));
  child.close_stdout();  // as `| head -c 10`
  const cli_child::Exit e = child.finish(20);
  INFO(e.err);
  CHECK(e.code == 1);
  CHECK(e.signal == 0);  // not killed by SIGPIPE
  CHECK(e.err.find("rwkv-run generate: cannot write to stdout: Broken pipe") != std::string::npos);
  CHECK(e.err.find("generate: ") != std::string::npos);  // the timings
  CHECK(state_loads(state));
}

TEST_CASE("rwkv-run generate: a second SIGINT never leaves a partial state file", "[cli][signals]") {
  TempDir dir;
  cli_test::write_file(dir.file("prompt.txt"), long_prompt());
  const std::string state = dir.file("out.state");
  cli_child::ChildOptions o;
  o.stdout_file = dir.file("stdout");
  cli_child::Child child({"generate", "-m", cli_test::tiny_model(), "-f", dir.file("prompt.txt"), "-n", "5",
                          "--seed", "1", "--state-out", state},
                         o);
  REQUIRE(child.wait_stderr(kMarker));
  child.signal(SIGINT);
  child.signal(SIGINT);
  const cli_child::Exit e = child.finish(20);
  INFO(e.err);
  // Either the first signal's run finished (exit 0, state saved) or the second ended it
  // (killed by SIGINT): the file is then absent, never half written.
  CHECK((e.code == 0 || e.signal == SIGINT));
  if (!cli_test::read_file(state).empty()) CHECK(state_loads(state));
  if (e.code == 0) CHECK(state_loads(state));
  CHECK(temp_files(dir.file("")) == 0);
}

TEST_CASE("rwkv-run chat: Ctrl-C during a long message's prefill returns to the prompt", "[cli][signals]") {
  const std::string message = long_prompt().substr(0, 300000);
  cli_test::Interactive child({"chat", "-m", cli_test::tiny_model(), "--seed", "1", "--gen-len", "10"});
  REQUIRE(child.wait_stderr("Type +help"));
  child.send(message + "\n");
  REQUIRE(child.wait_stderr("[reading the message"));
  child.signal(SIGINT);
  REQUIRE(child.wait_stderr("[message dropped]", 20));
  child.send("+gen Hello\n");
  child.close_stdin();
  const cli_test::Result r = child.finish(20);
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(!r.out.empty());  // the +gen after it ran
}
