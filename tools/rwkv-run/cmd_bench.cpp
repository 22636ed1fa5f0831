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

#include "commands.h"
#include "rwkv_git_commit.h"
#include "bench/bench_report.h"
#include "bench/bench_run.h"
#include "bench/synthetic_models.h"
#include "runtime/model/model.h"

namespace {

const char kUsage[] =
    "usage: rwkv-run bench (MODEL | --synthetic NAME) [options]\n"
    "  Prefill (ppT) and decode (tgN) throughput on one device, each figure set\n"
    "  against the device's memory bandwidth and GEMM peak (measured, or given).\n"
    "  --synthetic NAME    random weights with a released model's shapes, built in\n"
    "                      memory: v7-0.1B|0.4B|1.5B|2.9B|7.2B, v4-169M|430M|1.5B|3B|7B|14B,\n"
    "                      v5-0.4B|1.5B|3B|7B, v6-1.6B|3B|7B|14B, v4/v5/v6/v7-tiny\n"
    "                      (--list-synthetic prints their shapes)\n"
    "  --device D          cpu, cuda or cuda:N (default: cuda in a CUDA build, else cpu)\n"
    "  --dtype LIST        weights' dtype(s), e.g. fp16,bf16 (default on cuda: a model\n"
    "                      file's own dtype, fp16 for --synthetic; the cpu backend\n"
    "                      computes in fp32 only)\n"
    "  --pp LIST           prompt lengths T (default 512); --pp-grid: 128,256,...,16384\n"
    "  --pp-batch LIST     prefill batch sizes B (default 1); every B x T is run\n"
    "  --grid              the B x T grid: --pp-grid with --pp-batch 1,2,4,8,16\n"
    "  --tg N              decode steps per pass (default 128; 0: no decode)\n"
    "  --tg-batch LIST     decode batch sizes (default 1,2,4,8,16,32,64,128,256)\n"
    "  --warmup N          untimed runs first (default 1)\n"
    "  --repeat N          timed runs; the median is reported (default 3)\n"
    "  --bandwidth-gbs X   memory bandwidth to compare with (default: measured by a\n"
    "                      device copy; 0: do not compare)\n"
    "  --peak-tflops X     GEMM peak to compare with (default: measured by a large\n"
    "                      GEMM in the dtype; 0: do not compare)\n"
    "  --copy-mib N        size of the bandwidth probe's copy (default 1024 on cuda, 256 on cpu)\n"
    "  --gemm-n N          size of the GEMM probe, N x N x N (default 8192 on cuda, 1024 on cpu)\n"
    "  --threads N         cpu worker threads (default: all cores)\n"
    "  --max-rows N        cuda token rows per round (default 512)\n"
    "  --seed N            synthetic weights' seed (default 0)\n"
    "  --json [FILE]       also write the results as JSON to FILE (a name ending in\n"
    "                      .json, or --json=FILE), or to stdout (the table then goes\n"
    "                      to stderr)\n"
    "  --quiet             no progress lines\n"
    "  Times are device times (CUDA events on the backend's stream; steady_clock on\n"
    "  cpu). Nothing else should run on the device meanwhile.\n";

int usage_error(const std::string& msg) {
  std::fprintf(stderr, "rwkv-run bench: %s (see 'rwkv-run bench --help')\n", msg.c_str());
  return 2;
}

bool parse_int(const std::string& s, long long lo, long long hi, int* out) {
  if (s.empty() || s.size() > 12) return false;
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (*end || errno || v < lo || v > hi) return false;
  *out = int(v);
  return true;
}

bool parse_list(const std::string& s, long long lo, long long hi, std::vector<int>* out) {
  out->clear();
  size_t i = 0;
  while (i <= s.size()) {
    const size_t comma = s.find(',', i);
    const std::string item = s.substr(i, comma == std::string::npos ? std::string::npos : comma - i);
    int v = 0;
    if (!parse_int(item, lo, hi, &v)) return false;
    out->push_back(v);
    if (comma == std::string::npos) break;
    i = comma + 1;
  }
  return !out->empty();
}

bool parse_double(const std::string& s, double* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s.c_str(), &end);
  if (*end || errno || !(v >= 0) || v > 1e9) return false;
  *out = v;
  return true;
}

bool ends_with(const std::string& s, const char* suffix) {
  const size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

void print_synthetic_list() {
  std::printf("%-10s %-4s %6s %4s %7s %6s  %s\n", "name", "arch", "C", "L", "V", "F", "LoRA");
  for (const std::string& n : rwkv::bench::synthetic_names()) {
    const rwkv::SynthSpec s = rwkv::bench::synthetic_spec(n);
    std::string lora = "-";
    if (s.arch == rwkv::Arch::v7)
      lora = "w/a/v/g " + std::to_string(s.lora_w) + "/" + std::to_string(s.lora_a) + "/" + std::to_string(s.lora_v) +
             "/" + std::to_string(s.lora_g);
    if (s.arch == rwkv::Arch::v6) lora = "maa/decay " + std::to_string(s.lora_maa) + "/" + std::to_string(s.lora_decay);
    std::printf("%-10s %-4s %6d %4d %7d %6d  %s\n", n.c_str(), rwkv::arch_name(s.arch), s.n_embd, s.n_layer,
                s.n_vocab, s.n_ffn, lora.c_str());
  }
}

// Writes `text` to `path` through a temporary file renamed into place.
bool write_file(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp" + std::to_string(getpid());
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return false;
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  if (std::fclose(f) != 0 || !ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return false;
  }
  return true;
}

}  // namespace

int cmd_bench(int argc, char** argv) {
  std::string model_path, synthetic, device, json_path;
  bool json = false, quiet = false, have_dtype = false, have_gemm_n = false;
  std::vector<rwkv::DType> dtypes;
  rwkv::bench::BenchConfig cfg;
  int threads = 0, max_rows = 512, copy_mib = 0;
  unsigned long long seed = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    std::string v;
    auto value = [&]() {
      if (i + 1 >= argc) return false;
      v = argv[++i];
      return true;
    };
    auto need = [&]() {
      if (!value()) {
        usage_error(a + " needs a value");
        return false;
      }
      return true;
    };
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (a == "--list-synthetic") {
      print_synthetic_list();
      return 0;
    } else if (a == "--synthetic") {
      if (!need()) return 2;
      synthetic = v;
    } else if (a == "--device") {
      if (!need()) return 2;
      device = v;
    } else if (a == "--dtype") {
      if (!need()) return 2;
      dtypes.clear();
      size_t p = 0;
      while (p <= v.size()) {
        const size_t c = v.find(',', p);
        const std::string name = v.substr(p, c == std::string::npos ? std::string::npos : c - p);
        rwkv::DType d;
        if (!rwkv::dtype_from_name(name, &d)) return usage_error("unknown dtype '" + name + "'");
        dtypes.push_back(d);
        if (c == std::string::npos) break;
        p = c + 1;
      }
      have_dtype = true;
    } else if (a == "--pp") {
      if (!need()) return 2;
      if (!parse_list(v, 1, 1 << 20, &cfg.prefill_tokens)) return usage_error("--pp needs lengths in [1, 1048576]");
    } else if (a == "--pp-grid" || a == "--grid") {
      cfg.prefill_tokens.clear();
      for (int t = 128; t <= 16384; t *= 2) cfg.prefill_tokens.push_back(t);
      if (a == "--grid") cfg.prefill_batches = {1, 2, 4, 8, 16};
    } else if (a == "--pp-batch") {
      if (!need()) return 2;
      if (!parse_list(v, 1, 4096, &cfg.prefill_batches)) return usage_error("--pp-batch needs sizes in [1, 4096]");
    } else if (a == "--tg") {
      if (!need()) return 2;
      if (!parse_int(v, 0, 1 << 20, &cfg.decode_steps)) return usage_error("--tg needs a count in [0, 1048576]");
    } else if (a == "--tg-batch") {
      if (!need()) return 2;
      if (!parse_list(v, 1, 4096, &cfg.decode_batches)) return usage_error("--tg-batch needs sizes in [1, 4096]");
    } else if (a == "--warmup") {
      if (!need()) return 2;
      if (!parse_int(v, 0, 100, &cfg.warmup)) return usage_error("--warmup needs a count in [0, 100]");
    } else if (a == "--repeat") {
      if (!need()) return 2;
      if (!parse_int(v, 1, 1000, &cfg.repeats)) return usage_error("--repeat needs a count in [1, 1000]");
    } else if (a == "--bandwidth-gbs" || a == "--peak-tflops") {
      if (!need()) return 2;
      double x = 0;
      if (!parse_double(v, &x)) return usage_error(a + " needs a non-negative number");
      // 0 on the command line means "do not compare" (-1 in BenchConfig).
      (a == "--bandwidth-gbs" ? cfg.bandwidth_gbs : cfg.peak_tflops) = x > 0 ? x : -1;
    } else if (a == "--copy-mib") {
      if (!need()) return 2;
      if (!parse_int(v, 1, 65536, &copy_mib)) return usage_error("--copy-mib needs a size in [1, 65536]");
    } else if (a == "--gemm-n") {
      if (!need()) return 2;
      if (!parse_int(v, 16, 32768, &cfg.gemm_probe_n)) return usage_error("--gemm-n needs a size in [16, 32768]");
      have_gemm_n = true;
    } else if (a == "--threads") {
      if (!need()) return 2;
      if (!parse_int(v, 1, 1024, &threads)) return usage_error("--threads needs a count in [1, 1024]");
    } else if (a == "--max-rows") {
      if (!need()) return 2;
      if (!parse_int(v, 1, 1 << 16, &max_rows)) return usage_error("--max-rows needs a count in [1, 65536]");
    } else if (a == "--seed") {
      if (!need()) return 2;
      char* end = nullptr;
      errno = 0;
      seed = std::strtoull(v.c_str(), &end, 10);
      if (v.empty() || v[0] == '-' || *end || errno) return usage_error("--seed needs a non-negative integer");
    } else if (a == "--json") {
      json = true;
      if (i + 1 < argc && (ends_with(argv[i + 1], ".json") || std::strcmp(argv[i + 1], "-") == 0)) {
        json_path = argv[++i];
        if (json_path == "-") json_path.clear();
      }
    } else if (a.rfind("--json=", 0) == 0) {
      json = true;
      json_path = a.substr(7);
      if (json_path.empty()) return usage_error("--json= needs a file name");
    } else if (a == "--quiet" || a == "-q") {
      quiet = true;
    } else if (a.size() > 1 && a[0] == '-') {
      return usage_error("unknown option '" + a + "'");
    } else if (model_path.empty()) {
      model_path = a;
    } else {
      return usage_error("unexpected argument '" + a + "'");
    }
  }
  if (model_path.empty() == synthetic.empty()) return usage_error("needs a MODEL file or --synthetic NAME (one of them)");
  if (device.empty()) device = std::strcmp(RWKV_RUN_GPU_PATH, "cuda") == 0 ? "cuda" : "cpu";
  const bool cpu = device == "cpu";
  // Defaults that depend on the device: cpu computes in fp32 only; on cuda a
  // synthetic model runs in fp16 and a file in its own dtype (set below).
  if (!have_dtype) dtypes = {cpu ? rwkv::DType::f32 : rwkv::DType::f16};
  if (cpu && !have_gemm_n) cfg.gemm_probe_n = 1024;
  if (copy_mib == 0) copy_mib = cpu ? 256 : 1024;
  cfg.copy_probe_bytes = size_t(copy_mib) << 20;

  const auto t0 = std::chrono::steady_clock::now();
  auto log = [&](const std::string& s) {
    const double at = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!quiet) std::fprintf(stderr, "bench: [%6.1fs] %s\n", at, s.c_str());
  };
  try {
    rwkv::bench::validate_config(cfg);
    std::unique_ptr<rwkv::Model> model;
    rwkv::bench::ReportInfo info;
    info.version = RWKV_RUN_VERSION;
    info.commit = RWKV_GIT_COMMIT;
    if (!synthetic.empty()) {
      const rwkv::SynthSpec spec = rwkv::bench::synthetic_spec(synthetic);
      // Host copy in bf16 when any run wants bf16 (fp16 from bf16 is exact for
      // these value ranges), else in the first dtype.
      rwkv::DType host = dtypes[0];
      for (rwkv::DType d : dtypes)
        if (d == rwkv::DType::bf16) host = d;
      log("building synthetic " + synthetic + " in memory (" + rwkv::dtype_name(host) + ")");
      model = rwkv::make_synth_model(spec, host, seed, 0);
      info.model_source = "synthetic " + synthetic + " (seed " + std::to_string(seed) + ")";
    } else {
      log("loading " + model_path);
      model = rwkv::load_model(model_path);
      info.model_source = model_path;
      if (!have_dtype && !cpu) {
        const rwkv::Tensor* t = model->find("blocks.0.att.key.weight");
        if (t) dtypes = {t->dtype};
      }
    }
    std::vector<rwkv::bench::RunResult> runs;
    for (rwkv::DType d : dtypes) {
      rwkv::bench::TargetOptions t;
      t.device = device;
      t.dtype = d;
      t.threads = threads;
      t.max_rows = max_rows;
      runs.push_back(rwkv::bench::run_benchmark(*model, t, cfg, log));
    }
    const std::string table = rwkv::bench::report_table(info, *model, cfg, runs);
    if (json && json_path.empty()) {
      std::fputs(table.c_str(), stderr);
      std::fputs(rwkv::bench::report_json(info, *model, cfg, runs).c_str(), stdout);
    } else {
      std::fputs(table.c_str(), stdout);
      if (json && !write_file(json_path, rwkv::bench::report_json(info, *model, cfg, runs))) {
        std::fprintf(stderr, "rwkv-run bench: cannot write %s: %s\n", json_path.c_str(), std::strerror(errno));
        return 1;
      }
    }
    std::fflush(stdout);
    return 0;
  } catch (const rwkv::Error& e) {
    std::fprintf(stderr, "rwkv-run bench: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "rwkv-run bench: out of host memory\n");
    return 1;
  }
}
