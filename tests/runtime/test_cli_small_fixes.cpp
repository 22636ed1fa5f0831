// Small hostile inputs of rwkv-run (issue 17 item 13, item 10): the timings start on a fresh
// line without touching stdout, chat says when it clamps -top_p / -temp, detokenize without
// ids and --seed ' -1' are usage errors, an out-of-memory is one line and exit 1, and chat
// discards a line longer than 1 MiB (in linear time) and goes on.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "runtime/cli_child_util.h"

namespace {

using cli_test::run;

}  // namespace

TEST_CASE("rwkv-run generate: stdout is exactly the text, the timings start on a fresh line", "[cli][small]") {
  for (const char* seed : {"1", "2", "3", "4"}) {
    const auto r = run({"generate", "-m", cli_test::tiny_model(), "-p", "Once", "-n", "12", "--seed", seed});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const auto q = run({"generate", "-m", cli_test::tiny_model(), "-p", "Once", "-n", "12", "--seed", seed, "-q"});
    CHECK(q.out == r.out);  // the same bytes with or without the timings
    CHECK(q.err.empty());
    const bool open_line = !r.out.empty() && r.out.back() != '\n';
    CHECK(r.err.compare(0, open_line ? 6 : 5, open_line ? "\nload:" : "load:") == 0);
  }
}

TEST_CASE("rwkv-run chat: a clamped -top_p or -temp is said on stderr", "[cli][small]") {
  const auto r = run({"chat", "-m", cli_test::tiny_model(), "--seed", "1", "--gen-len", "5"},
                     "+gen Hi -top_p=5\n+gen Hi -temp=9 -top_p=0.5\n");
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("-top_p=5 is outside [0, 1]: using 1\n") != std::string::npos);
  CHECK(r.err.find("-temp=9 is outside [0.2, 5]: using 5\n") != std::string::npos);
  CHECK(r.err.find("-top_p=0.5 is outside") == std::string::npos);
}

TEST_CASE("rwkv-run: detokenize without ids and a blank-led --seed are usage errors", "[cli][small]") {
  for (const char* ids : {"", ",", " "}) {
    const auto r = run({"detokenize", "--tokenizer", "bytes", "--ids", ids});
    INFO("'" << ids << "': " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.out.empty());
  }
  const auto eq = run({"detokenize", "--tokenizer", "bytes", "--ids="});
  CHECK(eq.exit_code == 2);
  CHECK(eq.out.empty());
  for (const char* seed : {" -1", "-1", " 5", "+5"}) {
    const auto r = run({"generate", "-m", cli_test::tiny_model(), "-p", "hi", "-n", "1", "--seed", seed});
    INFO("'" << seed << "': " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find(std::string("got '") + seed + "'") != std::string::npos);
  }
}

TEST_CASE("rwkv-run: running out of memory is one line and exit 1", "[cli][small]") {
  if (!cli_child::address_space_limits_testable()) {
    WARN("AddressSanitizer build: address-space limits not testable, skipped");
    return;
  }
  cli_child::ChildOptions o;
  o.address_space_limit = size_t(1) << 30;  // 1 GiB: a 7.2B model's weights cannot fit
  cli_test::TempDir dir;
  cli_child::Child child({"quantize", "--synthetic", "v7-7.2B", "--dtype", "int8", dir.file("q.safetensors")}, o);
  const cli_child::Exit e = child.finish(20);
  INFO(e.err);
  CHECK(e.code == 1);
  CHECK(e.signal == 0);
  CHECK(e.err == "rwkv-run quantize: out of memory\n");
}

TEST_CASE("rwkv-run chat: a line over 1 MiB is discarded quickly, the session goes on", "[cli][small]") {
  const size_t kMax = size_t(1) << 20;
  std::string input;
  input += std::string(4 * kMax, 'a') + "\n";               // far over the bound
  input += std::string(kMax - 5, ' ') + "+help\n";          // exactly at the bound: a line
  input += std::string(kMax + 1, 'b') + "\n";               // one byte over
  input += std::string(3 * kMax, 'c');                      // over, at the end of input (no newline)
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = run({"chat", "-m", cli_test::tiny_model(), "--seed", "1"}, input, 20);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  INFO(r.err);
  CHECK(r.exit_code == 0);
  size_t discarded = 0;
  for (size_t at = r.err.find("was discarded"); at != std::string::npos; at = r.err.find("was discarded", at + 1))
    ++discarded;
  CHECK(discarded == 3);
  CHECK(r.err.find("+gen TEXT") != std::string::npos);  // +help's list: the line at the bound ran
  CHECK(r.out.empty());  // nothing was sent to the model
  CHECK(seconds < 20);
}
