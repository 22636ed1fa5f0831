// tests/kernels/test_bench_cuda.cpp: the benchmark's CUDA path (bench/
// with the CUDA backend: device state slots, CUDA events on the backend's
// stream, the cudaMemcpy and cublasGemmEx probes) at a tiny size, in every
// dtype. Checks the report's fields and consistency, never speed (in the emu
// build the "device" is the SIMT emulator).
#include <catch2/catch.hpp>

#include <map>
#include <string>

#include "bench/bench_accounting.h"
#include "bench/bench_report.h"
#include "bench/bench_run.h"
#include "bench/synthetic_models.h"
#include "runtime/backend/state_layout.h"
#include "runtime/cuda/cuda_backend.h"
#include "runtime/cuda/cuda_weights.h"
#include "runtime/core/json.h"
#include "runtime/bench_json_checks.h"
#include "runtime/cli_process_util.h"

namespace {

// No prefill; two decode steps at B = 1 and 2, one repeat.
rwkv::bench::BenchConfig decode_only_config() {
  rwkv::bench::BenchConfig cfg;
  cfg.prefill_tokens = {};
  cfg.prefill_batches = {};
  cfg.decode_steps = 2;
  cfg.decode_batches = {1, 2};
  cfg.repeats = 1;
  return cfg;
}

}  // namespace

TEST_CASE("bench: a cuda run reports every field, consistently, in every dtype", "[gpu][bench][cuda]") {
  for (const char* name : {"v7-tiny", "v4-tiny", "v6-tiny"}) {
    INFO(name);
    auto model = rwkv::make_synth_model(rwkv::bench::synthetic_spec(name), rwkv::DType::bf16, 3, 0);
    rwkv::bench::BenchConfig cfg;
    cfg.prefill_tokens = {6};
    cfg.prefill_batches = {1, 2};
    cfg.decode_steps = 2;
    cfg.decode_batches = {1, 3};
    cfg.repeats = 2;
    cfg.copy_probe_bytes = 1 << 20;
    cfg.gemm_probe_n = 32;
    cfg.probe_repeats = 2;
    const std::vector<rwkv::DType> dtypes{rwkv::DType::f16, rwkv::DType::bf16, rwkv::DType::f32};
    std::vector<rwkv::bench::RunResult> runs;
    for (rwkv::DType dt : dtypes) {
      rwkv::bench::TargetOptions t;
      t.device = "cuda:0";
      t.dtype = dt;
      t.max_rows = 8;  // pp6 at B = 2 runs in two rounds
      runs.push_back(rwkv::bench::run_benchmark(*model, t, cfg));
      // What the backend holds: every matrix in dt, at most cuda::weight_bytes()'s
      // prediction (which also counts ln0, folded into the embedding at load).
      const rwkv::bench::ModelCost cost = rwkv::bench::model_cost(*model);
      CHECK(runs.back().weight_bytes >= double(cost.matrix_params) * double(rwkv::dtype_size(dt)));
      CHECK(runs.back().weight_bytes <= double(rwkv::cuda::weight_bytes(*model, dt)));
      CHECK(runs.back().workspace_bytes > 0);
    }
    for (const rwkv::bench::RunResult& run : runs)
      for (const rwkv::bench::Row& d : run.decode) CHECK(d.launches > 0);  // graphs on: the step's graph nodes
    const std::string json = rwkv::bench::report_json({"test", "abc1234", name}, *model, cfg, runs);
    bench_test::check_report(json, *model, cfg, dtypes, "cuda", true);
    const rwkv::Json r = rwkv::parse_json(json, "report");
    for (const rwkv::Json& run : r.at("runs")) {
      CHECK(run.at("max_rows") == 8);
      CHECK(run.at("max_rows_automatic") == false);
      CHECK(run.at("wkv_chunk_min_tokens") == 64);
      // The backend marks no GEMM/WKV spans yet: every split is the counted estimate.
      for (const rwkv::Json& p : run.at("prefill"))
        CHECK(p.at("split").at("source").get<std::string>().rfind("estimated", 0) == 0);
    }
#if RWKV_CUDA_EMU
    CHECK(r.at("device").at("emulated").get<bool>());
#else
    CHECK(!r.at("device").at("emulated").get<bool>());
#endif
  }
}

TEST_CASE("bench: graphs on and off, GEMV and cuBLAS decode, each a run of its own", "[gpu][bench][cuda]") {
  auto model = rwkv::make_synth_model(rwkv::bench::synthetic_spec("v7-tiny"), rwkv::DType::bf16, 5, 0);
  rwkv::bench::BenchConfig cfg = decode_only_config();
  cfg.bandwidth_gbs = -1;
  cfg.peak_tflops = -1;
  for (bool graphs : {true, false})
    for (int gemv : {0, 16}) {
      INFO("graphs " << graphs << ", gemv_max_rows " << gemv);
      rwkv::bench::TargetOptions t;
      t.device = "cuda:0";
      t.dtype = rwkv::DType::bf16;
      t.cuda_graphs = graphs;
      t.gemv_max_rows = gemv;
      const rwkv::bench::RunResult r = rwkv::bench::run_benchmark(*model, t, cfg);
      CHECK(r.cuda_graphs == graphs);
      CHECK(r.gemv_max_rows == gemv);
      REQUIRE(r.decode.size() == 2);
      for (const rwkv::bench::Row& d : r.decode) {
        if (!graphs) {
          CHECK(d.launches == -1);  // counted from the step's graph only
        } else if (gemv == 16) {
          CHECK(d.launches == 2 * 8 + 4);  // v7 decode path: 8 per layer, 2 layers; embedding, head (2), sampling
        } else {
          CHECK(d.launches > 2 * 8 + 4);  // the cuBLAS path launches more
        }
      }
    }
}

TEST_CASE("bench: a bf16 state counts 2 bytes per att.kv value in the state traffic", "[gpu][bench][cuda]") {
  for (const char* name : {"v7-tiny", "v6-tiny", "v4-tiny"}) {
    INFO(name);
    auto model = rwkv::make_synth_model(rwkv::bench::synthetic_spec(name), rwkv::DType::bf16, 6, 0);
    rwkv::bench::BenchConfig cfg = decode_only_config();
    cfg.warmup = 0;
    cfg.bandwidth_gbs = 100;
    cfg.peak_tflops = 10;
    rwkv::bench::TargetOptions t;
    t.device = "cuda:0";
    t.dtype = rwkv::DType::bf16;
    t.state_dtype = rwkv::DType::bf16;
    const rwkv::bench::RunResult run = rwkv::bench::run_benchmark(*model, t, cfg);
    // Per sequence: the fp32 layout with each layer's H x N x N kv block in 2 bytes a value.
    const rwkv::ModelInfo& mi = model->info;
    const double kv = mi.arch == rwkv::Arch::v4 ? 0.0 : double(mi.n_layer) * mi.n_head * mi.head_size * mi.head_size;
    const double per_seq = (double(rwkv::StateLayout(mi).size()) - kv) * 4 + kv * 2;
    CHECK(run.state_dtype == rwkv::DType::bf16);
    CHECK(double(run.state_bytes_per_seq) == per_seq);
    REQUIRE(run.decode.size() == 2);
    for (const rwkv::bench::Row& d : run.decode) CHECK(d.state_bytes == double(d.batch) * per_seq * 2);
    const std::string json = rwkv::bench::report_json({"test", "abc1234", name}, *model, cfg, {run});
    const rwkv::Json r = rwkv::parse_json(json, "report");
    CHECK(r.at("runs")[0].at("state_dtype").get<std::string>() == "bf16");
    CHECK(rwkv::bench::report_table({"test", "abc1234", name}, *model, cfg, {run}).find("state bf16") !=
          std::string::npos);
  }
}

TEST_CASE("bench: a missing cuda device is an error, not a crash", "[bench][cuda]") {
  auto model = rwkv::make_synth_model(rwkv::bench::synthetic_spec("v7-tiny"), rwkv::DType::f32, 0, 0);
  rwkv::bench::TargetOptions t;
  t.device = "cuda:7";
  rwkv::bench::BenchConfig cfg;
  cfg.decode_batches = {1};
  CHECK_THROWS_AS(rwkv::bench::run_benchmark(*model, t, cfg), rwkv::Error);
}

TEST_CASE("bench: rwkv-run bench sweeps --wkv-chunk-min and reports the rounds and the prefill split",
          "[gpu][bench][cuda][cli]") {
  const cli_test::Result r =
      cli_test::run({"bench", "--synthetic", "v7-tiny", "--device", "cuda", "--dtype", "bf16", "--pp", "6,40",
                     "--pp-batch", "1,2", "--tg", "0", "--wkv-chunk-min", "0,16", "--repeat", "1", "--warmup", "0",
                     "--copy-mib", "1", "--gemm-n", "32", "-q", "--json"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const rwkv::Json report = rwkv::parse_json(r.out, "bench stdout");
  rwkv::bench::BenchConfig cfg;
  cfg.prefill_tokens = {6, 40};
  cfg.prefill_batches = {1, 2};
  cfg.decode_steps = 0;
  cfg.repeats = 1;
  auto model = rwkv::make_synth_model(rwkv::bench::synthetic_spec("v7-tiny"), rwkv::DType::bf16, 0, 0);
  bench_test::check_report(r.out, *model, cfg, {rwkv::DType::bf16, rwkv::DType::bf16}, "cuda", true);
  const rwkv::Json& runs = report.at("runs");
  REQUIRE(runs.size() == 2);
  CHECK(runs[0].at("wkv_chunk_min_tokens") == 0);
  CHECK(runs[1].at("wkv_chunk_min_tokens") == 16);
  for (const rwkv::Json& run : runs) {
    CHECK(run.at("max_rows") == rwkv::cuda::kAutoMaxRowsCap);  // no --max-rows: automatic
    CHECK(run.at("max_rows_automatic") == true);
  }
  // pp40 at B = 1 (one cuBLAS round): its WKV is one piece per layer when never chunked, the chunked
  // kernel's three passes (heads of 64) from 16 tokens, each one launch a layer (counted, emulated).
  auto pieces_of = [](const rwkv::Json& run) {
    std::map<std::string, double> launches;
    for (const rwkv::Json& p : run.at("prefill"))
      if (p.at("test") == "pp40" && p.at("batch") == 1)
        for (const rwkv::Json& q : p.at("split").at("pieces"))
          launches[q.at("name").get<std::string>()] = q.at("launches").is_number() ? q.at("launches").get<double>() : -1;
    return launches;
  };
  const int layers = model->info.n_layer;
  std::map<std::string, double> never = pieces_of(runs[0]), chunked = pieces_of(runs[1]);
  CHECK(never["wkv"] == layers);
  CHECK(never.count("wkv_carry") == 0);
  CHECK(chunked.count("wkv") == 0);
  for (const char* pass : {"wkv_prepare", "wkv_carry", "wkv_output"}) CHECK(chunked[pass] == layers);
  // LN1 and LN2 run inside the shift pieces' launches; the layernorm piece is the head's.
  for (auto* pieces : {&never, &chunked}) {
    CHECK((*pieces)["layernorm"] == 1);
    CHECK((*pieces)["shift"] == 3 * layers);
  }
  // The table says where the rows per round came from and prints the split with its floors.
  const cli_test::Result table =
      cli_test::run({"bench", "--synthetic", "v7-tiny", "--device", "cuda", "--pp", "6", "--pp-batch", "1",
                     "--tg", "0", "--max-rows", "8", "--repeat", "1", "--warmup", "0", "--copy-mib", "1",
                     "--gemm-n", "32", "-q"});
  REQUIRE(table.exit_code == 0);
  CHECK(table.out.find("8 token rows per round (--max-rows); chunked WKV from 64 tokens") != std::string::npos);
  CHECK(table.out.find("prefill split: GEMM vs WKV") != std::string::npos);
  CHECK(table.out.find("estimated") != std::string::npos);
  CHECK(table.out.find("prefill pieces: launches per call") != std::string::npos);
  // --wkv-carry-split both: a run with pass 2's automatic shape, then one never split, each named.
  const cli_test::Result shapes =
      cli_test::run({"bench", "--synthetic", "v7-tiny", "--device", "cuda", "--pp", "40", "--pp-batch", "1", "--tg",
                     "0", "--wkv-chunk-min", "16", "--wkv-carry-split", "both", "--repeat", "1", "--warmup", "0",
                     "--copy-mib", "1", "--gemm-n", "32", "-q", "--json"});
  INFO(shapes.err);
  REQUIRE(shapes.exit_code == 0);
  const rwkv::Json both = rwkv::parse_json(shapes.out, "bench stdout").at("runs");
  REQUIRE(both.size() == 2);
  CHECK(both[0].at("wkv_carry_split") == "auto");
  CHECK(both[1].at("wkv_carry_split") == "off");
  CHECK(shapes.err.find("v7 pass 2 never split (--wkv-carry-split off)") != std::string::npos);
  // --wkv-parts both: the run's own choice (bf16 weights: two parts), then three, each named.
  const cli_test::Result parts =
      cli_test::run({"bench", "--synthetic", "v7-tiny", "--device", "cuda", "--dtype", "bf16", "--pp", "40",
                     "--pp-batch", "1", "--tg", "0", "--wkv-chunk-min", "16", "--wkv-parts", "both", "--repeat", "1",
                     "--warmup", "0", "--copy-mib", "1", "--gemm-n", "32", "-q", "--json"});
  INFO(parts.err);
  REQUIRE(parts.exit_code == 0);
  const rwkv::Json by_parts = rwkv::parse_json(parts.out, "bench stdout").at("runs");
  REQUIRE(by_parts.size() == 2);
  CHECK(by_parts[0].at("wkv_split_parts") == 2);
  CHECK(by_parts[1].at("wkv_split_parts") == 3);
  CHECK(parts.err.find("its products on 2-part bf16 operands") != std::string::npos);
  CHECK(parts.err.find("its products on 3-part bf16 operands") != std::string::npos);
}

TEST_CASE("rwkv-run generate: the timings name the rows per round on cuda", "[gpu][cli][generate][cuda]") {
  const cli_test::Result automatic =
      cli_test::run({"generate", "-m", cli_test::tiny_model(), "-p", "Hi", "-n", "2", "--seed", "1", "--device",
                     "cuda"});
  REQUIRE(automatic.exit_code == 0);
  CHECK(automatic.err.find("rounds:   " + std::to_string(rwkv::cuda::kAutoMaxRowsCap) +
                           " token rows per round (automatic") != std::string::npos);
  const cli_test::Result given = cli_test::run({"generate", "-m", cli_test::tiny_model(), "-p", "Hi", "-n", "2",
                                                "--seed", "1", "--device", "cuda", "--max-rows", "32"});
  REQUIRE(given.exit_code == 0);
  CHECK(given.err.find("rounds:   32 token rows per round (--max-rows)") != std::string::npos);
}

TEST_CASE("bench: int8 and q4 runs count the quantized bytes per decode step and their floor",
          "[gpu][bench][cuda][quant]") {
  auto model = rwkv::make_synth_model(rwkv::bench::synthetic_spec("v7-tiny"), rwkv::DType::bf16, 5, 0);
  rwkv::bench::BenchConfig cfg = decode_only_config();
  cfg.bandwidth_gbs = 1000;  // given: the floor is bytes / 1000 GB/s
  cfg.peak_tflops = -1;
  const rwkv::bench::ModelCost cost = rwkv::bench::model_cost(*model);
  std::vector<rwkv::bench::RunResult> runs;
  for (rwkv::QuantKind q : {rwkv::QuantKind::none, rwkv::QuantKind::int8, rwkv::QuantKind::q4}) {
    rwkv::bench::TargetOptions t;
    t.device = "cuda:0";
    t.dtype = rwkv::DType::bf16;
    t.quant = q;
    runs.push_back(rwkv::bench::run_benchmark(*model, t, cfg));
  }
  CHECK(runs[1].weight_bytes < runs[0].weight_bytes);
  CHECK(runs[2].weight_bytes < runs[1].weight_bytes);
  for (size_t k = 0; k < runs.size(); ++k) {
    const rwkv::bench::RunResult& r = runs[k];
    INFO(rwkv::quant_kind_name(r.quant));
    CHECK(r.dtype == rwkv::DType::bf16);  // the dense dtype of the rest
    REQUIRE(r.decode.size() == 2);
    for (const rwkv::bench::Row& d : r.decode) {
      // Quantized: what the backend holds less the embedding table plus B of its rows (bf16).
      const double want = k == 0 ? cost.decode_weight_bytes(rwkv::DType::bf16, d.batch)
                                 : r.weight_bytes - double(cost.emb_params) * 2 + double(d.batch) * cost.n_embd * 2;
      CHECK(d.weight_bytes == Approx(want).epsilon(1e-12));
      CHECK(d.floor_ms == Approx((d.weight_bytes + d.state_bytes) / 1e9).epsilon(1e-9));
    }
  }
  const std::string json = rwkv::bench::report_json({"test", "abc1234", "v7-tiny"}, *model, cfg, runs);
  const rwkv::Json report = rwkv::parse_json(json, "report");
  CHECK(rwkv::json_find(report.at("runs")[0], "quant") == nullptr);
  CHECK(report.at("runs")[1].at("quant") == "int8");
  CHECK(report.at("runs")[2].at("quant") == "q4");
  const std::string table = rwkv::bench::report_table({"test", "abc1234", "v7-tiny"}, *model, cfg, runs);
  CHECK(table.find("== q4 (matrices; embedding and activations bf16)") != std::string::npos);
  // The CLI takes the kinds in its --dtype list.
  const cli_test::Result r =
      cli_test::run({"bench", "--synthetic", "v7-tiny", "--device", "cuda", "--dtype", "int8,q4", "--pp", "6", "--pp-batch",
                     "1", "--tg", "1", "--tg-batch", "1", "--repeat", "1", "--warmup", "0", "--copy-mib", "1",
                     "--gemm-n", "32", "-q", "--json"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const rwkv::Json cli = rwkv::parse_json(r.out, "bench stdout");
  REQUIRE(cli.at("runs").size() == 2);
  CHECK(cli.at("runs")[0].at("quant") == "int8");
  CHECK(cli.at("runs")[0].at("dtype") == "bf16");
  CHECK(cli.at("runs")[1].at("quant") == "q4");
}
