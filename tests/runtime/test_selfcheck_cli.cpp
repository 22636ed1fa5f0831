// `rwkv-run selfcheck` on the CPU backend (every build): the sequence-mode
// logits of each version's synthetic model against its per-token logits, each
// difference printed against its bound, and the speed line. The CUDA columns
// are tested in tests/kernels/test_selfcheck_cuda.cpp.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "runtime/cli_process_util.h"
#include "runtime/selfcheck_test_util.h"

namespace {

// The CPU bound of tools/rwkv-run/cmd_selfcheck.cpp (kCpuSeqTokenBound).
constexpr double kCpuBound = 1e-4;

void check_cpu_table(const cli_test::Result& r) {
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  const auto rows = selfcheck_test::rows(r.out);
  REQUIRE(rows.size() == 4);
  const char* versions[] = {"v4", "v5.2", "v6", "v7"};
  for (size_t i = 0; i < rows.size(); ++i) {
    CHECK(rows[i].version == versions[i]);
    REQUIRE(rows[i].diffs.size() == 1);  // the CPU column only
    CHECK(std::isfinite(rows[i].diffs[0]));
    CHECK(rows[i].diffs[0] <= kCpuBound);
    CHECK(rows[i].verdicts[0] == "ok");
  }
  CHECK(r.out.find("checking the CPU backend against itself") != std::string::npos);
  CHECK(r.out.find("speed on cpu, fp32") != std::string::npos);
  CHECK(r.out.find("selfcheck: all good") != std::string::npos);
}

}  // namespace

TEST_CASE("rwkv-run selfcheck --device cpu: sequence mode against per-token mode, every version", "[cli][selfcheck]") {
  check_cpu_table(cli_test::run({"selfcheck", "--device", "cpu"}));
}

#if !defined(RWKV_HAVE_GPU) || defined(RWKV_CUDA_EMU)
TEST_CASE("rwkv-run selfcheck without a GPU says so and checks the CPU backend", "[cli][selfcheck]") {
  // auto never picks the emulator (runtime/engine/device.h), so without a real GPU path it is cpu.
  const auto r = cli_test::run({"selfcheck"});
  CHECK(r.out.find("device: cpu: no GPU") != std::string::npos);
  check_cpu_table(r);
}
#endif

TEST_CASE("rwkv-run selfcheck: a bad --device is a usage error", "[cli][selfcheck]") {
  const auto r = cli_test::run({"selfcheck", "--device", "gpu"});
  CHECK(r.exit_code == 2);
  CHECK(r.out.empty());
  CHECK(cli_test::one_error_line(r.err, "selfcheck"));
}
