// bench/bench_run.h: prefill and decode throughput of one backend on
// one device in one dtype, each figure set against the device's limits.
//
// Protocol (every timed interval is on the device's own timeline: CUDA events
// on the backend's stream, or steady_clock for the CPU backend):
//   prefill ppT at batch B: B sequences of T tokens in one Backend::forward
//     (LogitsMode::last), from fresh states; `warmup` untimed calls, then
//     `repeats` timed ones; the median time gives tokens/s = B*T / time.
//   decode tgN at batch B: N steps, each one Backend::forward_sample of B
//     sequences x 1 token: the forward pass and the draw of each sequence's next
//     token with the official sampler's defaults (seeded per sequence), on the
//     backend's device (cuda: only the token ids reach the host), the drawn
//     tokens fed to the next step, as generation does; a warm-up pass of
//     min(N, 16) steps per `warmup`, then `repeats` passes of N steps from
//     fresh states. Every step is timed on its own: latency p50/p90 over all
//     steps of all passes; throughput from the median pass time.
//   limits: copy bandwidth and GEMM peak measured on the same device by the
//     target's probes (bench_target.h) unless given.
// Accounting (bench_accounting.h): decode moves the weights once per step plus
// B states read and written; a token costs 2 x layer matrix params FLOPs. Each
// prefill also gets its GEMM/WKV split (PrefillSplit): measured with CUDA events
// where the backend marks the spans, else estimated from counted FLOPs and bytes.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "bench/bench_accounting.h"
#include "bench/bench_target.h"
#include "runtime/model/model.h"

namespace rwkv {
namespace bench {

struct BenchConfig {
  std::vector<int> prefill_tokens = {512, 4096};  // T of each ppT
  std::vector<int> prefill_batches = {1, 4};      // every B x T pair is run
  int decode_steps = 128;                   // N of tgN (0: no decode rows)
  std::vector<int> decode_batches = {1, 2, 4, 8, 16, 32, 64, 128, 256};
  bool greedy = false;                      // decode draws the most likely token (temperature 0), not pip's defaults
  int warmup = 1;
  int repeats = 3;
  // Limits: > 0 given by the user; 0 measured by the probes; < 0 not used.
  double bandwidth_gbs = 0;
  double peak_tflops = 0;
  size_t copy_probe_bytes = size_t(1) << 30;
  int gemm_probe_n = 8192;
  int probe_repeats = 10;
};

// Checks sizes and counts; throws rwkv::Error naming the first bad one.
void validate_config(const BenchConfig& cfg);

struct Limits {
  double bandwidth_gbs = 0;      // 0: unknown
  std::string bandwidth_source;  // "given" or the probe's method
  double gemm_tflops = 0;        // 0: unknown
  std::string gemm_source;
};

// A prefill's split between its GEMMs and its WKV recurrences (per call). The counted part is
// always there: FLOPs and bytes (bench_accounting.h) and each part's floor at the limits, the
// larger of FLOPs / GEMM peak and bytes / bandwidth (0 when both limits are unknown). The measured
// part comes from CUDA events (TargetOptions::profile_prefill) where the backend marks the spans;
// otherwise `source` is "estimated" and the shares are those of the floors.
struct PrefillSplit {
  std::string source;          // "measured (CUDA events)" or "estimated (counted FLOPs and bytes)"
  int rounds = 0;              // rounds per call (B x T rows in rounds of max_rows)
  double gemm_flops = 0, wkv_flops = 0;
  double gemm_bytes = 0, wkv_bytes = 0;
  double gemm_floor_ms = 0, wkv_floor_ms = 0;
  double gemm_ms = -1, wkv_ms = -1, other_ms = -1;  // measured, per call; -1 not measured
  double wkv_pct = 0;          // WKV share of the prefill: measured wkv_ms / call time, or estimated
                               // wkv_floor / (gemm_floor + wkv_floor)
  double gemm_pct_peak = -1;   // measured: the GEMMs' own FLOP rate as % of the GEMM peak; -1 unknown
  // Per call, each kind of launch the backend marks (PrefillTimes::Piece; empty when it marks
  // none): its spans, device time (measured; -1 in the emulated build) and launches, kernels and
  // cuBLAS calls (counted in the emulated build; -1 on a GPU).
  struct Piece {
    std::string name, part;
    double spans = 0, ms = -1, launches = -1;
    double flops = 0, bytes = 0, floor_ms = 0;  // counted (bench_pieces.h) and its floor at the limits
  };
  std::vector<Piece> pieces;
  double profiled_ms = -1;     // measured: the profiled calls' rounds, per call (the split's own calls,
                               // run after the timed ones: their events add host work per launch)
  double gaps_ms = -1;         // measured: round time outside every piece's span, per call
  double round_launches = -1;  // emulated: launches per call in its rounds (kernels, cuBLAS calls)
};

// One measured row. Derived figures are 0 when the limit is unknown.
struct Row {
  std::string test;  // "pp512", "tg128"
  int batch = 0;     // sequences
  int tokens = 0;    // per sequence: T for prefill, N steps for decode
  std::vector<double> ms;  // prefill: each repeat's time; decode: each step's time
  double ms_median = 0;    // prefill: median call; decode: median pass (N steps)
  double p50_ms = 0, p90_ms = 0;  // decode: per-step latency
  double tokens_per_s = 0;        // all sequences together
  double tokens_per_s_per_seq = 0;
  double bytes = 0;               // decode: bytes moved per step (weights + state)
  double weight_bytes = 0, state_bytes = 0;
  double flops = 0;               // per call (prefill) or per step (decode)
  double gbs = 0, pct_bandwidth = 0;
  double tflops = 0, pct_peak = 0;
  double bound_tokens_per_s = 0;  // roofline: the limits allow at most this
  double floor_ms = 0;            // decode: the roofline's least step time (bytes / bandwidth, FLOPs / peak)
  int launches = -1;              // decode: kernel launches per step (GEMMs included); -1 unknown
  PrefillSplit split;             // prefill: GEMM time vs WKV time
};

struct RunResult {
  std::string device_kind, device_name;
  bool emulated = false;
  int threads = 0;
  DType dtype = DType::f32;
  QuantKind quant = QuantKind::none;  // the matrices' kind (int8, q4), or none: dense in dtype
  bool cuda_graphs = false;      // cuda: decode steps replayed from CUDA graphs
  int gemv_max_rows = -1;        // cuda: the GEMV/cuBLAS switch point; -1 not a cuda run
  int wkv_chunk_min_tokens = -1; // cuda: the sequential/chunked WKV switch (0: never chunked); -1 not cuda
  int wkv_carry_split_slots = -1;  // cuda: chunked v7 pass 2's split shape (-1 automatic, 0 never)
  int wkv_split_parts = 0;       // cuda: the chunked WKV's operand parts in use (2 or 3); 0 not cuda
  int max_rows = 0;              // cuda: token rows per round as the backend chose them; 0 not cuda
  bool max_rows_automatic = false;  // cuda: chosen from the free device memory (no --max-rows)
  DType state_dtype = DType::f32;  // of the WKV matrix state in device memory (cuda --state-dtype)
  double weight_bytes = 0;       // held by the backend
  size_t workspace_bytes = 0;
  size_t state_bytes_per_seq = 0;  // in device memory (ModelCost::state_bytes of state_dtype)
  Limits limits;
  std::vector<Row> prefill, decode;
};

using LogFn = std::function<void(const std::string&)>;

// One measured row in a line ("pp512 B=1: 22.130 ms a call, ..."; a prefill's measured split and
// pieces with their floors; a decode's step time and bandwidth share).
std::string row_line(const Row& r);

// Builds the target (states for the largest batch), measures the limits, runs
// every prefill and decode row. `log` (may be empty) hears progress lines, and each row's
// row_line as soon as it is measured: a run cut short (a timeout) keeps its finished figures.
RunResult run_benchmark(const Model& model, const TargetOptions& target, const BenchConfig& cfg,
                        const LogFn& log = {});

}  // namespace bench
}  // namespace rwkv
