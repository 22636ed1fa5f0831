// bench/bench_report.cpp: see bench_report.h.
#include "bench/bench_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "runtime/arch/arch.h"
#include "runtime/core/json.h"

namespace rwkv {
namespace bench {

namespace {

// ---- JSON (nlohmann-json, runtime/core/json.h) ---------------------------------

// A figure: whole numbers as integers, others as doubles, non-finite as null.
Json number(double v) {
  if (!std::isfinite(v)) return nullptr;
  if (v == std::floor(v) && std::fabs(v) < 1e15) return int64_t(v);
  return v;
}
// A figure that needs a limit: null when the limit is unknown.
Json limited(double v, double limit) { return limit > 0 ? number(v) : Json(nullptr); }

template <class T>
Json numbers(const std::vector<T>& v) {
  Json a = Json::array();
  for (const T& x : v) a.push_back(number(double(x)));
  return a;
}

Json lora_json(const ModelInfo& m) {
  const auto widths = arch_spec(m.arch).lora_widths(m);
  if (widths.empty()) return nullptr;
  Json j = Json::object();
  for (const auto& w : widths) j[w.name] = w.width;
  return j;
}

Json model_json(const ReportInfo& info, const Model& model) {
  const ModelInfo& m = model.info;
  const ModelCost cost = model_cost(model);
  return {{"source", info.model_source},
          {"format", m.format},
          {"arch", arch_name(m.arch)},
          {"n_embd", m.n_embd},
          {"n_layer", m.n_layer},
          {"n_vocab", m.n_vocab},
          {"n_head", m.n_head},
          {"head_size", m.head_size},
          {"n_att", m.n_att},
          {"n_ffn", m.n_ffn},
          {"lora", lora_json(m)},
          {"params", number(double(cost.params))},
          {"matrix_params", number(double(cost.matrix_params))},
          {"layer_matrix_params", number(double(cost.layer_matrix_params))},
          {"state_floats", number(double(cost.state_floats))}};
}

Json settings_json(const BenchConfig& cfg) {
  return {{"warmup", cfg.warmup},
          {"repeats", cfg.repeats},
          {"prefill_tokens", numbers(cfg.prefill_tokens)},
          {"prefill_batches", numbers(cfg.prefill_batches)},
          {"decode_steps", cfg.decode_steps},
          {"greedy", cfg.greedy},
          {"decode_batches", numbers(cfg.decode_steps > 0 ? cfg.decode_batches : std::vector<int>{})}};
}

// The split's pieces, per call: times null in the emulated build, launches null on a GPU.
Json pieces_json(const PrefillSplit& s, const Limits& L) {
  const double any_limit = std::max(L.bandwidth_gbs, L.gemm_tflops);
  Json a = Json::array();
  for (const PrefillSplit::Piece& p : s.pieces)
    a.push_back({{"name", p.name},
                 {"part", p.part},
                 {"spans", number(p.spans)},
                 {"ms", p.ms >= 0 ? number(p.ms) : Json(nullptr)},
                 {"launches", p.launches >= 0 ? number(p.launches) : Json(nullptr)},
                 {"flops", number(p.flops)},
                 {"bytes", number(p.bytes)},
                 {"floor_ms", limited(p.floor_ms, any_limit)}});
  return a;
}

// A prefill's GEMM/WKV split (bench_run.h, PrefillSplit): floors are null when no limit is known,
// measured times null when not measured.
Json split_json(const PrefillSplit& s, const Limits& L) {
  const double any_limit = std::max(L.bandwidth_gbs, L.gemm_tflops);
  auto measured = [](double v) { return v >= 0 ? number(v) : Json(nullptr); };
  return {{"source", s.source},
          {"rounds", s.rounds},
          {"gemm_flops", number(s.gemm_flops)},
          {"wkv_flops", number(s.wkv_flops)},
          {"gemm_bytes", number(s.gemm_bytes)},
          {"wkv_bytes", number(s.wkv_bytes)},
          {"gemm_floor_ms", limited(s.gemm_floor_ms, any_limit)},
          {"wkv_floor_ms", limited(s.wkv_floor_ms, any_limit)},
          {"gemm_ms", measured(s.gemm_ms)},
          {"wkv_ms", measured(s.wkv_ms)},
          {"other_ms", measured(s.other_ms)},
          {"wkv_pct", number(s.wkv_pct)},
          {"gemm_pct_peak", s.gemm_pct_peak >= 0 ? number(s.gemm_pct_peak) : Json(nullptr)},
          {"pieces", pieces_json(s, L)},
          {"profiled_ms", measured(s.profiled_ms)},
          {"gaps_ms", measured(s.gaps_ms)},
          {"round_launches", measured(s.round_launches)}};
}

Json prefill_json(const Row& p, const Limits& L) {
  return {{"test", p.test},
          {"batch", p.batch},
          {"tokens_per_seq", p.tokens},
          {"ms_median", number(p.ms_median)},
          {"ms_samples", numbers(p.ms)},
          {"tokens_per_s", number(p.tokens_per_s)},
          {"tokens_per_s_per_seq", number(p.tokens_per_s_per_seq)},
          {"flops", number(p.flops)},
          {"flops_per_token", number(p.flops / (double(p.batch) * p.tokens))},
          {"tflops", number(p.tflops)},
          {"pct_peak", limited(p.pct_peak, L.gemm_tflops)},
          {"bound_tokens_per_s", limited(p.bound_tokens_per_s, L.gemm_tflops)},
          {"split", split_json(p.split, L)}};
}

Json decode_json(const Row& d, const Limits& L) {
  return {{"test", d.test},
          {"batch", d.batch},
          {"steps", d.tokens},
          {"ms_median_pass", number(d.ms_median)},
          {"latency_ms_p50", number(d.p50_ms)},
          {"latency_ms_p90", number(d.p90_ms)},
          {"tokens_per_s", number(d.tokens_per_s)},
          {"tokens_per_s_per_seq", number(d.tokens_per_s_per_seq)},
          {"bytes_per_step", number(d.bytes)},
          {"weight_bytes_per_step", number(d.weight_bytes)},
          {"state_bytes_per_step", number(d.state_bytes)},
          {"flops_per_step", number(d.flops)},
          {"gbs", number(d.gbs)},
          {"pct_bandwidth", limited(d.pct_bandwidth, L.bandwidth_gbs)},
          {"tflops", number(d.tflops)},
          {"pct_peak", limited(d.pct_peak, L.gemm_tflops)},
          {"bound_tokens_per_s", limited(d.bound_tokens_per_s, std::max(L.bandwidth_gbs, L.gemm_tflops))},
          {"floor_ms_per_step", limited(d.floor_ms, std::max(L.bandwidth_gbs, L.gemm_tflops))},
          {"launches_per_step", d.launches >= 0 ? Json(d.launches) : Json(nullptr)}};
}

Json run_json(const RunResult& r) {
  const Limits& L = r.limits;
  Json pre = Json::array(), dec = Json::array();
  for (const Row& p : r.prefill) pre.push_back(prefill_json(p, L));
  for (const Row& d : r.decode) dec.push_back(decode_json(d, L));
  const Json limits = {{"bandwidth_gbs", limited(L.bandwidth_gbs, L.bandwidth_gbs)},
                       {"bandwidth_source", L.bandwidth_source.empty() ? "not used" : L.bandwidth_source},
                       {"gemm_tflops", limited(L.gemm_tflops, L.gemm_tflops)},
                       {"gemm_source", L.gemm_source.empty() ? "not used" : L.gemm_source}};
  Json out = {{"dtype", dtype_name(r.dtype)},
          {"weight_bytes", number(r.weight_bytes)},
          {"workspace_bytes", number(double(r.workspace_bytes))},
          {"state_dtype", dtype_name(r.state_dtype)},
          {"state_bytes_per_seq", number(double(r.state_bytes_per_seq))},
          {"limits", limits},
          {"prefill", pre},
          {"decode", dec}};
  if (r.quant != QuantKind::none) out["quant"] = quant_kind_name(r.quant);  // matrices; dtype: the rest
  if (r.gemv_max_rows >= 0) {
    out["cuda_graphs"] = r.cuda_graphs;
    out["gemv_max_rows"] = r.gemv_max_rows;
    out["wkv_chunk_min_tokens"] = r.wkv_chunk_min_tokens;
    out["wkv_carry_split"] = r.wkv_carry_split_slots == 0 ? "off" : "auto";
    out["wkv_split_parts"] = r.wkv_split_parts;
    out["max_rows"] = r.max_rows;
    out["max_rows_automatic"] = r.max_rows_automatic;
  }
  return out;
}

// ---- text ---------------------------------------------------------------------

// The run's weights: the dtype, or the quantized kind with the dense dtype of the rest.
std::string run_label(const RunResult& r) {
  if (r.quant == QuantKind::none) return dtype_name(r.dtype);
  return std::string(quant_kind_name(r.quant)) + " (matrices; embedding and activations " + dtype_name(r.dtype) + ")";
}

std::string fmt(const char* f, double v) {
  if (!std::isfinite(v)) return "-";
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}
std::string bytes_text(double b) {
  if (b >= 1e9) return fmt("%.2f GB", b / 1e9);
  if (b >= 1e6) return fmt("%.1f MB", b / 1e6);
  return fmt("%.1f kB", b / 1e3);
}
std::string count_text(double n) {
  if (n >= 1e9) return fmt("%.2f G", n / 1e9);
  if (n >= 1e6) return fmt("%.1f M", n / 1e6);
  return fmt("%.1f k", n / 1e3);
}
std::string rate_text(double v) {  // tokens/s
  if (v >= 1000) return fmt("%.0f", v);
  if (v >= 10) return fmt("%.1f", v);
  return fmt("%.2f", v);
}
// A share of a limit; above 100% it is starred: the limits are measured or given estimates (see the
// note under "how to read it"), so a step can beat one.
std::string pct_text(double v, double limit) { return limit > 0 ? fmt(v > 100.0 ? "%.1f*" : "%.1f", v) : "-"; }

// A markdown-style table with right-aligned columns.
class Table {
 public:
  explicit Table(std::vector<std::string> head) { rows_.push_back(std::move(head)); }
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  std::string text() const {
    std::vector<size_t> w(rows_[0].size(), 0);
    for (const auto& r : rows_)
      for (size_t i = 0; i < r.size(); ++i) w[i] = std::max(w[i], r[i].size());
    std::string o;
    auto line = [&](const std::vector<std::string>& r) {
      o += "|";
      for (size_t i = 0; i < r.size(); ++i) o += " " + std::string(w[i] - r[i].size(), ' ') + r[i] + " |";
      o += "\n";
    };
    line(rows_[0]);
    o += "|";
    for (size_t i = 0; i < w.size(); ++i) o += std::string(w[i] + 1, '-') + ":|";
    o += "\n";
    for (size_t k = 1; k < rows_.size(); ++k) line(rows_[k]);
    return o;
  }

 private:
  std::vector<std::vector<std::string>> rows_;
};

std::string model_line(const ReportInfo& info, const ModelInfo& m) {
  std::string s = info.model_source + ": RWKV-" + arch_name(m.arch) + ", C " + std::to_string(m.n_embd) + ", L " +
                  std::to_string(m.n_layer) + ", V " + std::to_string(m.n_vocab) + ", F " + std::to_string(m.n_ffn);
  if (m.n_head > 0) s += ", H " + std::to_string(m.n_head) + " x " + std::to_string(m.head_size);
  const std::string lora = lora_widths_text(m);
  return lora.empty() ? s : s + ", LoRA " + lora;
}

// The prefill rows' GEMM/WKV split, the floor next to every figure.
std::string split_table(const RunResult& r) {
  const Limits& L = r.limits;
  const bool limits = L.gemm_tflops > 0 || L.bandwidth_gbs > 0;
  auto ms_text = [](double v) { return v >= 0 ? fmt("%.3f", v) : std::string("-"); };
  auto floor_text = [&](double v) { return limits ? fmt("%.3f", v) : std::string("-"); };
  std::ostringstream o;
  o << "\nprefill split: GEMM vs WKV per call (floor = max(FLOPs / GEMM peak, bytes / bandwidth))\n";
  Table t({"test", "B", "rounds", "source", "GEMM GFLOP", "GEMM ms", "floor ms", "GEMM % peak", "WKV GFLOP",
           "WKV MB", "WKV ms", "floor ms", "other ms", "WKV %"});
  for (const Row& p : r.prefill) {
    const PrefillSplit& s = p.split;
    const bool measured = s.gemm_ms >= 0;
    t.add({p.test, std::to_string(p.batch), std::to_string(s.rounds), measured ? "measured" : "estimated",
           fmt("%.3g", s.gemm_flops / 1e9), ms_text(s.gemm_ms), floor_text(s.gemm_floor_ms),
           s.gemm_pct_peak >= 0 ? fmt("%.1f", s.gemm_pct_peak) : "-", fmt("%.3g", s.wkv_flops / 1e9),
           fmt("%.1f", s.wkv_bytes / 1e6), ms_text(s.wkv_ms), floor_text(s.wkv_floor_ms), ms_text(s.other_ms),
           fmt("%.1f", s.wkv_pct)});
  }
  o << t.text();
  o << "  estimated: no CUDA event times (the cpu backend, or the emulator, whose times say nothing about a\n"
       "  GPU); WKV % is then the WKV floor's share of the two floors, a counted estimate, not a measurement.\n";
  return o.str();
}

// The prefill rows' pieces (PrefillSplit::pieces): per test a row of device ms per call in each
// kind of launch on a GPU (launches per call in the emulated build) and a row of each piece's floor
// (bench_pieces.h); empty when nothing was profiled.
std::string pieces_table(const RunResult& r) {
  std::vector<std::string> names;  // every piece some row has, in the backend's order
  bool timed = false;
  for (const Row& p : r.prefill)
    for (const PrefillSplit::Piece& q : p.split.pieces) {
      if (std::find(names.begin(), names.end(), q.name) == names.end()) names.push_back(q.name);
      timed = timed || q.ms >= 0;
    }
  if (names.empty()) return "";
  const bool limits = r.limits.gemm_tflops > 0 || r.limits.bandwidth_gbs > 0;
  std::vector<std::string> header = {"test", "B", "figure"};
  header.insert(header.end(), names.begin(), names.end());
  if (timed) header.push_back("gaps");
  header.push_back("rounds");
  Table t(header);
  auto text = [&](double v) { return v < 0 ? std::string("-") : timed ? fmt("%.3f", v) : fmt("%.0f", v); };
  for (const Row& p : r.prefill) {
    std::vector<std::string> measured = {p.test, std::to_string(p.batch), timed ? "ms" : "launches"};
    std::vector<std::string> floors = {p.test, std::to_string(p.batch), "floor ms"};
    for (const std::string& name : names) {
      std::string cell = "-", floor = "-";
      for (const PrefillSplit::Piece& q : p.split.pieces)
        if (q.name == name) {
          cell = text(timed ? q.ms : q.launches);
          if (limits) floor = fmt("%.3f", q.floor_ms);
        }
      measured.push_back(cell);
      floors.push_back(floor);
    }
    if (timed) measured.push_back(text(p.split.gaps_ms)), floors.push_back("-");
    measured.push_back(text(timed ? p.split.profiled_ms : p.split.round_launches));
    floors.push_back("-");
    t.add(measured);
    t.add(floors);
  }
  std::ostringstream o;
  if (timed)
    o << "\nprefill pieces: device ms per call in each kind of launch (CUDA events around each launch, in calls\n"
         "of their own after the timed ones; gaps: the rounds' time outside every piece; rounds: their whole time)\n";
  else
    o << "\nprefill pieces: launches per call in each kind of launch, kernels and cuBLAS calls (counted by the\n"
         "emulator, whose times say nothing about a GPU; rounds: every launch of the call's rounds)\n";
  o << t.text();
  o << "  floor ms: each piece's counted FLOPs and bytes at the limits (bench/bench_pieces.h: GEMMs their\n"
       "  matrices once a round, element-wise launches the planes they read and write, the WKV passes as written)\n";
  return o.str();
}

}  // namespace

std::string report_json(const ReportInfo& info, const Model& model, const BenchConfig& cfg,
                        const std::vector<RunResult>& runs) {
  Json top = {{"tool", "rwkv-run bench"}, {"version", info.version}, {"commit", info.commit}};
  if (!runs.empty()) {
    const RunResult& r = runs[0];
    top["device"] = {{"kind", r.device_kind}, {"name", r.device_name}, {"emulated", r.emulated}, {"threads", r.threads}};
  }
  top["model"] = model_json(info, model);
  top["settings"] = settings_json(cfg);
  top["runs"] = Json::array();
  for (const RunResult& r : runs) top["runs"].push_back(run_json(r));
  return top.dump(1, ' ', false, Json::error_handler_t::replace) + "\n";
}

std::string lora_widths_text(const ModelInfo& m) {
  std::string names, widths;
  for (const auto& w : arch_spec(m.arch).lora_widths(m)) {
    names += (names.empty() ? "" : "/") + std::string(w.name);
    widths += (widths.empty() ? "" : "/") + std::to_string(w.width);
  }
  return names.empty() ? names : names + " " + widths;
}

std::string report_table(const ReportInfo& info, const Model& model, const BenchConfig& cfg,
                         const std::vector<RunResult>& runs) {
  const ModelInfo& m = model.info;
  const ModelCost cost = model_cost(model);
  std::ostringstream o;
  o << "rwkv-run bench " << info.version << " (commit " << info.commit << ")\n";
  o << "model   " << model_line(info, m) << "\n";
  o << "        " << count_text(double(cost.params)) << " params; matrices: " << count_text(double(cost.layer_matrix_params))
    << " in the layers, head " << count_text(double(cost.head_params)) << ", embedding "
    << count_text(double(cost.emb_params)) << " (a row gather); state " << bytes_text(double(cost.state_floats) * 4)
    << " per sequence\n";
  if (!runs.empty()) {
    const RunResult& r0 = runs[0];
    o << "device  " << r0.device_kind << ": " << r0.device_name;
    if (r0.threads > 0) o << " (" << r0.threads << " threads)";
    if (r0.emulated) o << "  [EMULATED on the CPU: the times say nothing about a GPU]";
    o << "\n";
  }
  o << "timing  " << cfg.warmup << " warm-up run(s), median of " << cfg.repeats << " timed run(s)\n";
  for (const RunResult& r : runs) {
    const Limits& L = r.limits;
    o << "\n== " << run_label(r) << ": weights " << bytes_text(r.weight_bytes);
    if (r.workspace_bytes) o << ", workspace " << bytes_text(double(r.workspace_bytes));
    o << "; state " << dtype_name(r.state_dtype) << " " << bytes_text(double(r.state_bytes_per_seq)) << " per sequence";
    if (r.gemv_max_rows >= 0)
      o << "; CUDA graphs " << (r.cuda_graphs ? "on" : "off") << ", GEMV up to " << r.gemv_max_rows << " rows";
    o << "\n";
    if (r.gemv_max_rows >= 0)
      o << "rounds  " << r.max_rows << " token rows per round ("
        << (r.max_rows_automatic ? "automatic, from the free device memory" : "--max-rows")
        << "); chunked WKV from " << r.wkv_chunk_min_tokens << " tokens per sequence"
        << (r.wkv_chunk_min_tokens == 0 ? " (0: never chunked)" : "") << ", its products on " << r.wkv_split_parts
        << "-part bf16 operands"
        << (r.wkv_carry_split_slots == 0 ? "; v7 pass 2 never split (--wkv-carry-split off)" : "") << "\n";
    o << "limits  bandwidth " << (L.bandwidth_gbs > 0 ? fmt("%.1f GB/s", L.bandwidth_gbs) : "unknown") << " ("
      << (L.bandwidth_source.empty() ? "not used" : L.bandwidth_source) << ")\n";
    o << "        GEMM peak " << (L.gemm_tflops > 0 ? fmt("%.3g TFLOP/s", L.gemm_tflops) : "unknown") << " ("
      << (L.gemm_source.empty() ? "not used" : L.gemm_source) << ")\n";
    if (!r.prefill.empty()) {
      o << "\nprefill: B sequences of T tokens in one forward, logits of each last token\n";
      Table t({"test", "B", "ms", "tokens/s", "tok/s/seq", "GFLOP/token", "TFLOP/s", "% peak", "bound tok/s"});
      for (const Row& p : r.prefill)
        t.add({p.test, std::to_string(p.batch), fmt("%.2f", p.ms_median), rate_text(p.tokens_per_s),
               rate_text(p.tokens_per_s_per_seq), fmt("%.3f", p.flops / (double(p.batch) * p.tokens) / 1e9),
               fmt("%.3g", p.tflops), pct_text(p.pct_peak, L.gemm_tflops),
               L.gemm_tflops > 0 ? rate_text(p.bound_tokens_per_s) : "-"});
      o << t.text();
      o << split_table(r);
      o << pieces_table(r);
    }
    if (!r.decode.empty()) {
      o << (cfg.greedy ? "\ndecode: steps of one token for each of B sequences, each next token the most likely one\n"
                         "(--greedy) drawn on the device and fed back; only the token ids reach the host\n"
                       : "\ndecode: steps of one token for each of B sequences, each next token sampled on the device (pip's\n"
                         "defaults) and fed back; only the token ids reach the host\n");
      Table t({"test", "B", "tokens/s", "tok/s/seq", "p50 ms", "p90 ms", "floor ms", "MB/step", "GB/s", "% BW",
               "TFLOP/s", "% peak", "bound tok/s", "launches"});
      for (const Row& d : r.decode)
        t.add({d.test, std::to_string(d.batch), rate_text(d.tokens_per_s), rate_text(d.tokens_per_s_per_seq),
               fmt("%.3f", d.p50_ms), fmt("%.3f", d.p90_ms), d.floor_ms > 0 ? fmt("%.3f", d.floor_ms) : "-",
               fmt("%.1f", d.bytes / 1e6), fmt("%.1f", d.gbs), pct_text(d.pct_bandwidth, L.bandwidth_gbs),
               fmt("%.3g", d.tflops), pct_text(d.pct_peak, L.gemm_tflops),
               d.bound_tokens_per_s > 0 ? rate_text(d.bound_tokens_per_s) : "-",
               d.launches >= 0 ? std::to_string(d.launches) : "-"});
      o << t.text();
    }
    // How to read the figures, with this model's numbers.
    o << "\nhow to read it:\n";
    o << "  decode step: reads every matrix but the embedding table once ("
      << bytes_text(r.quant == QuantKind::none ? cost.decode_weight_bytes(r.dtype, 1)
                                               : cost.decode_weight_bytes_held(r.weight_bytes, r.dtype, 1))
      << " in " << run_label(r)
      << ", fp32 vectors included) and reads + writes each sequence's state (2 x "
      << bytes_text(double(r.state_bytes_per_seq)) << "); MB/step = weights + B x states; GB/s = MB/step / step time.\n";
    o << "  prefill token: 2 x " << count_text(double(cost.layer_matrix_params))
      << " layer matrix params FLOPs, plus 2 x V x C for the head once per sequence (element-wise work and the\n"
         "  recurrence are not counted); TFLOP/s = FLOPs / time.\n";
    o << "  % BW and % peak compare with the limits above; bound tok/s is the roofline: a step cannot take less than\n"
         "  bytes / bandwidth nor FLOPs / GEMM peak (floor ms); % BW = floor share of the step when bandwidth-bound.\n"
         "  Small batches are bandwidth- or launch-bound, large ones compute-bound; launches = kernels per step.\n"
         "  * above 100%: the step beat a limit, which is an estimate, not a law: the copy probe reads and writes a\n"
         "  buffer larger than the caches, while a step only reads its weights and, for a small model, may find them\n"
         "  in cache; a given (--bandwidth-gbs) or table limit may be below what the device reaches.\n";
  }
  return o.str();
}

}  // namespace bench
}  // namespace rwkv
