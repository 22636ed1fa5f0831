// tests/runtime/bench_json_checks.h: checks of a `rwkv-run bench` JSON report
// (bench/bench_report.h) against the model and settings it was run
// with: every field present, and each derived figure consistent with the
// figures it is derived from (the tool's correctness, never its speed).
#pragma once
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "runtime/backend/state_layout.h"
#include "bench/bench_run.h"
#include "runtime/core/json.h"
#include "runtime/model/model.h"

namespace bench_test {

// Numbers are written with 9 significant digits; derived figures recomputed
// here from written inputs agree to that precision.
inline void check_close(double got, double want) {
  CHECK(std::fabs(got - want) <= 1e-7 * std::max(1.0, std::fabs(want)));
}

inline double num(const rwkv::Json& o, const char* key) {
  const rwkv::Json& v = o.at(key);
  REQUIRE(v.is_number());
  return v.get<double>();
}

inline std::string str(const rwkv::Json& o, const char* key) {
  const rwkv::Json& v = o.at(key);
  REQUIRE(v.is_string());
  return v.get<std::string>();
}

inline std::vector<int> ints(const rwkv::Json& a) { return a.get<std::vector<int>>(); }

// The report's "model" object against `model`; returns the state's float count.
inline size_t check_model(const rwkv::Json& m, const rwkv::Model& model) {
  const rwkv::ModelInfo& mi = model.info;
  CHECK(str(m, "arch") == rwkv::arch_name(mi.arch));
  CHECK(num(m, "n_embd") == mi.n_embd);
  CHECK(num(m, "n_layer") == mi.n_layer);
  CHECK(num(m, "n_vocab") == mi.n_vocab);
  CHECK(num(m, "n_ffn") == mi.n_ffn);
  CHECK(num(m, "n_head") == mi.n_head);
  CHECK(num(m, "head_size") == mi.head_size);
  int64_t params = 0;
  for (const auto& kv : model.tensors()) params += kv.second.numel();
  CHECK(num(m, "params") == double(params));
  const size_t state_floats = rwkv::StateLayout(mi).size();
  CHECK(num(m, "state_floats") == double(state_floats));
  if (mi.arch == rwkv::Arch::v7) CHECK(num(m.at("lora"), "g") == mi.lora_g);
  return state_floats;
}

// WKV FLOPs per token and layer from the recurrences of docs/rwkv-math.md (a multiply-add is 2):
// v4 16 per channel; v5/v6 per state element k v^T 1, r . (u kv + S) 4, S = w S + kv 2;
// v7 per state element S a 2, S diag(w) + (S a) b^T + v k^T 5, S r 2.
inline double wkv_flops_per_token_layer(const rwkv::ModelInfo& mi) {
  const double A = mi.n_att > 0 ? mi.n_att : mi.n_embd;
  if (mi.arch == rwkv::Arch::v4) return 16 * A;
  const double per_element = mi.arch == rwkv::Arch::v7 ? 9 : 7;
  return per_element * double(mi.n_head) * double(mi.head_size) * double(mi.head_size);
}

// A split's pieces (bench_run.h, PrefillSplit::pieces; none where nothing was profiled): times
// on a GPU, launch counts in the emulated build. A one-round call of `rows` rows on the cuBLAS path
// has every launch inside a piece's span (the decode path's launches are not marked).
inline void check_pieces(const rwkv::Json& s, const rwkv::Json& run, const rwkv::Json& lim, bool measured, int rows) {
  const rwkv::Json& pieces = s.at("pieces");
  const bool have_peak = lim.at("gemm_tflops").is_number(), have_bw = lim.at("bandwidth_gbs").is_number();
  double launches = 0, gemm_flops = 0;
  bool gemm_pieces = false;
  for (const rwkv::Json& q : pieces) {
    const std::string part = str(q, "part");
    CHECK((part == "gemm" || part == "wkv" || part == "other"));
    CHECK(num(q, "spans") > 0);
    CHECK(num(q, "bytes") > 0);
    // The GEMM pieces split the prefill's GEMM FLOPs (bench_pieces.h against bench_accounting.h);
    // a whole WKV piece is the split's WKV count.
    if (part == "gemm") gemm_flops += num(q, "flops"), gemm_pieces = true;
    if (str(q, "name") == "wkv") check_close(num(q, "flops"), num(s, "wkv_flops"));
    if (have_peak || have_bw) {
      double floor = 0;
      if (have_peak) floor = std::max(floor, num(q, "flops") / (num(lim, "gemm_tflops") * 1e9));
      if (have_bw) floor = std::max(floor, num(q, "bytes") / (num(lim, "bandwidth_gbs") * 1e6));
      check_close(num(q, "floor_ms"), floor);
    } else {
      CHECK(q.at("floor_ms").is_null());
    }
    if (measured) {
      CHECK(num(q, "ms") >= 0);
      CHECK(q.at("launches").is_null());
    } else {
      CHECK(q.at("ms").is_null());
    }
    if (q.at("launches").is_number()) launches += num(q, "launches");
  }
  if (gemm_pieces) check_close(gemm_flops, num(s, "gemm_flops"));
  if (measured && !pieces.empty()) CHECK(num(s, "gaps_ms") >= 0);
  if (measured) CHECK(num(s, "profiled_ms") >= 0);
  if (!s.at("round_launches").is_number()) return;
  CHECK(launches <= num(s, "round_launches"));
  const bool one_round = !run.contains("max_rows") || rows <= num(run, "max_rows");
  if (one_round && run.contains("gemv_max_rows") && rows > num(run, "gemv_max_rows"))
    check_close(launches, num(s, "round_launches"));
}

// A prefill row's "split" (bench_run.h, PrefillSplit) for B x T on a run with `run`'s settings.
inline void check_split(const rwkv::Json& p, const rwkv::Json& run, const rwkv::Json& lim, const rwkv::ModelInfo& mi,
                        int B, int T) {
  const rwkv::Json& s = p.at("split");
  const std::string source = str(s, "source");
  const bool measured = source.rfind("measured", 0) == 0;
  CHECK((measured || source.rfind("estimated", 0) == 0));
  // cpu: one call is one round; cuda: each round gives each sequence max_rows / B rows.
  const int R = run.contains("max_rows") ? int(num(run, "max_rows")) : B * T;
  const int share = std::max(1, R / B);
  CHECK(num(s, "rounds") == (T + share - 1) / share);
  check_close(num(s, "gemm_flops"), num(p, "flops"));
  check_close(num(s, "wkv_flops"), wkv_flops_per_token_layer(mi) * B * T * mi.n_layer);
  CHECK(num(s, "gemm_bytes") > 0);
  CHECK(num(s, "wkv_bytes") > 0);
  const bool have_peak = lim.at("gemm_tflops").is_number(), have_bw = lim.at("bandwidth_gbs").is_number();
  if (have_peak || have_bw) {
    auto floor_ms = [&](const char* flops, const char* bytes) {
      double ms = 0;
      if (have_peak) ms = std::max(ms, num(s, flops) / (num(lim, "gemm_tflops") * 1e9));
      if (have_bw) ms = std::max(ms, num(s, bytes) / (num(lim, "bandwidth_gbs") * 1e6));
      return ms;
    };
    check_close(num(s, "gemm_floor_ms"), floor_ms("gemm_flops", "gemm_bytes"));
    check_close(num(s, "wkv_floor_ms"), floor_ms("wkv_flops", "wkv_bytes"));
  } else {
    CHECK(s.at("gemm_floor_ms").is_null());
    CHECK(s.at("wkv_floor_ms").is_null());
  }
  check_pieces(s, run, lim, measured, B * T);
  if (measured) {
    check_close(num(s, "wkv_pct"), 100 * num(s, "wkv_ms") / num(p, "ms_median"));
    CHECK(num(s, "other_ms") >= 0);
  } else {
    CHECK(s.at("gemm_ms").is_null());
    CHECK(s.at("wkv_ms").is_null());
    CHECK(s.at("gemm_pct_peak").is_null());
    if (have_peak || have_bw) {
      const double floors = num(s, "gemm_floor_ms") + num(s, "wkv_floor_ms");
      check_close(num(s, "wkv_pct"), 100 * num(s, "wkv_floor_ms") / floors);
    }
  }
}

// A run's prefill rows: one per (T, B), T outer. `lim` is the run's "limits".
inline void check_prefill(const rwkv::Json& run, const rwkv::Json& lim, const rwkv::bench::BenchConfig& cfg,
                          bool have_peak, const rwkv::ModelInfo& mi) {
  const rwkv::Json& pre = run.at("prefill");
  REQUIRE(pre.size() == cfg.prefill_tokens.size() * cfg.prefill_batches.size());
  size_t i = 0;
  for (int T : cfg.prefill_tokens)
    for (int B : cfg.prefill_batches) {
      const rwkv::Json& p = pre[i++];
      CHECK(str(p, "test") == "pp" + std::to_string(T));
      CHECK(num(p, "batch") == B);
      CHECK(num(p, "tokens_per_seq") == T);
      CHECK(p.at("ms_samples").size() == size_t(cfg.repeats));
      const double ms = num(p, "ms_median");
      REQUIRE(ms > 0);
      check_close(num(p, "tokens_per_s"), B * T / (ms / 1000));
      check_close(num(p, "tokens_per_s_per_seq") * B, num(p, "tokens_per_s"));
      check_close(num(p, "flops_per_token") * B * T, num(p, "flops"));
      check_close(num(p, "tflops"), num(p, "flops") / (ms * 1e9));
      if (have_peak) check_close(num(p, "pct_peak"), 100 * num(p, "tflops") / num(lim, "gemm_tflops"));
      check_split(p, run, lim, mi, B, T);
    }
}

// A run's decode rows: one per B. `lim` is the run's "limits".
inline void check_decode(const rwkv::Json& run, const rwkv::Json& lim, const rwkv::bench::BenchConfig& cfg,
                         size_t state_floats, bool have_bw) {
  const rwkv::Json& dec = run.at("decode");
  REQUIRE(dec.size() == (cfg.decode_steps > 0 ? cfg.decode_batches.size() : 0));
  for (size_t j = 0; j < dec.size(); ++j) {
    const rwkv::Json& d = dec[j];
    const int B = cfg.decode_batches[j], N = cfg.decode_steps;
    CHECK(str(d, "test") == "tg" + std::to_string(N));
    CHECK(num(d, "batch") == B);
    CHECK(num(d, "steps") == N);
    const double pass_ms = num(d, "ms_median_pass");
    REQUIRE(pass_ms > 0);
    CHECK(num(d, "latency_ms_p50") > 0);
    CHECK(num(d, "latency_ms_p50") <= num(d, "latency_ms_p90"));
    check_close(num(d, "tokens_per_s"), B * N / (pass_ms / 1000));
    check_close(num(d, "tokens_per_s_per_seq") * B, num(d, "tokens_per_s"));
    // State: B sequences, read and written, fp32.
    CHECK(num(d, "state_bytes_per_step") == double(B) * double(state_floats) * 4 * 2);
    check_close(num(d, "bytes_per_step"), num(d, "weight_bytes_per_step") + num(d, "state_bytes_per_step"));
    CHECK(num(d, "weight_bytes_per_step") < num(run, "weight_bytes"));  // the embedding table is not read
    check_close(num(d, "gbs"), num(d, "bytes_per_step") / (pass_ms / N * 1e6));
    if (have_bw) check_close(num(d, "pct_bandwidth"), 100 * num(d, "gbs") / num(lim, "bandwidth_gbs"));
  }
}

// One entry of "runs", for `dtype`.
inline void check_run(const rwkv::Json& run, const rwkv::bench::BenchConfig& cfg, rwkv::DType dtype,
                      size_t state_floats, bool limits_known, const rwkv::ModelInfo& mi) {
  CHECK(str(run, "dtype") == rwkv::dtype_name(dtype));
  CHECK(num(run, "weight_bytes") > 0);
  CHECK(str(run, "state_dtype") == "fp32");  // the default
  CHECK(num(run, "state_bytes_per_seq") == double(state_floats * 4));
  const rwkv::Json& lim = run.at("limits");
  const bool have_bw = lim.at("bandwidth_gbs").is_number();
  const bool have_peak = lim.at("gemm_tflops").is_number();
  CHECK(have_bw == limits_known);
  CHECK(have_peak == limits_known);
  CHECK(!str(lim, "bandwidth_source").empty());
  check_prefill(run, lim, cfg, have_peak, mi);
  check_decode(run, lim, cfg, state_floats, have_bw);
}

// `json` is the report of `model` run with `cfg` in `dtypes` on `device_kind`.
// `limits_known`: the bandwidth and peak were measured or given (not skipped).
inline void check_report(const std::string& json, const rwkv::Model& model, const rwkv::bench::BenchConfig& cfg,
                         const std::vector<rwkv::DType>& dtypes, const std::string& device_kind,
                         bool limits_known) {
  const rwkv::Json r = rwkv::parse_json(json, "bench report");
  CHECK(str(r, "tool") == "rwkv-run bench");
  CHECK(!str(r, "version").empty());
  CHECK(!str(r, "commit").empty());
  CHECK(str(r.at("device"), "kind") == device_kind);
  CHECK(!str(r.at("device"), "name").empty());
  CHECK(r.at("device").at("emulated").is_boolean());

  const size_t state_floats = check_model(r.at("model"), model);

  const rwkv::Json& s = r.at("settings");
  CHECK(ints(s.at("prefill_tokens")) == cfg.prefill_tokens);
  CHECK(ints(s.at("prefill_batches")) == cfg.prefill_batches);
  CHECK(num(s, "decode_steps") == cfg.decode_steps);
  CHECK(s.at("greedy").get<bool>() == cfg.greedy);
  CHECK(num(s, "repeats") == cfg.repeats);

  const rwkv::Json& runs = r.at("runs");
  REQUIRE(runs.size() == dtypes.size());
  for (size_t k = 0; k < dtypes.size(); ++k) {
    INFO("run " << k);
    check_run(runs[k], cfg, dtypes[k], state_floats, limits_known, model.info);
  }
}

}  // namespace bench_test
