// `rwkv-run selfcheck --device cuda`: the CUDA backend (the GPU in cuda builds,
// the emulator in emu builds) against the CPU reference in fp32 and bf16 on
// every version, each difference within the bound it is printed with.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "runtime/cli_process_util.h"
#include "runtime/selfcheck_test_util.h"

TEST_CASE("rwkv-run selfcheck --device cuda: cuda fp32 and bf16 against the cpu, every version",
          "[gpu][cli][selfcheck][cuda]") {
  const auto r = cli_test::run({"selfcheck", "--device", "cuda"}, "", 300);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("device: cuda:0 (") != std::string::npos);
  const auto rows = selfcheck_test::rows(r.out);
  REQUIRE(rows.size() == 4);
  // Bounds of tools/rwkv-run/cmd_selfcheck.cpp: cpu sequence vs per-token, cuda fp32, cuda bf16.
  const double bounds[] = {1e-4, 1e-3, 0.5};
  for (const auto& row : rows) {
    INFO(row.version);
    REQUIRE(row.diffs.size() == 3);
    for (size_t c = 0; c < 3; ++c) {
      CHECK(std::isfinite(row.diffs[c]));
      CHECK(row.diffs[c] <= bounds[c]);
      CHECK(row.verdicts[c] == "ok");
    }
  }
  CHECK(r.out.find("speed on cuda:0, bf16") != std::string::npos);
  CHECK(r.out.find("selfcheck: all good") != std::string::npos);
}
