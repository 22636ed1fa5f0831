// bench/bench_report.cpp: see bench_report.h.
#include "bench/bench_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace rwkv {
namespace bench {

namespace {

// ---- JSON writing -------------------------------------------------------------

std::string json_string(const std::string& s) {
  std::string o = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': o += "\\\""; break;
      case '\\': o += "\\\\"; break;
      case '\n': o += "\\n"; break;
      case '\t': o += "\\t"; break;
      case '\r': o += "\\r"; break;
      default:
        if (c < 0x20) {
          char b[8];
          std::snprintf(b, sizeof b, "\\u%04x", c);
          o += b;
        } else {
          o += char(c);
        }
    }
  }
  return o + "\"";
}

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char b[40];
  if (v == std::floor(v) && std::fabs(v) < 1e15) std::snprintf(b, sizeof b, "%.0f", v);  // exact integers
  else std::snprintf(b, sizeof b, "%.9g", v);
  return b;
}
// A figure that needs a limit: null when the limit is unknown.
std::string json_limited(double v, double limit) { return limit > 0 ? json_number(v) : "null"; }

// Builds one JSON object member by member.
class Obj {
 public:
  Obj& raw(const std::string& k, const std::string& v) {
    s_ += (s_.empty() ? "" : ", ") + json_string(k) + ": " + v;
    return *this;
  }
  Obj& str(const std::string& k, const std::string& v) { return raw(k, json_string(v)); }
  Obj& num(const std::string& k, double v) { return raw(k, json_number(v)); }
  Obj& boolean(const std::string& k, bool v) { return raw(k, v ? "true" : "false"); }
  template <class T>
  Obj& list(const std::string& k, const std::vector<T>& v) {
    std::string a;
    for (const T& x : v) a += (a.empty() ? "" : ", ") + json_number(double(x));
    return raw(k, "[" + a + "]");
  }
  std::string done() const { return "{" + s_ + "}"; }

 private:
  std::string s_;
};

std::string join_objects(const std::vector<std::string>& items, const std::string& indent) {
  if (items.empty()) return "[]";
  std::string o = "[\n";
  for (size_t i = 0; i < items.size(); ++i) o += indent + "  " + items[i] + (i + 1 < items.size() ? ",\n" : "\n");
  return o + indent + "]";
}

std::string lora_json(const ModelInfo& m) {
  if (m.arch == Arch::v7)
    return Obj().num("w", m.lora_w).num("a", m.lora_a).num("v", m.lora_v).num("g", m.lora_g).done();
  if (m.arch == Arch::v6) return Obj().num("maa", m.lora_maa).num("decay", m.lora_decay).done();
  return "null";
}

// ---- text ---------------------------------------------------------------------

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
std::string pct_text(double v, double limit) { return limit > 0 ? fmt("%.1f", v) : "-"; }

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
  if (m.arch == Arch::v7)
    s += ", LoRA w/a/v/g " + std::to_string(m.lora_w) + "/" + std::to_string(m.lora_a) + "/" +
         std::to_string(m.lora_v) + "/" + std::to_string(m.lora_g);
  if (m.arch == Arch::v6) s += ", LoRA maa/decay " + std::to_string(m.lora_maa) + "/" + std::to_string(m.lora_decay);
  return s;
}

}  // namespace

std::string report_json(const ReportInfo& info, const Model& model, const BenchConfig& cfg,
                        const std::vector<RunResult>& runs) {
  const ModelInfo& m = model.info;
  const ModelCost cost = model_cost(model);
  Obj top;
  top.str("tool", "rwkv-run bench").str("version", info.version).str("commit", info.commit);
  if (!runs.empty()) {
    const RunResult& r = runs[0];
    top.raw("device", Obj().str("kind", r.device_kind)
                          .str("name", r.device_name)
                          .boolean("emulated", r.emulated)
                          .num("threads", r.threads)
                          .done());
  }
  top.raw("model", Obj().str("source", info.model_source)
                       .str("format", m.format)
                       .str("arch", arch_name(m.arch))
                       .num("n_embd", m.n_embd)
                       .num("n_layer", m.n_layer)
                       .num("n_vocab", m.n_vocab)
                       .num("n_head", m.n_head)
                       .num("head_size", m.head_size)
                       .num("n_att", m.n_att)
                       .num("n_ffn", m.n_ffn)
                       .raw("lora", lora_json(m))
                       .num("params", double(cost.params))
                       .num("matrix_params", double(cost.matrix_params))
                       .num("layer_matrix_params", double(cost.layer_matrix_params))
                       .num("state_floats", double(cost.state_floats))
                       .done());
  top.raw("settings", Obj().num("warmup", cfg.warmup)
                          .num("repeats", cfg.repeats)
                          .list("prefill_tokens", cfg.prefill_tokens)
                          .list("prefill_batches", cfg.prefill_batches)
                          .num("decode_steps", cfg.decode_steps)
                          .list("decode_batches", cfg.decode_steps > 0 ? cfg.decode_batches : std::vector<int>{})
                          .done());
  std::vector<std::string> run_items;
  for (const RunResult& r : runs) {
    const Limits& L = r.limits;
    std::vector<std::string> pre, dec;
    for (const Row& p : r.prefill)
      pre.push_back(Obj().str("test", p.test)
                        .num("batch", p.batch)
                        .num("tokens_per_seq", p.tokens)
                        .num("ms_median", p.ms_median)
                        .list("ms_samples", p.ms)
                        .num("tokens_per_s", p.tokens_per_s)
                        .num("tokens_per_s_per_seq", p.tokens_per_s_per_seq)
                        .num("flops", p.flops)
                        .num("flops_per_token", p.flops / (double(p.batch) * p.tokens))
                        .num("tflops", p.tflops)
                        .raw("pct_peak", json_limited(p.pct_peak, L.gemm_tflops))
                        .raw("bound_tokens_per_s", json_limited(p.bound_tokens_per_s, L.gemm_tflops))
                        .done());
    for (const Row& d : r.decode)
      dec.push_back(Obj().str("test", d.test)
                        .num("batch", d.batch)
                        .num("steps", d.tokens)
                        .num("ms_median_pass", d.ms_median)
                        .num("latency_ms_p50", d.p50_ms)
                        .num("latency_ms_p90", d.p90_ms)
                        .num("tokens_per_s", d.tokens_per_s)
                        .num("tokens_per_s_per_seq", d.tokens_per_s_per_seq)
                        .num("bytes_per_step", d.bytes)
                        .num("weight_bytes_per_step", d.weight_bytes)
                        .num("state_bytes_per_step", d.state_bytes)
                        .num("flops_per_step", d.flops)
                        .num("gbs", d.gbs)
                        .raw("pct_bandwidth", json_limited(d.pct_bandwidth, L.bandwidth_gbs))
                        .num("tflops", d.tflops)
                        .raw("pct_peak", json_limited(d.pct_peak, L.gemm_tflops))
                        .raw("bound_tokens_per_s",
                             json_limited(d.bound_tokens_per_s, std::max(L.bandwidth_gbs, L.gemm_tflops)))
                        .done());
    Obj lim;
    lim.raw("bandwidth_gbs", json_limited(L.bandwidth_gbs, L.bandwidth_gbs))
        .str("bandwidth_source", L.bandwidth_source.empty() ? "not used" : L.bandwidth_source)
        .raw("gemm_tflops", json_limited(L.gemm_tflops, L.gemm_tflops))
        .str("gemm_source", L.gemm_source.empty() ? "not used" : L.gemm_source);
    run_items.push_back(Obj().str("dtype", dtype_name(r.dtype))
                            .num("weight_bytes", r.weight_bytes)
                            .num("workspace_bytes", double(r.workspace_bytes))
                            .num("state_bytes_per_seq", double(r.state_bytes_per_seq))
                            .raw("limits", lim.done())
                            .raw("prefill", join_objects(pre, "    "))
                            .raw("decode", join_objects(dec, "    "))
                            .done());
  }
  top.raw("runs", join_objects(run_items, ""));
  return top.done() + "\n";
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
    o << "\n== " << dtype_name(r.dtype) << ": weights " << bytes_text(r.weight_bytes);
    if (r.workspace_bytes) o << ", workspace " << bytes_text(double(r.workspace_bytes));
    o << "\n";
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
    }
    if (!r.decode.empty()) {
      o << "\ndecode: steps of one token for each of B sequences, logits of every sequence to the host\n";
      Table t({"test", "B", "tokens/s", "tok/s/seq", "p50 ms", "p90 ms", "MB/step", "GB/s", "% BW", "TFLOP/s",
               "% peak", "bound tok/s"});
      for (const Row& d : r.decode)
        t.add({d.test, std::to_string(d.batch), rate_text(d.tokens_per_s), rate_text(d.tokens_per_s_per_seq),
               fmt("%.3f", d.p50_ms), fmt("%.3f", d.p90_ms), fmt("%.1f", d.bytes / 1e6), fmt("%.1f", d.gbs),
               pct_text(d.pct_bandwidth, L.bandwidth_gbs), fmt("%.3g", d.tflops), pct_text(d.pct_peak, L.gemm_tflops),
               d.bound_tokens_per_s > 0 ? rate_text(d.bound_tokens_per_s) : "-"});
      o << t.text();
    }
    // How to read the figures, with this model's numbers.
    o << "\nhow to read it:\n";
    o << "  decode step: reads every matrix but the embedding table once ("
      << bytes_text(cost.decode_weight_bytes(r.dtype, 1)) << " in " << dtype_name(r.dtype)
      << ", fp32 vectors included) and reads + writes each sequence's state (2 x "
      << bytes_text(double(cost.state_floats) * 4) << "); MB/step = weights + B x states; GB/s = MB/step / step time.\n";
    o << "  prefill token: 2 x " << count_text(double(cost.layer_matrix_params))
      << " layer matrix params FLOPs, plus 2 x V x C for the head once per sequence (element-wise work and the\n"
         "  recurrence are not counted); TFLOP/s = FLOPs / time.\n";
    o << "  % BW and % peak compare with the limits above; bound tok/s is the roofline: a step cannot take less than\n"
         "  bytes / bandwidth nor FLOPs / GEMM peak. Small batches are bandwidth- or launch-bound, large ones compute-bound.\n";
  }
  return o.str();
}

}  // namespace bench
}  // namespace rwkv
