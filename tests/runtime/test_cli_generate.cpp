// Tests of `rwkv-run generate` (tools/rwkv-run/cmd_generate.cpp), run as a
// child process on the tiny byte-level v7 model (token = byte, so the text is
// the token list).
#include <catch2/catch.hpp>

#include <signal.h>

#include <algorithm>
#include <string>
#include <vector>

#include "runtime/capi_test_util.h"
#include "runtime/cli_process_util.h"

namespace {

using cli_test::run;
using cli_test::tiny_model;

const std::vector<std::string> kGreedy = {"--top-p", "0", "--presence", "0", "--frequency", "0", "-q"};

std::vector<std::string> cat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Greedy continuation through the C API: argmax of rwkv_eval's logits.
std::string reference_greedy(const std::string& prompt, int n) {
  capi_test::Model m;
  capi_test::load(m, "tiny-rwkv-7v0-834K.pth");
  std::vector<int32_t> tokens(prompt.begin(), prompt.end());
  for (auto& t : tokens) t &= 0xFF;
  std::vector<float> logits = capi_test::eval(m, 0, tokens);
  std::string text;
  for (int i = 0; i < n; ++i) {
    const int32_t tok = int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
    text += char(tok);
    logits = capi_test::eval(m, 0, {tok});
  }
  return text;
}

}  // namespace

TEST_CASE("rwkv-run generate: greedy text equals the C API's argmax decode", "[cli][generate]") {
  const std::string prompt = "In the beginning,";
  const auto r = run(cat({"generate", "-m", tiny_model(), "-p", prompt, "-n", "60"}, kGreedy));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out == reference_greedy(prompt, 60));
  CHECK(r.err.empty());  // -q
}

TEST_CASE("rwkv-run generate: a seed gives the same text every time", "[cli][generate]") {
  const std::vector<std::string> base = {"generate", "-m", tiny_model(), "-p", "She said", "-n", "80", "--temp", "0.9"};
  const auto a = run(cat(base, {"--seed", "11"}));
  const auto b = run(cat(base, {"--seed", "11"}));
  const auto c = run(cat(base, {"--seed", "12"}));
  REQUIRE(a.exit_code == 0);
  REQUIRE(b.exit_code == 0);
  REQUIRE(c.exit_code == 0);
  CHECK(a.out == b.out);
  CHECK(a.out != c.out);
  // The timings on stderr: the prompt's 8 bytes are 8 tokens, 80 generated.
  CHECK(a.err.find("prompt:   8 tokens in ") != std::string::npos);
  CHECK(a.err.find("tokens/s (prefill)") != std::string::npos);
  CHECK(a.err.find("generate: 80 tokens in ") != std::string::npos);
  CHECK(a.err.find("tokens/s (decode)") != std::string::npos);
  CHECK(a.err.find("seed 11") != std::string::npos);
  CHECK(a.err.find("load:     ") != std::string::npos);
}

TEST_CASE("rwkv-run generate: the prompt from stdin and from a file", "[cli][generate]") {
  cli_test::TempDir dir;
  const std::string prompt = "The king\nsaid";
  cli_test::write_file(dir.file("p.txt"), prompt);
  const auto a = run(cat({"generate", "-m", tiny_model(), "-n", "30"}, kGreedy), prompt);
  const auto b = run(cat({"generate", "-m", tiny_model(), "-f", dir.file("p.txt"), "-n", "30"}, kGreedy));
  const auto c = run(cat({"generate", "-m", tiny_model(), "-e", "-p", "The king\\nsaid", "-n", "30"}, kGreedy));
  REQUIRE(a.exit_code == 0);
  const std::string expected = reference_greedy(prompt, 30);
  CHECK(a.out == expected);
  CHECK(b.out == expected);
  CHECK(c.out == expected);
  const auto echo = run(cat({"generate", "-m", tiny_model(), "-p", prompt, "-n", "30", "--echo"}, kGreedy));
  CHECK(echo.out == prompt + expected);
}

TEST_CASE("rwkv-run generate: --state-out then --state-in continues the text", "[cli][generate]") {
  cli_test::TempDir dir;
  const std::string a = "In the beginning, she said, ", b = "there was";
  // Feed a only (-n 0) and keep the state; then continue with b from it.
  const auto first = run({"generate", "-m", tiny_model(), "-p", a, "-n", "0", "-q", "--state-out", dir.file("s")});
  INFO(first.err);
  REQUIRE(first.exit_code == 0);
  CHECK(first.out.empty());
  const auto second =
      run(cat({"generate", "-m", tiny_model(), "-p", b, "-n", "40", "--state-in", dir.file("s")}, kGreedy));
  INFO(second.err);
  REQUIRE(second.exit_code == 0);
  CHECK(second.out == reference_greedy(a + b, 40));
}

TEST_CASE("rwkv-run generate: --stop ends before the stop text and --stop-token at the token", "[cli][generate]") {
  const std::string prompt = "In the beginning,";
  const std::string full = reference_greedy(prompt, 80);
  const std::string stop = full.substr(30, 4);
  const size_t at = full.find(stop);
  const auto r = run(cat({"generate", "-m", tiny_model(), "-p", prompt, "-n", "80", "--stop", stop}, kGreedy));
  REQUIRE(r.exit_code == 0);
  CHECK(r.out == full.substr(0, at));
  const unsigned char tok = static_cast<unsigned char>(full[25]);
  const auto t = run(cat({"generate", "-m", tiny_model(), "-p", prompt, "-n", "80", "--stop-token",
                          std::to_string(tok)},
                         kGreedy));
  REQUIRE(t.exit_code == 0);
  CHECK(t.out == full.substr(0, full.find(char(tok))));
}

TEST_CASE("rwkv-run generate: Ctrl-C stops the text and the timings follow", "[cli][generate]") {
  cli_test::Interactive child({"generate", "-m", tiny_model(), "-p", "Once", "-n", "-1", "--seed", "3"});
  REQUIRE(child.read_until(size_t(200)));
  child.signal(SIGINT);
  const cli_test::Result r = child.finish();
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("stop: interrupted") != std::string::npos);
}

TEST_CASE("rwkv-run generate: usage errors are one line and exit 2", "[cli][generate]") {
  const std::string m = tiny_model();
  const std::vector<std::vector<std::string>> bad = {
      {"generate", "-m", m, "-p", "x", "--frobnicate"},
      {"generate", "-m", m, "-p", "x", "-n"},
      {"generate", "-m", m, "-p", "x", "--top-p", "2"},
      {"generate", "-m", m, "-p", "x", "--top-p", "nan"},
      {"generate", "-m", m, "-p", "x", "--temp", "-1"},
      {"generate", "-m", m, "-p", "x", "--top-k", "1.5"},
      {"generate", "-m", m, "-p", "x", "--decay", "2"},
      {"generate", "-m", m, "-p", "x", "-n", "ten"},
      {"generate", "-m", m, "-p", "x", "-n", "-2"},
      {"generate", "-m", m, "-p", "x", "--seed", "-1"},
      {"generate", "-m", m, "-p", "x", "--device", "gpu"},
      {"generate", "-m", m, "-p", "x", "--dtype", "fp8"},
      {"generate", "-m", m, "-p", "x", "--threads", "many"},
      {"generate", "-m", m, "-p", "x", "--ban", "300"},
      {"generate", "-m", m, "-p", "x", "--ban", "a,b"},
      {"generate", "-m", m, "-p", "x", "--stop-token", "256"},
      {"generate", "-m", m, "-p", "x", "--stop", ""},
      {"generate", "-m", m, "-p", "x", "-f", "y"},
      {"generate", "-m", m, "-p", ""},
      {"generate", "-p", "x"},
      {"generate", "-m", m, "-p", "x", "extra"},
  };
  for (const auto& args : bad) {
    std::string line;
    for (const auto& a : args) line += a + " ";
    INFO(line);
    const auto r = run(args);
    INFO(r.err);
    CHECK(r.exit_code == 2);
    CHECK(cli_test::one_error_line(r.err, "generate"));
    CHECK(r.out.empty());
  }
  // An empty stdin is an empty prompt.
  const auto r = run({"generate", "-m", m}, "");
  CHECK(r.exit_code == 2);
  CHECK(cli_test::one_error_line(r.err, "generate"));
}

TEST_CASE("rwkv-run generate: run-time errors are one line and exit 1", "[cli][generate]") {
  cli_test::TempDir dir;
  cli_test::write_file(dir.file("junk.pth"), "this is not a model");
  cli_test::write_file(dir.file("junk.state"), "this is not a state");
  // A state of another model (v4) given to the v7 model.
  const auto v4 = run({"generate", "-m", tiny_model("tiny-rwkv-4v0-660K"), "-p", "x", "-n", "0", "-q",
                       "--state-out", dir.file("v4.state")});
  REQUIRE(v4.exit_code == 0);
  const std::string m = tiny_model();
  const std::vector<std::vector<std::string>> bad = {
      {"generate", "-m", dir.file("missing.pth"), "-p", "x"},
      {"generate", "-m", dir.file("junk.pth"), "-p", "x"},
      {"generate", "-m", m, "-f", dir.file("missing.txt")},
      {"generate", "-m", m, "-p", "x", "--state-in", dir.file("missing.state")},
      {"generate", "-m", m, "-p", "x", "--state-in", dir.file("junk.state")},
      {"generate", "-m", m, "-p", "x", "--state-in", dir.file("v4.state")},
      {"generate", "-m", m, "-p", "x", "--state-out", dir.file("no/such/dir/s")},
      {"generate", "-m", m, "-p", "x", "--tokenizer", dir.file("missing.json")},
      {"generate", "-m", m, "-p", "x", "--device", "cpu", "--state-dtype", "bf16"},  // cpu states are fp32
  };
  for (const auto& args : bad) {
    std::string line;
    for (const auto& a : args) line += a + " ";
    INFO(line);
    const auto r = run(args);
    INFO(r.err);
    CHECK(r.exit_code == 1);
    CHECK(cli_test::one_error_line(r.err, "generate"));
  }
}

TEST_CASE("rwkv-run --help and generate --help list the commands and options", "[cli][generate]") {
  const auto top = run({"--help"});
  CHECK(top.exit_code == 0);
  for (const char* cmd : {"generate", "chat", "info", "logits", "tokenize", "convert", "bench"})
    CHECK(top.out.find(std::string("  ") + cmd + " ") != std::string::npos);
  const auto help = run({"generate", "--help"});
  CHECK(help.exit_code == 0);
  for (const char* opt : {"-m, --model", "-p, --prompt", "--prompt-file", "-n, --n-tokens", "--temp", "--top-p",
                          "--top-k", "--presence", "--frequency", "--decay", "--seed", "--ban", "--stop ",
                          "--stop-token", "--device", "--dtype", "--state-dtype", "--threads", "--state-in",
                          "--state-out",
                          "--tokenizer", "--echo", "--quiet", "--escape", "--ignore-eos"})
    CHECK(help.out.find(opt) != std::string::npos);
}
