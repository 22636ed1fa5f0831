// tools/rwkv-run/cmd_bench.cpp: `rwkv-run bench`, prefill and decode
// throughput of a model (a file, or a synthetic model of a released shape
// built in memory) on one device, in one or more dtypes, set against the
// device's measured bandwidth and GEMM peak. The measuring is in
// bench/ (bench_run.h describes the protocol).
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "cli_args.h"
#include "cli_output_path.h"
#include "commands.h"
#include "rwkv_git_commit.h"
#include "bench/bench_report.h"
#include "bench/bench_run.h"
#include "bench/synthetic_models.h"
#include "runtime/engine/device.h"
#include "runtime/engine/open_backend.h"
#include "runtime/model/model.h"
#include "runtime/model/synth.h"

namespace {

struct Options {
  cli::ModelArg model;
  std::string synthetic, device = "auto";
  cli::JsonOutput json;
  bool quiet = false, have_dtype = false, have_gemm_n = false, list_synthetic = false;
  std::vector<rwkv::DType> dtypes;
  std::vector<rwkv::QuantKind> quants;  // per entry of dtypes: int8 / q4 (its dtype then set from the
                                        // model: the dense dtype of the rest), or none
  rwkv::bench::BenchConfig cfg;
  int threads = 0, max_rows = 0, copy_mib = 0;  // max_rows 0: automatic
  std::vector<bool> graphs = {true};          // cuda: runs with CUDA graphs on and/or off
  std::vector<int> gemv_max_rows = {16};      // cuda: one run per GEMV/cuBLAS switch point
  std::vector<int> wkv_chunk_min = {cli::kDefaultWkvChunkMin};  // cuda: one run per sequential/chunked WKV switch
  std::vector<int> carry_split = {-1};        // cuda: chunked v7 pass 2's split shape: -1 automatic, 0 off
  std::vector<int> split_parts = {0};         // cuda: the chunked WKV's operand parts: 0 automatic, 3
  std::string state_dtype;                    // cuda: "" (fp32) or fp32/bf16
  unsigned long long seed = 0;
};

// Every run of `runs` once with each of `values` (set by `set`): runs x values, the values inner.
template <class T, class Set>
void for_each_value(std::vector<rwkv::bench::TargetOptions>& runs, const std::vector<T>& values, Set set) {
  std::vector<rwkv::bench::TargetOptions> out;
  for (const rwkv::bench::TargetOptions& run : runs)
    for (const T& v : values) {
      out.push_back(run);
      set(out.back(), v);
    }
  runs = std::move(out);
}

// One run's settings per dtype x CUDA graphs x GEMV switch x chunked-WKV switch x pass-2 shape x
// operand parts; on cpu the cuda settings mean nothing: one run per dtype.
std::vector<rwkv::bench::TargetOptions> run_settings(const Options& o, bool cpu) {
  std::vector<rwkv::bench::TargetOptions> runs;
  for (size_t k = 0; k < o.dtypes.size(); ++k) {
    rwkv::bench::TargetOptions t;
    t.device = o.device;
    t.dtype = o.dtypes[k];
    t.quant = o.quants[k];
    t.threads = o.threads;
    t.max_rows = o.max_rows;
    t.wkv_chunk_min_tokens = cli::kDefaultWkvChunkMin;
    t.state_dtype = cli::parse_state_dtype(o.state_dtype);
    runs.push_back(t);
  }
  if (cpu) return runs;
  using rwkv::bench::TargetOptions;
  for_each_value(runs, o.graphs, [](TargetOptions& t, bool g) { t.cuda_graphs = g; });
  for_each_value(runs, o.gemv_max_rows, [](TargetOptions& t, int rows) { t.gemv_max_rows = rows; });
  for_each_value(runs, o.wkv_chunk_min, [](TargetOptions& t, int chunk) { t.wkv_chunk_min_tokens = chunk; });
  for_each_value(runs, o.carry_split, [](TargetOptions& t, int slots) { t.wkv_carry_split_slots = slots; });
  for_each_value(runs, o.split_parts, [](TargetOptions& t, int parts) { t.wkv_split_parts = parts; });
  return runs;
}

// An option taking a whole number in [lo, hi] into `dst`.
void add_count(CLI::App& app, const char* name, int& dst, long long lo, long long hi, const std::string& help) {
  app.add_option_function<std::string>(name, [&dst, name, lo, hi](const std::string& v) {
       dst = int(cli::parse_int(name, v, lo, hi));
     }, help)->type_name("N");
}

// An option taking a comma-separated list of whole numbers in [lo, hi].
void add_list(CLI::App& app, const char* name, std::vector<int>& dst, long long lo, long long hi,
              const std::string& help) {
  app.add_option_function<std::string>(name, [&dst, name, lo, hi](const std::string& v) {
       dst = cli::parse_int_list(name, v, lo, hi);
     }, help)->type_name("LIST");
}

void add_options(cli::Command& cmd, Options& o) {
  CLI::App& app = cmd.app();
  cli::add_model(app, o.model, true);
  app.add_option("--synthetic", o.synthetic,
                 "random weights with a released model's shapes, built in memory: v7-0.1B|0.4B|1.5B|2.9B|7.2B, "
                 "v4-169M|430M|1.5B|3B|7B|14B, v5-0.4B|1.5B|3B|7B, v6-1.6B|3B|7B|14B, v4/v5/v6/v7-tiny")
      ->type_name("NAME");
  app.add_flag("--list-synthetic", o.list_synthetic, "print the synthetic models' shapes");
  cli::add_device(app, o.device);
  app.add_option_function<std::string>(
         "--dtype",
         [&o](const std::string& v) {
           o.dtypes.clear();
           o.quants.clear();
           for (size_t p = 0; p <= v.size();) {
             const size_t c = v.find(',', p);
             const std::string name = v.substr(p, c == std::string::npos ? std::string::npos : c - p);
             rwkv::DType d = rwkv::DType::f32;
             rwkv::QuantKind q = rwkv::QuantKind::none;
             if (!rwkv::dtype_from_name(name, &d) && !rwkv::quant_kind_from_name(name, &q))
               cli::usage_fail("--dtype must be fp32, fp16, bf16, int8 or q4, got '" + name + "'");
             o.dtypes.push_back(d);
             o.quants.push_back(q);
             if (c == std::string::npos) break;
             p = c + 1;
           }
           o.have_dtype = true;
         },
         "weights' dtype(s), e.g. fp16,bf16 (default: a model file's own dtype; for --synthetic fp16 on "
         "cuda, fp32 on cpu); int8 / q4: every matrix quantized at load, the rest in the "
         "model's dense dtype (a file's own, bf16 for --synthetic)")
      ->type_name("LIST");
  add_list(app, "--pp", o.cfg.prefill_tokens, 1, 1 << 20, "prompt lengths T (default 512,4096)");
  app.add_flag_callback("--pp-grid", [&o] { o.cfg.prefill_tokens = {128, 256, 512, 1024, 2048, 4096, 8192, 16384}; },
                        "prompt lengths 128,256,...,16384");
  add_list(app, "--pp-batch", o.cfg.prefill_batches, 1, 4096, "prefill batch sizes B (default 1,4); every B x T is run");
  app.add_flag_callback("--grid", [&o] {
    o.cfg.prefill_tokens = {128, 256, 512, 1024, 2048, 4096, 8192, 16384};
    o.cfg.prefill_batches = {1, 2, 4, 8, 16};
  }, "the B x T grid: --pp-grid with --pp-batch 1,2,4,8,16");
  add_count(app, "--tg", o.cfg.decode_steps, 0, 1 << 20, "decode steps per pass (default 128; 0: no decode)");
  add_list(app, "--tg-batch", o.cfg.decode_batches, 1, 4096, "decode batch sizes (default 1,2,4,8,16,32,64,128,256)");
  app.add_flag("--greedy", o.cfg.greedy,
               "decode takes the most likely token (temperature 0) instead of sampling with pip's defaults "
               "(top-p over the vocabulary), as benchmarks that feed back the argmax do");
  add_count(app, "--warmup", o.cfg.warmup, 0, 100, "untimed runs first (default 1)");
  add_count(app, "--repeat", o.cfg.repeats, 1, 1000, "timed runs; the median is reported (default 3)");
  for (const char* name : {"--bandwidth-gbs", "--peak-tflops"}) {
    double& dst = std::string(name) == "--bandwidth-gbs" ? o.cfg.bandwidth_gbs : o.cfg.peak_tflops;
    app.add_option_function<std::string>(name, [&dst, name](const std::string& v) {
         const double x = cli::parse_double(name, v, 0, 1e9);
         dst = x > 0 ? x : -1;  // 0 on the command line means "do not compare" (-1 in BenchConfig)
       }, std::string(name) == "--bandwidth-gbs"
              ? "memory bandwidth to compare with (default: measured by a device copy; 0: do not compare)"
              : "GEMM peak to compare with (default: measured by a large GEMM in the dtype; 0: do not compare)")
        ->type_name("X");
  }
  add_count(app, "--copy-mib", o.copy_mib, 1, 65536, "size of the bandwidth probe's copy (default 1024 on cuda, 256 on cpu)");
  app.add_option_function<std::string>("--gemm-n", [&o](const std::string& v) {
       o.cfg.gemm_probe_n = int(cli::parse_int("--gemm-n", v, 16, 32768));
       o.have_gemm_n = true;
     }, "size of the GEMM probe, N x N x N (default 8192 on cuda, 1024 on cpu)")->type_name("N");
  cli::add_threads(app, o.threads);
  add_count(app, "--max-rows", o.max_rows, 1, 65535,
            "cuda token rows per round (default: automatic, from the free GPU memory, up to 4096)");
  app.add_option_function<std::string>("--graphs", [&o](const std::string& v) {
       if (v == "on") o.graphs = {true};
       else if (v == "off") o.graphs = {false};
       else if (v == "both") o.graphs = {true, false};
       else cli::usage_fail("--graphs must be on, off or both, got '" + v + "'");
     }, "cuda: replay decode steps from CUDA graphs: on (default), off, or both (one run each)")->type_name("on|off|both");
  add_list(app, "--gemv-max-rows", o.gemv_max_rows, 0, 65535,
           "cuda: rounds of at most N rows use the custom GEMV, larger ones cuBLAS (default 16; 0: cuBLAS always); "
           "a list sweeps the switch point, one run per value");
  add_list(app, "--wkv-chunk-min", o.wkv_chunk_min, 0, 65535,
           "cuda: prefill rounds averaging at least N tokens per sequence use the chunked WKV kernels (default " +
               std::to_string(cli::kDefaultWkvChunkMin) + "; 0: never chunked); a list sweeps the switch, one run "
               "per value");
  app.add_option_function<std::string>("--wkv-carry-split", [&o](const std::string& v) {
       if (v == "auto") o.carry_split = {-1};
       else if (v == "off") o.carry_split = {0};
       else if (v == "both") o.carry_split = {-1, 0};
       else cli::usage_fail("--wkv-carry-split must be auto, off or both, got '" + v + "'");
     }, "cuda: the chunked v7 prefill's state chain (pass 2) with each head's keys cut in halves or quarters "
        "while its blocks fit the GPU (auto, default), always whole (off), or both (one run each)")->type_name("auto|off|both");
  app.add_option_function<std::string>("--wkv-parts", [&o](const std::string& v) {
       if (v == "auto") o.split_parts = {0};
       else if (v == "3") o.split_parts = {3};
       else if (v == "both") o.split_parts = {0, 3};
       else cli::usage_fail("--wkv-parts must be auto, 3 or both, got '" + v + "'");
     }, "cuda: the chunked WKV's tensor-core operands in bf16 parts by the run's precision (auto, default: 2 "
        "for bf16/fp16, 3 for fp32), 3 (fp32-accurate) always, or both (one run each)")->type_name("auto|3|both");
  cli::add_state_dtype(app, o.state_dtype);
  app.add_option_function<std::string>("--seed", [&o](const std::string& v) { o.seed = cli::parse_u64("--seed", v); },
                                       "synthetic weights' seed (default 0)")->type_name("N");
  cli::add_json(app, o.json, "the results (the table then goes to stderr)");
  cli::add_quiet(app, o.quiet, "no progress lines");
  app.footer("Times are device times (CUDA events on the backend's stream; steady_clock on cpu). Nothing else\n"
             "should run on the device meanwhile.");
}

void print_synthetic_list() {
  std::printf("%-10s %-4s %6s %4s %7s %6s  %s\n", "name", "arch", "C", "L", "V", "F", "LoRA");
  for (const std::string& n : rwkv::bench::synthetic_names()) {
    const rwkv::SynthSpec s = rwkv::bench::synthetic_spec(n);
    std::string lora = rwkv::bench::lora_widths_text(rwkv::synth_model_info(s));
    if (lora.empty()) lora = "-";
    std::printf("%-10s %-4s %6d %4d %7d %6d  %s\n", n.c_str(), rwkv::arch_name(s.arch), s.n_embd, s.n_layer,
                s.n_vocab, s.n_ffn, lora.c_str());
  }
}

// The benchmark of options `o` (parsed; o.device is "cpu" or "cuda:N").
int run(Options& o) {
  rwkv::bench::BenchConfig& cfg = o.cfg;
  const bool cpu = o.device == "cpu";
  // Defaults that depend on the device: a synthetic model runs in fp32 on cpu
  // and fp16 on cuda; a file in its own dtype (set below).
  if (!o.have_dtype) o.dtypes = {cpu ? rwkv::DType::f32 : rwkv::DType::f16};
  o.quants.resize(o.dtypes.size(), rwkv::QuantKind::none);
  if (cpu && !o.have_gemm_n) cfg.gemm_probe_n = 1024;
  if (o.copy_mib == 0) o.copy_mib = cpu ? 256 : 1024;
  cfg.copy_probe_bytes = size_t(o.copy_mib) << 20;

  const auto t0 = std::chrono::steady_clock::now();
  auto log = [&](const std::string& s) {
    const double at = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!o.quiet) std::fprintf(stderr, "bench: [%6.1fs] %s\n", at, s.c_str());
  };
  rwkv::bench::validate_config(cfg);
  std::unique_ptr<rwkv::Model> model;
  rwkv::bench::ReportInfo info;
  info.version = RWKV_RUN_VERSION;
  info.commit = RWKV_GIT_COMMIT;
  if (!o.synthetic.empty()) {
    const rwkv::SynthSpec spec = rwkv::bench::synthetic_spec(o.synthetic);
    // Host copy in bf16 when any run wants bf16 (fp16 from bf16 is exact for
    // these value ranges), else in the first dtype; bf16 when only quantized runs are asked.
    rwkv::DType host = rwkv::DType::bf16;
    bool dense_seen = false;
    for (size_t k = 0; k < o.dtypes.size(); ++k) {
      if (o.quants[k] != rwkv::QuantKind::none) continue;
      if (!dense_seen || o.dtypes[k] == rwkv::DType::bf16) host = o.dtypes[k];
      dense_seen = true;
    }
    log("building synthetic " + o.synthetic + " in memory (" + rwkv::dtype_name(host) + ")");
    model = rwkv::make_synth_model(spec, host, o.seed, 0);
    info.model_source = "synthetic " + o.synthetic + " (seed " + std::to_string(o.seed) + ")";
  } else {
    log("loading " + o.model.path());
    model = rwkv::load_model(o.model.path());
    info.model_source = o.model.path();
    if (!o.have_dtype) {
      // The file as stored: its own dense dtype, its quantized matrices kept (as generate runs it).
      o.dtypes = {rwkv::stored_matrix_dtype(*model)};
      for (const auto& kv : model->tensors())
        if (kv.second.quantized()) {
          o.quants = {kv.second.quant.kind};
          break;
        }
    }
  }
  // A quantized run's dense dtype (embedding, activations; on cpu the matrices
  // left dense): the model's own.
  for (size_t k = 0; k < o.dtypes.size(); ++k)
    if (o.quants[k] != rwkv::QuantKind::none) {
      const rwkv::Tensor* emb = model->find("emb.weight");
      o.dtypes[k] = !emb ? rwkv::DType::f32 : emb->dtype;
    }
  std::vector<rwkv::bench::RunResult> runs;
  for (const rwkv::bench::TargetOptions& t : run_settings(o, cpu))
    runs.push_back(rwkv::bench::run_benchmark(*model, t, cfg, log));
  const std::string table = rwkv::bench::report_table(info, *model, cfg, runs);
  if (o.json.wanted() && o.json.file.empty()) {
    std::fputs(table.c_str(), stderr);
    std::fputs(rwkv::bench::report_json(info, *model, cfg, runs).c_str(), stdout);
  } else {
    std::fputs(table.c_str(), stdout);
    if (o.json.wanted()) cli::write_file_atomic(o.json.file, rwkv::bench::report_json(info, *model, cfg, runs));
  }
  std::fflush(stdout);
  return 0;
}

}  // namespace

int cmd_bench(int argc, char** argv) {
  Options o;
  cli::Command cmd("bench",
                   "Prefill (ppT) and decode (tgN) throughput on one device, each figure set against the\n"
                   "device's memory bandwidth and GEMM peak (measured, or given). The model: -m MODEL (or\n"
                   "MODEL) or --synthetic NAME.");
  add_options(cmd, o);
  return cmd.run([&] {
    if (!cmd.parse(argc, argv)) return 0;
    if (o.list_synthetic) {
      print_synthetic_list();
      return 0;
    }
    if (!o.synthetic.empty() && !o.model.path().empty()) cli::usage_fail("give a MODEL file or --synthetic NAME, not both");
    if (o.synthetic.empty()) cli::require_model(o.model, "rwkv-run bench -m MODEL, or rwkv-run bench --synthetic NAME");
    if (o.json.wanted() && !o.json.file.empty())
      o.json.file = cli::checked_output_path("--json", o.json.file, {o.model.path()}, false);
    // The device-dependent defaults need the device "auto" stands for.
    std::string note;
    o.device = rwkv::resolve_device(rwkv::parse_device(o.device), &note).name();
    if (!note.empty() && std::strcmp(RWKV_RUN_GPU_PATH, "cuda") == 0 && !o.quiet)
      std::fprintf(stderr, "rwkv-run bench: %s\n", note.c_str());
    return run(o);
  });
}
