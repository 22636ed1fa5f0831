// bench/bench_run.cpp: see bench_run.h.
#include "bench/bench_run.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>

#include "bench/bench_pieces.h"
#include "bench/bench_stats.h"
#include "runtime/sampler/sampler.h"

namespace rwkv {
namespace bench {

namespace {

void check_range(const char* what, long long v, long long lo, long long hi) {
  if (v < lo || v > hi)
    throw Error(std::string("bench: ") + what + " = " + std::to_string(v) + " is outside [" + std::to_string(lo) +
                ", " + std::to_string(hi) + "]");
}

// Fixed pseudo-random token ids in [0, V) for sequence s.
std::vector<int32_t> prompt(int s, int T, int V) {
  std::vector<int32_t> t(static_cast<size_t>(T));
  for (int i = 0; i < T; ++i) t[size_t(i)] = int32_t((uint64_t(i) * 7919u + uint64_t(s) * 104729u + 13u) % uint64_t(V));
  return t;
}

class Runner {
 public:
  Runner(BenchTarget& t, const ModelCost& cost, const BenchConfig& cfg, const Limits& lim, DType state_dtype,
         QuantKind quant)
      : t_(t), cost_(cost), cfg_(cfg), lim_(lim), state_dtype_(state_dtype), quant_(quant) {
    V_ = t_.backend().info().n_vocab;
    S_ = t_.backend().state_layout().size();
  }

  Row prefill(int B, int T) {
    std::vector<std::vector<int32_t>> toks;
    for (int s = 0; s < B; ++s) toks.push_back(prompt(s, T, V_));
    Batch b;
    b.logits = LogitsMode::last;
    for (int s = 0; s < B; ++s) b.seqs.push_back({toks[size_t(s)].data(), size_t(T), t_.state(s), S_});
    std::vector<float> logits(size_t(B) * size_t(V_));
    Row r;
    r.test = "pp" + std::to_string(T);
    r.batch = B;
    r.tokens = T;
    // The timed calls without the profile's events (they add host work to every launch) ...
    const bool profiled = t_.set_prefill_profiling(false);
    for (int rep = 0; rep < cfg_.warmup + cfg_.repeats; ++rep) {
      for (int s = 0; s < B; ++s) t_.reset_state(s);
      t_.mark(0);
      t_.backend().forward(b, logits.data());
      t_.mark(1);
      const double ms = t_.elapsed_ms(0, 1);
      if (rep >= cfg_.warmup) r.ms.push_back(ms);
    }
    // ... then as many calls with them, for the split.
    if (profiled) {
      t_.set_prefill_profiling(true);
      t_.reset_prefill_times();
      for (int rep = 0; rep < cfg_.repeats; ++rep) {
        for (int s = 0; s < B; ++s) t_.reset_state(s);
        t_.backend().forward(b, logits.data());
      }
    }
    r.ms_median = median(r.ms);
    r.tokens_per_s = double(B) * T / (r.ms_median * 1e-3);
    r.tokens_per_s_per_seq = r.tokens_per_s / B;
    r.flops = cost_.prefill_flops(B, T);
    r.tflops = r.flops / (r.ms_median * 1e9);
    if (lim_.gemm_tflops > 0) {
      r.pct_peak = 100.0 * r.tflops / lim_.gemm_tflops;
      r.bound_tokens_per_s = lim_.gemm_tflops * 1e12 / (r.flops / (double(B) * T));
    }
    r.split = split(B, T, r.ms_median);
    return r;
  }

  // The GEMM/WKV split of a ppT at batch B whose call took `call_ms` (bench_run.h, PrefillSplit).
  PrefillSplit split(int B, int T) {
    PrefillSplit s;
    const int R = t_.max_rows() > 0 ? t_.max_rows() : T * B;  // cpu: one call, one "round"
    const int share = std::max(1, R / B);                        // rows per sequence per round
    s.rounds = (T + share - 1) / share;
    const DType dt = t_.compute_dtype();
    s.gemm_flops = cost_.prefill_flops(B, T);
    s.wkv_flops = cost_.prefill_wkv_flops(B, T);
    s.gemm_bytes = cost_.prefill_gemm_bytes(s.rounds, dt);
    s.wkv_bytes = cost_.prefill_wkv_bytes(B, T, s.rounds, dt, state_dtype_);
    s.gemm_floor_ms = floor_ms(s.gemm_flops, s.gemm_bytes);
    s.wkv_floor_ms = floor_ms(s.wkv_flops, s.wkv_bytes);
    return s;
  }
  PrefillSplit split(int B, int T, double call_ms) {
    PrefillSplit s = split(B, T);
    PrefillTimes pt;
    const bool profiled = t_.prefill_times(&pt) && cfg_.repeats > 0;
    if (profiled) add_pieces(pt, B, T, &s);
    // (The emulated build's event times are the CPU emulator's: there the split stays the count.)
    if (!t_.emulated() && profiled && pt.part_spans("gemm") > 0 && pt.part_spans("wkv") > 0) {
      s.source = "measured (CUDA events)";
      s.gemm_ms = pt.part_ms("gemm") / cfg_.repeats;
      s.wkv_ms = pt.part_ms("wkv") / cfg_.repeats;
      s.other_ms = std::max(0.0, pt.round_ms / cfg_.repeats - s.gemm_ms - s.wkv_ms);
      s.wkv_pct = call_ms > 0 ? 100.0 * s.wkv_ms / call_ms : 0;
      if (lim_.gemm_tflops > 0 && s.gemm_ms > 0)
        s.gemm_pct_peak = 100.0 * s.gemm_flops / (s.gemm_ms * 1e9) / lim_.gemm_tflops;
      return s;
    }
    s.source = "estimated (counted FLOPs and bytes)";
    const double floors = s.gemm_floor_ms + s.wkv_floor_ms;
    s.wkv_pct = floors > 0 ? 100.0 * s.wkv_floor_ms / floors : 0;
    return s;
  }

  // The profiled pieces per call: device times on a GPU (the emulator's are CPU times: left out),
  // launch counts in the emulated build.
  void add_pieces(const PrefillTimes& pt, int B, int T, PrefillSplit* s) const {
    const double calls = cfg_.repeats;
    const bool timed = !t_.emulated();
    double pieces_ms = 0;
    for (const PrefillTimes::Piece& q : pt.pieces) {
      if (q.spans == 0) continue;
      PrefillSplit::Piece p;
      p.name = q.name;
      p.part = q.part;
      p.spans = double(q.spans) / calls;
      if (timed) p.ms = q.ms / calls;
      if (pt.launches_counted) p.launches = double(q.launches) / calls;
      const PieceCost cost = prefill_piece_cost(cost_, q.name, B, T, s->rounds, t_.compute_dtype(), state_dtype_);
      p.flops = cost.flops;
      p.bytes = cost.bytes;
      p.floor_ms = floor_ms(cost.flops, cost.bytes);
      pieces_ms += q.ms;
      s->pieces.push_back(p);
    }
    if (timed) s->profiled_ms = pt.round_ms / calls;
    if (timed && !s->pieces.empty()) s->gaps_ms = std::max(0.0, (pt.round_ms - pieces_ms) / calls);
    if (pt.launches_counted) s->round_launches = double(pt.round_launches) / calls;
  }

  // The least time of `flops` and `bytes` at the limits (0 when both are unknown).
  double floor_ms(double flops, double bytes) const {
    double ms = 0;
    if (lim_.gemm_tflops > 0) ms = std::max(ms, flops / (lim_.gemm_tflops * 1e9));
    if (lim_.bandwidth_gbs > 0) ms = std::max(ms, bytes / (lim_.bandwidth_gbs * 1e6));
    return ms;
  }

  Row decode(int B, int N) {
    std::vector<int32_t> next(static_cast<size_t>(B)), drawn(static_cast<size_t>(B));
    Batch b;
    b.logits = LogitsMode::last;
    for (int s = 0; s < B; ++s) b.seqs.push_back({&next[size_t(s)], 1, t_.state(s), S_});
    // One sampler per sequence (pip's defaults, its own seed); the drawn tokens feed the next step.
    std::vector<Sampler> samplers;
    for (int s = 0; s < B; ++s) {
      SamplerParams p;
      p.seed = uint64_t(s) + 1;
      if (cfg_.greedy) p.temperature = 0;
      samplers.emplace_back(p);
    }
    std::vector<Sampler*> sampler_ptrs;
    for (Sampler& s : samplers) sampler_ptrs.push_back(&s);
    auto first_tokens = [&] {
      for (int s = 0; s < B; ++s) next[size_t(s)] = int32_t((uint64_t(s) * 17u + 1u) % uint64_t(V_));
    };
    auto step = [&](int) {
      t_.backend().forward_sample(b, sampler_ptrs.data(), drawn.data());
      next = drawn;
    };
    first_tokens();
    for (int s = 0; s < B; ++s) t_.reset_state(s);
    for (int w = 0; w < cfg_.warmup; ++w)
      for (int i = 0; i < std::min(N, 16); ++i) step(i);
    Row r;
    r.test = "tg" + std::to_string(N);
    r.batch = B;
    r.tokens = N;
    std::vector<double> passes;
    t_.reserve_marks(N + 1);
    for (int rep = 0; rep < cfg_.repeats; ++rep) {
      for (int s = 0; s < B; ++s) t_.reset_state(s);
      first_tokens();
      t_.mark(0);
      for (int i = 0; i < N; ++i) {
        step(i);
        t_.mark(i + 1);
      }
      for (int i = 0; i < N; ++i) r.ms.push_back(t_.elapsed_ms(i, i + 1));
      passes.push_back(t_.elapsed_ms(0, N));
    }
    t_.backend().finish_sampling(sampler_ptrs.data(), sampler_ptrs.size());
    r.ms_median = median(passes);
    r.p50_ms = quantile(r.ms, 0.5);
    r.p90_ms = quantile(r.ms, 0.9);
    const double step_ms = r.ms_median / N;
    r.tokens_per_s = double(B) / (step_ms * 1e-3);
    r.tokens_per_s_per_seq = 1.0 / (step_ms * 1e-3);
    const DType dt = t_.compute_dtype();
    // Quantized matrices: the bytes the backend holds (packed values and scales, exactly), less the
    // embedding table but the B rows a step gathers.
    const double held = double(t_.weight_bytes_held());
    r.weight_bytes = quant_ != QuantKind::none && held > 0 ? cost_.decode_weight_bytes_held(held, dt, B)
                                                           : cost_.decode_weight_bytes(dt, B);
    r.state_bytes = cost_.decode_state_bytes(B, state_dtype_);
    r.bytes = r.weight_bytes + r.state_bytes;
    r.flops = cost_.prefill_flops(B, 1);
    r.gbs = r.bytes / (step_ms * 1e6);
    r.tflops = r.flops / (step_ms * 1e9);
    // Roofline: a step takes at least bytes / bandwidth and flops / peak.
    double bound_ms = 0;
    if (lim_.bandwidth_gbs > 0) {
      r.pct_bandwidth = 100.0 * r.gbs / lim_.bandwidth_gbs;
      bound_ms = std::max(bound_ms, r.bytes / (lim_.bandwidth_gbs * 1e6));
    }
    if (lim_.gemm_tflops > 0) {
      r.pct_peak = 100.0 * r.tflops / lim_.gemm_tflops;
      bound_ms = std::max(bound_ms, r.flops / (lim_.gemm_tflops * 1e9));
    }
    if (bound_ms > 0) r.bound_tokens_per_s = double(B) / (bound_ms * 1e-3);
    r.floor_ms = bound_ms;
    r.launches = t_.decode_launches(B);
    return r;
  }

 private:
  BenchTarget& t_;
  const ModelCost& cost_;
  const BenchConfig& cfg_;
  const Limits& lim_;
  DType state_dtype_;  // of the WKV matrix state in device memory
  QuantKind quant_;
  int V_ = 0;
  size_t S_ = 0;
};

}  // namespace

void validate_config(const BenchConfig& c) {
  if (c.prefill_tokens.empty() != c.prefill_batches.empty())
    throw Error("bench: prefill needs both token counts and batch sizes (or neither)");
  for (int t : c.prefill_tokens) check_range("prefill tokens", t, 1, 1 << 20);
  for (int b : c.prefill_batches) check_range("prefill batch", b, 1, 4096);
  for (int t : c.prefill_tokens)
    for (int b : c.prefill_batches) check_range("prefill tokens x batch", (long long)t * b, 1, 1 << 24);
  check_range("decode steps", c.decode_steps, 0, 1 << 20);
  if (c.decode_steps > 0 && c.decode_batches.empty()) throw Error("bench: decode needs at least one batch size");
  for (int b : c.decode_batches) check_range("decode batch", b, 1, 4096);
  check_range("warm-up runs", c.warmup, 0, 100);
  check_range("repeats", c.repeats, 1, 1000);
  check_range("probe repeats", c.probe_repeats, 1, 1000);
  check_range("GEMM probe size", c.gemm_probe_n, 16, 32768);
  if (c.copy_probe_bytes < 4096 || c.copy_probe_bytes > (size_t(64) << 30))
    throw Error("bench: copy probe size must be between 4 KiB and 64 GiB");
}

std::string row_line(const Row& r) {
  char b[256];
  if (r.test.rfind("pp", 0) == 0) {
    std::snprintf(b, sizeof b, "%s B=%d: %.3f ms a call, %.0f tok/s, %.1f %% of the GEMM peak", r.test.c_str(),
                  r.batch, r.ms_median, r.tokens_per_s, r.pct_peak);
    std::string s = b;
    const PrefillSplit& sp = r.split;
    if (sp.gemm_ms >= 0) {
      std::snprintf(b, sizeof b, "; GEMM %.3f ms, WKV %.3f ms, other %.3f ms", sp.gemm_ms, sp.wkv_ms, sp.other_ms);
      s += b;
    }
    for (const PrefillSplit::Piece& p : sp.pieces)
      if (p.ms >= 0) {
        std::snprintf(b, sizeof b, "; %s %.3f ms (floor %.3f)", p.name.c_str(), p.ms, p.floor_ms);
        s += b;
      }
    return s;
  }
  std::snprintf(b, sizeof b, "%s B=%d: %.1f tok/s, p50 %.3f ms a step (floor %.3f), %.1f %% of the bandwidth",
                r.test.c_str(), r.batch, r.tokens_per_s, r.p50_ms, r.floor_ms, r.pct_bandwidth);
  return b;
}

RunResult run_benchmark(const Model& model, const TargetOptions& target, const BenchConfig& cfg,
                        const LogFn& log) {
  validate_config(cfg);
  auto say = [&](const std::string& s) {
    if (log) log(s);
  };
  TargetOptions opt = target;
  opt.n_states = 1;
  for (int b : cfg.prefill_batches) opt.n_states = std::max(opt.n_states, b);
  if (cfg.decode_steps > 0)
    for (int b : cfg.decode_batches) opt.n_states = std::max(opt.n_states, b);
  say("loading the model onto " + opt.device + " in " + dtype_name(opt.dtype) +
      (opt.quant != QuantKind::none ? std::string(", matrices ") + quant_kind_name(opt.quant) : std::string()) +
      (opt.wkv_carry_split_slots == 0 ? " (v7 pass 2 never split)" : "") +
      (opt.wkv_split_parts != 0 ? " (chunked WKV on " + std::to_string(opt.wkv_split_parts) + "-part operands)" : ""));
  std::unique_ptr<BenchTarget> t = make_target(model, opt);
  if (!t->engine().device_note().empty()) say(t->engine().device_note());
  const ModelCost cost = model_cost(model);

  RunResult res;
  res.device_kind = t->device_kind();
  res.device_name = t->device_name();
  res.emulated = t->emulated();
  res.threads = t->threads();
  res.dtype = t->compute_dtype();
  res.quant = opt.quant;
  if (res.device_kind == "cuda") {
    res.cuda_graphs = opt.cuda_graphs;
    res.gemv_max_rows = opt.gemv_max_rows;
    res.wkv_chunk_min_tokens = opt.wkv_chunk_min_tokens;
    res.wkv_carry_split_slots = opt.wkv_carry_split_slots;
    res.wkv_split_parts = t->wkv_split_parts();
    res.max_rows = t->max_rows();
    res.max_rows_automatic = t->max_rows_automatic();
    say("token rows per round: " + std::to_string(res.max_rows) +
        (res.max_rows_automatic ? " (automatic, from the free device memory)" : " (--max-rows)"));
  }
  res.weight_bytes = t->weight_bytes_held() ? double(t->weight_bytes_held()) : cost.weight_bytes(res.dtype);
  res.workspace_bytes = t->workspace_bytes();
  res.state_dtype = opt.state_dtype;
  res.state_bytes_per_seq = size_t(cost.state_bytes(opt.state_dtype));

  Limits& lim = res.limits;
  if (cfg.bandwidth_gbs > 0) {
    lim.bandwidth_gbs = cfg.bandwidth_gbs;
    lim.bandwidth_source = "given (--bandwidth-gbs)";
  } else if (cfg.bandwidth_gbs == 0) {
    say("measuring copy bandwidth");
    lim.bandwidth_gbs = t->measure_copy_gbs(cfg.copy_probe_bytes, cfg.probe_repeats);
    lim.bandwidth_source = "measured: " + t->copy_method() + ", " + std::to_string(cfg.copy_probe_bytes >> 20) +
                           " MiB, read + write counted";
  }
  if (cfg.peak_tflops > 0) {
    lim.gemm_tflops = cfg.peak_tflops;
    lim.gemm_source = "given (--peak-tflops)";
  } else if (cfg.peak_tflops == 0) {
    say("measuring GEMM peak");
    lim.gemm_tflops = t->measure_gemm_tflops(cfg.gemm_probe_n, cfg.probe_repeats);
    const std::string n = std::to_string(cfg.gemm_probe_n);
    lim.gemm_source = "measured: " + t->gemm_method() + ", " + n + "x" + n + "x" + n;
  }

  Runner run(*t, cost, cfg, lim, res.state_dtype, res.quant);
  for (int T : cfg.prefill_tokens)
    for (int B : cfg.prefill_batches) {
      say("prefill pp" + std::to_string(T) + " B=" + std::to_string(B));
      res.prefill.push_back(run.prefill(B, T));
      say(row_line(res.prefill.back()));
    }
  if (cfg.decode_steps > 0)
    for (int B : cfg.decode_batches) {
      say("decode tg" + std::to_string(cfg.decode_steps) + " B=" + std::to_string(B));
      res.decode.push_back(run.decode(B, cfg.decode_steps));
      say(row_line(res.decode.back()));
    }
  return res;
}

}  // namespace bench
}  // namespace rwkv
