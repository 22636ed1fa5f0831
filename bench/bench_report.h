// bench/bench_report.h: a benchmark's results as a readable table (with
// the limits each figure is set against) and as JSON.
//
// JSON layout (every number in SI units: bytes, seconds as ms, FLOP/s as
// TFLOP/s = 1e12, GB/s = 1e9 bytes/s; a figure that needs an unknown limit is
// null):
//   { "tool", "version", "commit",
//     "device": {"kind", "name", "emulated", "threads"},
//     "model": {"source", "format", "arch", "n_embd", "n_layer", "n_vocab",
//               "n_head", "head_size", "n_att", "n_ffn", "lora": {...} | null,
//               "params", "matrix_params", "layer_matrix_params", "state_floats"},
//     "settings": {"warmup", "repeats", "prefill_tokens", "prefill_batches",
//                  "decode_steps", "decode_batches"},
//     "runs": [ { "dtype", "weight_bytes", "workspace_bytes", "state_dtype", "state_bytes_per_seq",
//                 "limits": {"bandwidth_gbs", "bandwidth_source", "gemm_tflops", "gemm_source"},
//                 "prefill": [ {"test", "batch", "tokens_per_seq", "ms_median", "ms_samples",
//                               "tokens_per_s", "tokens_per_s_per_seq", "flops", "flops_per_token",
//                               "tflops", "pct_peak", "bound_tokens_per_s"} ],
//                 "decode": [ {"test", "batch", "steps", "ms_median_pass", "latency_ms_p50",
//                              "latency_ms_p90", "tokens_per_s", "tokens_per_s_per_seq",
//                              "bytes_per_step", "weight_bytes_per_step", "state_bytes_per_step",
//                              "flops_per_step", "gbs", "pct_bandwidth", "tflops", "pct_peak",
//                              "bound_tokens_per_s"} ] } ] }
#pragma once

#include <string>
#include <vector>

#include "bench/bench_accounting.h"
#include "bench/bench_run.h"
#include "runtime/model/model.h"

namespace rwkv {
namespace bench {

struct ReportInfo {
  std::string version;       // the tool's version
  std::string commit;        // git rev-parse --short HEAD at build time, or "unknown"
  std::string model_source;  // "synthetic v7-0.1B" or the model file's path
};

// The LoRA widths of a model as "w/a/v/g 64/64/32/128" (runtime/arch), "" for none.
std::string lora_widths_text(const ModelInfo& m);

std::string report_json(const ReportInfo& info, const Model& model, const BenchConfig& cfg,
                        const std::vector<RunResult>& runs);
std::string report_table(const ReportInfo& info, const Model& model, const BenchConfig& cfg,
                         const std::vector<RunResult>& runs);

}  // namespace bench
}  // namespace rwkv
