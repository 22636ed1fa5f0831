// tests/runtime/test_bench.cpp: `rwkv-run bench` and bench/ on the CPU
// backend at tiny sizes: the synthetic shapes, the byte and FLOP accounting,
// the order statistics, and the JSON report (fields present, derived figures
// consistent). Speed is never asserted.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "bench_json_checks.h"
#include "bench/bench_accounting.h"
#include "bench/bench_pieces.h"
#include "bench/bench_report.h"
#include "bench/bench_run.h"
#include "bench/bench_stats.h"
#include "bench/synthetic_models.h"
#include "runtime/core/json.h"
#include "runtime/model/synth.h"

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs rwkv-run with `args`, stdout to `out_path`; returns the exit status.
int rwkv_run(const std::string& args, const std::string& out_path) {
  const std::string cmd = std::string(RWKV_RUN_BINARY) + " " + args + " >" + out_path + " 2>/dev/null";
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::string tmp_path(const std::string& name) {
  return "/tmp/rwkv_bench_test_" + std::to_string(getpid()) + "_" + name;
}

rwkv::bench::BenchConfig tiny_config() {
  rwkv::bench::BenchConfig c;
  c.prefill_tokens = {5, 9};
  c.prefill_batches = {1, 2};
  c.decode_steps = 3;
  c.decode_batches = {1, 3};
  c.warmup = 1;
  c.repeats = 2;
  c.copy_probe_bytes = 1 << 20;
  c.gemm_probe_n = 32;
  c.probe_repeats = 2;
  return c;
}

}  // namespace

TEST_CASE("bench: synthetic names give the synth table's released shapes", "[bench]") {
  for (const char* v : {"4", "5.2", "6", "7"}) {
    const std::string prefix = std::string("v") + (std::string(v) == "5.2" ? "5" : v);
    for (const std::string& size : rwkv::synth_sizes(v)) {
      INFO(prefix << "-" << size);
      const rwkv::SynthSpec a = rwkv::bench::synthetic_spec(prefix + "-" + size), b = rwkv::synth_spec(v, size);
      CHECK(a.arch == b.arch);
      CHECK(a.n_embd == b.n_embd);
      CHECK(a.n_layer == b.n_layer);
      CHECK(a.n_vocab == b.n_vocab);
      CHECK(a.n_ffn == b.n_ffn);
      CHECK(a.lora_w == b.lora_w);
      CHECK(a.lora_g == b.lora_g);
      CHECK(a.lora_decay == b.lora_decay);
    }
  }
  CHECK(rwkv::bench::synthetic_spec("v5.2-1.5B").arch == rwkv::Arch::v5_2);
  for (const char* bad : {"", "v7", "v7-", "v7-1.6B", "v8-0.1B", "7-0.1B", "v7-tiny-x"})
    CHECK_THROWS_AS(rwkv::bench::synthetic_spec(bad), rwkv::Error);
}

TEST_CASE("bench: the threaded synthetic builder equals make_synth_model", "[bench]") {
  for (const char* name : {"v4-tiny", "v5-tiny", "v6-tiny", "v7-tiny"}) {
    INFO(name);
    const rwkv::SynthSpec spec = rwkv::bench::synthetic_spec(name);
    for (rwkv::DType dt : {rwkv::DType::f32, rwkv::DType::bf16}) {
      auto ref = rwkv::make_synth_model(spec, dt, 7);
      auto got = rwkv::make_synth_model(spec, dt, 7, 3);
      REQUIRE(got->tensors().size() == ref->tensors().size());
      for (const auto& kv : ref->tensors()) {
        const rwkv::Tensor* t = got->find(kv.first);
        REQUIRE(t);
        CHECK(t->shape == kv.second.shape);
        REQUIRE(t->nbytes == kv.second.nbytes);
        CHECK(std::memcmp(t->data, kv.second.data, t->nbytes) == 0);
      }
      CHECK(got->info.arch == ref->info.arch);
      CHECK(got->info.n_ffn == ref->info.n_ffn);
    }
  }
}

TEST_CASE("bench: matrix accounting follows the layer structure", "[bench]") {
  // Per-layer GEMM weights from the architecture (docs/rwkv-math.md section 3.1, 4.2, 5.1, 6.1),
  // computed here from the spec's numbers, not from the tensor list.
  for (const char* name : {"v4-tiny", "v5-tiny", "v6-tiny", "v7-tiny", "v7-0.1B"}) {
    INFO(name);
    const rwkv::SynthSpec s = rwkv::bench::synthetic_spec(name);
    const int64_t C = s.n_embd, F = s.n_ffn, L = s.n_layer, V = s.n_vocab;
    int64_t layer = 0, lora = 0;
    for (int l = 0; l < L; ++l) {
      layer += 4 * C * C + 2 * C * F;  // r, k, v, output; ffn key, value
      switch (s.arch) {
        case rwkv::Arch::v4: layer += C * C; break;              // ffn receptance
        case rwkv::Arch::v5_2: layer += C * C + C * C; break;    // gate; ffn receptance
        case rwkv::Arch::v6:
          layer += C * C + C * C;
          lora += 2 * 5 * s.lora_maa * C + 2 * s.lora_decay * C;
          break;
        default:  // v7: LoRAs w, a, g in every layer, v from layer 1 on
          lora += 2 * C * (s.lora_w + s.lora_a + s.lora_g) + (l > 0 ? 2 * C * s.lora_v : 0);
      }
    }
    layer += lora;
    auto model = rwkv::make_synth_model(s, rwkv::DType::bf16, 1);
    const rwkv::bench::ModelCost c = rwkv::bench::model_cost(*model);
    CHECK(c.layer_matrix_params == layer);
    CHECK(c.lora_params == lora);
    // The prefill pieces' GEMMs (bench_pieces.h): the LoRA and the other layer matrices, read once a
    // round; the head once per sequence's last row.
    // The full-width matrices by role (att_proj ... ffn_r) cover the layers' non-LoRA matrices.
    rwkv::bench::PieceCost proj;
    for (const char* role : {"att_proj", "att_out", "ffn_key", "ffn_value", "ffn_r"}) {
      const rwkv::bench::PieceCost p = rwkv::bench::prefill_piece_cost(c, role, 3, 10, 2, rwkv::DType::bf16,
                                                                       rwkv::DType::f32);
      proj.flops += p.flops;
      proj.bytes += p.bytes;
    }
    CHECK(c.att_out_params == L * C * C);
    CHECK(c.ffn_key_params == L * F * C);
    CHECK(c.ffn_value_params == L * C * F);
    CHECK(c.att_proj_params == L * C * C * (s.arch == rwkv::Arch::v4 || s.arch == rwkv::Arch::v7 ? 3 : 4));
    CHECK(c.ffn_r_params == (s.arch == rwkv::Arch::v7 ? 0 : L * C * C));
    const rwkv::bench::PieceCost lo = rwkv::bench::prefill_piece_cost(c, "lora", 3, 10, 2, rwkv::DType::bf16,
                                                                      rwkv::DType::f32);
    CHECK(proj.flops == 2.0 * double(layer - lora) * 30);
    CHECK(proj.bytes == double(layer - lora) * 2 * 2);
    CHECK(lo.flops == 2.0 * double(lora) * 30);
    CHECK(rwkv::bench::prefill_piece_cost(c, "head", 3, 10, 2, rwkv::DType::bf16, rwkv::DType::f32).flops ==
          2.0 * double(V * C) * 3);
    // The layernorm piece is the head's LayerNorm over the 3 last rows (x read in fp32, written in
    // bf16); LN1 and LN2 start the shift piece's launches: per row x read twice (fp32) and each mix
    // written (bf16), LN's output written for the 3 sequences' last rows of each of the 2 rounds
    // (v6: LN1's for every row, read again with 5 fp32 deltas by the ddlerp's second launch), and
    // the shift store (2 fp32 rows read and written a sequence and round).
    CHECK(rwkv::bench::prefill_piece_cost(c, "layernorm", 3, 10, 2, rwkv::DType::bf16, rwkv::DType::f32).bytes ==
          3.0 * double(C) * 6.0);
    const bool v6 = s.arch == rwkv::Arch::v6;
    const double mixes = s.arch == rwkv::Arch::v7 ? 7 : s.arch == rwkv::Arch::v6 ? 8 : s.arch == rwkv::Arch::v4 ? 5 : 6;
    const double shift_row = 8.0 * double(C) + mixes * 2.0 * double(C) + (v6 ? 28.0 * double(C) : 0.0);
    const double shift_last = 3.0 * 2.0 * 4.0 * double(C) * (v6 ? 1 : 2), store = 3.0 * 2.0 * 16.0 * double(C);
    CHECK(rwkv::bench::prefill_piece_cost(c, "shift", 3, 10, 2, rwkv::DType::bf16, rwkv::DType::f32).bytes ==
          Approx(double(L) * (30.0 * shift_row + shift_last + store)));
    CHECK(rwkv::bench::prefill_piece_cost(c, "no such piece", 3, 10, 2, rwkv::DType::bf16, rwkv::DType::f32).bytes == 0);
    CHECK(c.emb_params == V * C);
    CHECK(c.head_params == V * C);
    int64_t all = 0;
    for (const auto& kv : model->tensors()) all += kv.second.numel();
    CHECK(c.params == all);
    CHECK(c.matrix_params == layer + 2 * V * C);
    // Bytes and FLOPs from those counts.
    CHECK(c.prefill_flops(3, 10) == 2.0 * double(layer) * 30 + 2.0 * double(V * C) * 3);
    CHECK(c.decode_weight_bytes(rwkv::DType::bf16, 4) ==
          double(layer + V * C) * 2 + 4.0 * double(C) * 2 + double(all - layer - 2 * V * C) * 4);
    CHECK(c.decode_state_bytes(4) == 4.0 * double(rwkv::StateLayout(model->info).size()) * 8);
  }
}

TEST_CASE("bench: quantiles are order statistics, interpolated between them", "[bench]") {
  std::vector<double> xs;
  for (int i = 0; i < 11; ++i) xs.push_back(double((i * 7) % 11) * 0.5 + 3);  // a permutation of 3, 3.5, ..., 8
  std::vector<double> sorted = xs;
  std::sort(sorted.begin(), sorted.end());
  for (size_t k = 0; k < sorted.size(); ++k) CHECK(rwkv::bench::quantile(xs, double(k) / 10) == sorted[k]);
  CHECK(rwkv::bench::median(xs) == sorted[5]);
  // Between two order statistics: on the segment joining them.
  const double q = rwkv::bench::quantile(xs, 0.93);
  CHECK(q >= sorted[9]);
  CHECK(q <= sorted[10]);
  CHECK(rwkv::bench::median({2.0, 4.0}) == 3.0);
  CHECK_THROWS_AS(rwkv::bench::quantile({}, 0.5), rwkv::Error);
  CHECK_THROWS_AS(rwkv::bench::quantile(xs, 1.5), rwkv::Error);
}

TEST_CASE("bench: a cpu run reports every field, consistently", "[bench]") {
  auto model = rwkv::make_synth_model(rwkv::bench::synthetic_spec("v7-tiny"), rwkv::DType::f32, 0, 0);
  const rwkv::bench::BenchConfig cfg = tiny_config();
  rwkv::bench::TargetOptions t;
  t.device = "cpu";
  t.threads = 2;
  std::vector<rwkv::bench::RunResult> runs{rwkv::bench::run_benchmark(*model, t, cfg)};
  rwkv::bench::ReportInfo info{"test", "abc1234", "synthetic v7-tiny"};
  const std::string json = rwkv::bench::report_json(info, *model, cfg, runs);
  bench_test::check_report(json, *model, cfg, {rwkv::DType::f32}, "cpu", true);
  CHECK(rwkv::parse_json(json, "report").at("commit").get<std::string>() == "abc1234");
  const std::string table = rwkv::bench::report_table(info, *model, cfg, runs);
  CHECK(table.find("pp9") != std::string::npos);
  CHECK(table.find("tg3") != std::string::npos);

  // Limits given on the command line are used as given; skipped ones leave nulls.
  rwkv::bench::BenchConfig given = cfg;
  given.bandwidth_gbs = 123.5;
  given.peak_tflops = 0.25;
  given.decode_batches = {2};
  std::vector<rwkv::bench::RunResult> g{rwkv::bench::run_benchmark(*model, t, given)};
  CHECK(g[0].limits.bandwidth_gbs == 123.5);
  CHECK(g[0].limits.gemm_tflops == 0.25);
  bench_test::check_report(rwkv::bench::report_json(info, *model, given, g), *model, given, {rwkv::DType::f32},
                           "cpu", true);
  rwkv::bench::BenchConfig none = cfg;
  none.bandwidth_gbs = -1;
  none.peak_tflops = -1;
  none.decode_steps = 0;
  std::vector<rwkv::bench::RunResult> n{rwkv::bench::run_benchmark(*model, t, none)};
  bench_test::check_report(rwkv::bench::report_json(info, *model, none, n), *model, none, {rwkv::DType::f32},
                           "cpu", false);
}

TEST_CASE("bench: each row is said in a line as soon as it is measured", "[bench]") {
  auto model = rwkv::make_synth_model(rwkv::bench::synthetic_spec("v5-tiny"), rwkv::DType::f32, 0, 0);
  rwkv::bench::BenchConfig cfg = tiny_config();
  cfg.bandwidth_gbs = 100;
  cfg.peak_tflops = 0.5;
  rwkv::bench::TargetOptions t;
  t.device = "cpu";
  t.threads = 1;
  std::vector<std::string> said;
  const rwkv::bench::RunResult r =
      rwkv::bench::run_benchmark(*model, t, cfg, [&](const std::string& s) { said.push_back(s); });
  REQUIRE(r.prefill.size() == 4);
  REQUIRE(r.decode.size() == 2);
  // Each row's line follows the progress line that announced it, before the next row starts.
  std::vector<const rwkv::bench::Row*> rows;
  for (const auto& p : r.prefill) rows.push_back(&p);
  for (const auto& d : r.decode) rows.push_back(&d);
  size_t at = 0;
  for (const rwkv::bench::Row* row : rows) {
    const std::string line = rwkv::bench::row_line(*row);
    const std::string head = row->test + " B=" + std::to_string(row->batch) + ": ";
    REQUIRE(line.rfind(head, 0) == 0);
    const auto it = std::find(said.begin() + long(at), said.end(), line);
    REQUIRE(it != said.end());
    const size_t k = size_t(it - said.begin());
    REQUIRE(k > 0);
    CHECK(said[k - 1].find(row->test + " B=" + std::to_string(row->batch)) != std::string::npos);
    CHECK(said[k - 1].find(':') == std::string::npos);
    at = k + 1;
  }
  // The line carries the row's own figures.
  const rwkv::bench::Row& p = r.prefill[1];
  char ms[64];
  std::snprintf(ms, sizeof ms, "%.3f ms a call, %.0f tok/s, %.1f %%", p.ms_median, p.tokens_per_s, p.pct_peak);
  CHECK(rwkv::bench::row_line(p).find(ms) != std::string::npos);
  const rwkv::bench::Row& d = r.decode[1];
  char step[96];
  std::snprintf(step, sizeof step, "%.1f tok/s, p50 %.3f ms a step (floor %.3f), %.1f %%", d.tokens_per_s,
                d.p50_ms, d.floor_ms, d.pct_bandwidth);
  CHECK(rwkv::bench::row_line(d).find(step) != std::string::npos);
  CHECK(d.pct_bandwidth > 0);
}

TEST_CASE("bench: bad settings are refused before anything runs", "[bench]") {
  auto model = rwkv::make_synth_model(rwkv::bench::synthetic_spec("v4-tiny"), rwkv::DType::f32, 0, 0);
  rwkv::bench::TargetOptions t;
  t.device = "cpu";
  auto fails = [&](rwkv::bench::BenchConfig c) { CHECK_THROWS_AS(rwkv::bench::run_benchmark(*model, t, c), rwkv::Error); };
  rwkv::bench::BenchConfig c = tiny_config();
  c.prefill_tokens = {0};
  fails(c);
  c = tiny_config();
  c.decode_batches = {};
  fails(c);
  c = tiny_config();
  c.repeats = 0;
  fails(c);
  c = tiny_config();
  c.gemm_probe_n = 1;
  fails(c);
  for (const char* dev : {"gpu", "cuda:", "cuda:x", "cuda:-1", "cpu0"}) {
    rwkv::bench::TargetOptions bad = t;
    bad.device = dev;
    INFO(dev);
    CHECK_THROWS_AS(rwkv::bench::run_benchmark(*model, bad, tiny_config()), rwkv::Error);
  }
  rwkv::bench::TargetOptions bf16_state = t;
  bf16_state.state_dtype = rwkv::DType::bf16;  // the CPU backend keeps its states in fp32
  CHECK_THROWS_AS(rwkv::bench::run_benchmark(*model, bf16_state, tiny_config()), rwkv::Error);
}

TEST_CASE("bench: rwkv-run bench writes the table and the JSON", "[bench][cli]") {
  const std::string json_file = tmp_path("out.json"), out = tmp_path("stdout.txt");
  const std::string common =
      "bench --synthetic v4-tiny --device cpu --threads 2 --pp 4 --pp-batch 1,2 --tg 2 --tg-batch 1,2 "
      "--repeat 2 --copy-mib 1 --gemm-n 32 --quiet";
  REQUIRE(rwkv_run(common + " --json " + json_file, out) == 0);
  const std::string table = slurp(out);
  CHECK(table.find("pp4") != std::string::npos);
  CHECK(table.find("tg2") != std::string::npos);
  rwkv::bench::BenchConfig cfg;
  cfg.prefill_tokens = {4};
  cfg.prefill_batches = {1, 2};
  cfg.decode_steps = 2;
  cfg.decode_batches = {1, 2};
  cfg.repeats = 2;
  auto model = rwkv::make_synth_model(rwkv::bench::synthetic_spec("v4-tiny"), rwkv::DType::f32, 0);
  const std::string json = slurp(json_file);
  bench_test::check_report(json, *model, cfg, {rwkv::DType::f32}, "cpu", true);
  // The commit captured at build time: a short hash (maybe "-dirty") or "unknown".
  const std::string commit = rwkv::parse_json(json, json_file).at("commit").get<std::string>();
  CHECK((commit == "unknown" || (commit.size() >= 7 && commit.find_first_not_of("0123456789abcdef-dirty") ==
                                                           std::string::npos)));
  std::remove(json_file.c_str());

  // --json alone: the JSON on stdout, nothing else there.
  REQUIRE(rwkv_run(common + " --json", out) == 0);
  bench_test::check_report(slurp(out), *model, cfg, {rwkv::DType::f32}, "cpu", true);

  // Usage errors exit 2, run-time errors 1.
  CHECK(rwkv_run("bench", out) == 2);
  CHECK(rwkv_run("bench --synthetic v4-tiny --tg-batch 0", out) == 2);
  CHECK(rwkv_run("bench --synthetic v4-tiny --pp 1,,2", out) == 2);
  CHECK(rwkv_run("bench --synthetic v4-tiny --bogus", out) == 2);
  CHECK(rwkv_run("bench --synthetic v4-tiny --dtype fp8", out) == 2);
  CHECK(rwkv_run("bench --synthetic v4-tiny --graphs maybe", out) == 2);
  CHECK(rwkv_run("bench --synthetic v4-tiny --gemv-max-rows -1", out) == 2);
  CHECK(rwkv_run("bench --synthetic v4-tiny --gemv-max-rows 16,70000", out) == 2);
  CHECK(rwkv_run("bench --synthetic v9-1B --device cpu", out) == 1);
  CHECK(rwkv_run("bench /nonexistent/model.pth --device cpu", out) == 1);
  CHECK(rwkv_run("bench --synthetic v4-tiny --state-dtype fp16", out) == 2);
  // The CPU holds its matrices in fp16 or bf16 when asked (docs/cpu-backend.md).
  REQUIRE(rwkv_run("bench --synthetic v4-tiny --device cpu --dtype fp16,bf16 --pp 4 --pp-batch 1 --tg 2 "
                   "--tg-batch 1 --repeat 1 --copy-mib 1 --gemm-n 32 --quiet",
                   out) == 0);
  CHECK(slurp(out).find("== fp16") != std::string::npos);
  CHECK(slurp(out).find("== bf16") != std::string::npos);
  CHECK(rwkv_run("bench --synthetic v4-tiny --device cpu --state-dtype bf16", out) == 1);
  std::remove(out.c_str());
}
