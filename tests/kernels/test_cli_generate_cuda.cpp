// `rwkv-run generate` and `rwkv-run chat` with --device cuda print the same
// text as on the CPU for a fixed seed (tiny v7 and v6 models, sampled at the
// default settings, so every token goes through the sampler's random draw).
// On cuda both commands draw on the device (Backend::forward_sample; chat's
// newline ramp and AVOID_REPEAT go in as the sampler's step bias), on the CPU
// through the host sampler.
// Runs on the emulator in emu builds and on the GPU in cuda builds.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "runtime/cli_process_util.h"

namespace {

struct CpuAndCuda {
  cli_test::Result cpu, cuda;
};

// The command `args` (stdin `input`) on the CPU and with --device cuda, both required to exit 0.
CpuAndCuda run_on_both(const std::vector<std::string>& args, const std::string& input = "") {
  std::vector<std::string> cuda = args;
  cuda.insert(cuda.end(), {"--device", "cuda"});
  CpuAndCuda r{cli_test::run(args, input), cli_test::run(cuda, input)};
  INFO(r.cuda.err);
  REQUIRE(r.cpu.exit_code == 0);
  REQUIRE(r.cuda.exit_code == 0);
  return r;
}

}  // namespace

TEST_CASE("rwkv-run generate: the same seed prints the same text on cpu and cuda", "[gpu][cli][generate][cuda]") {
  for (const char* model : {"tiny-rwkv-7v0-834K", "tiny-rwkv-6v0-1m"}) {
    INFO(model);
    const std::vector<std::string> args = {"generate", "-m", cli_test::tiny_model(model), "-p",
                                           "In the beginning,", "-n", "120", "--seed", "42", "--temp", "0.8"};
    const CpuAndCuda both = run_on_both(args);
    const cli_test::Result &c = both.cpu, &g = both.cuda;
    CHECK(c.out.size() >= 120);  // 120 byte tokens (U+FFFD may widen invalid bytes)
    CHECK(g.out == c.out);
    CHECK(g.err.find("on cuda:0") != std::string::npos);
  }
}

TEST_CASE("rwkv-run chat: the same seed gives the same conversation on cpu and cuda", "[gpu][cli][chat][cuda]") {
  const std::vector<std::string> args = {"chat", "-m", cli_test::tiny_model(), "--seed", "9", "--reply-max", "60",
                                         "--gen-len", "60"};
  const CpuAndCuda both = run_on_both(args, "Hello, who are you?\n+\n+gen Once upon a time\n+++\n");
  const cli_test::Result &c = both.cpu, &g = both.cuda;
  CHECK(g.out == c.out);
  CHECK(c.out.rfind("Assistant:", 0) == 0);
}

TEST_CASE("rwkv-run chat: every generating command gives the same session on cpu and cuda",
          "[gpu][cli][chat][cuda]") {
  // The README's session: messages, '+', per-line sampling, +gen, +++, ++, +qq, +i, +qa.
  const std::string input =
      "Hello, who are you?\n+\nWhat should I read? -top_p=0.2\n+gen The history of the computer\n+++\n++\n"
      "+qq What is a computer?\n+i Summarize the plot of a novel.\n+qa Where is the sea?\n+++\n"
      "Tell me more. -temp=1.5\n";
  for (const char* model : {"tiny-rwkv-5v2-730K", "tiny-rwkv-7v0-834K"}) {
    INFO(model);
    const std::vector<std::string> args = {"chat", "-m", cli_test::tiny_model(model), "--seed", "3", "--gen-len", "80",
                                           "--reply-max", "120", "--echo"};
    const CpuAndCuda both = run_on_both(args, input);
    const cli_test::Result &c = both.cpu, &g = both.cuda;
    CHECK(g.out == c.out);
    CHECK(c.out.find("User: +qa Where is the sea?") != std::string::npos);
  }
}

TEST_CASE("rwkv-run generate --device cuda prints the weights' device bytes of each dtype", "[gpu][cli][generate][cuda][quant]") {
  // "weights X MiB (Y GB)": the bytes the backend uploaded. Quantized weights take fewer than
  // bf16, q4 fewer than int8 (the tiny v6 model: every matrix a multiple of 32 wide).
  double mib[3] = {0, 0, 0};
  const char* dtypes[3] = {"bf16", "int8", "q4"};
  for (int i = 0; i < 3; ++i) {
    INFO(dtypes[i]);
    const cli_test::Result r = cli_test::run({"generate", "-m", cli_test::tiny_model("tiny-rwkv-6v0-1m"), "-p", "Hi",
                                              "-n", "4", "--temp", "0", "--device", "cuda", "--dtype", dtypes[i]});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const size_t at = r.err.find("weights ");
    REQUIRE(at != std::string::npos);
    mib[i] = std::stod(r.err.substr(at + 8));  // MiB: the GB figure is too coarse for a 1M model
    CHECK(mib[i] > 0);
  }
  CHECK(mib[1] < mib[0]);
  CHECK(mib[2] < mib[1]);
}
