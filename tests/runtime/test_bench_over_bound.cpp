// A bench figure above 100% of its limit (bench/bench_report.cpp pct_text): starred and
// explained under "how to read it", never shown as a plain 107.7%.
#include <catch2/catch.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "bench/bench_report.h"
#include "bench/bench_run.h"
#include "bench/synthetic_models.h"
#include "runtime/model/synth.h"

TEST_CASE("bench: a share above 100% of a limit is starred and explained", "[bench]") {
  auto model = rwkv::make_synth_model(rwkv::bench::synthetic_spec("v4-tiny"), rwkv::DType::f32, 0, 0);
  rwkv::bench::BenchConfig c;
  c.prefill_tokens = {5};
  c.prefill_batches = {1};
  c.decode_steps = 3;
  c.decode_batches = {1};
  c.warmup = 1;
  c.repeats = 2;
  c.bandwidth_gbs = 1e-6;  // a given limit far below anything measured: % BW is far above 100
  c.peak_tflops = -1;
  rwkv::bench::TargetOptions t;
  t.device = "cpu";
  t.threads = 1;
  std::vector<rwkv::bench::RunResult> runs{rwkv::bench::run_benchmark(*model, t, c)};
  REQUIRE(runs[0].decode.size() == 1);
  REQUIRE(runs[0].decode[0].pct_bandwidth > 100);
  rwkv::bench::ReportInfo info{"test", "abc1234", "synthetic v4-tiny"};
  const std::string table = rwkv::bench::report_table(info, *model, c, runs);
  INFO(table);
  CHECK(table.find("* above 100%: the step beat a limit") != std::string::npos);
  const std::string pct = [&] {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.1f*", runs[0].decode[0].pct_bandwidth);
    return std::string(buf);
  }();
  CHECK(table.find(pct) != std::string::npos);
}
