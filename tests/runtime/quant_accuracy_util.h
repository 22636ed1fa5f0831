// tests/runtime/quant_accuracy_util.h: the accuracy of quantized weights against the
// official fp32 goldens (docs/quantization.md, "Accuracy"), shared by the CPU test and
// the CUDA (emulated) test. The bounds come from the goldens' own manifests:
//   int8 on a model the official int8 path handles (golden_int8/<model>__cpu-fp32i8):
//        max |logit - fp32 golden| <= that path's own error (its vs_cpu_fp32_strategy_golden);
//   int8 elsewhere (v5.1, v7, the synthetic models): <= 2 x the official bf16 path's error
//        (golden/<model>[-bf16]__cpu-bf16) and argmax agreement >= 0.95;
//   q4: reported (max and mean |dlogit|, argmax agreement, mean KL divergence).
#pragma once

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "cpu_golden_util.h"

namespace quant_accuracy {

struct Error {
  double max_abs = 0, mean_abs = 0, argmax_agreement = 0, mean_kl = 0;
  double min_flip_gap = -1;  // largest reference top-2 gap among positions whose argmax differs
  bool finite = true;
};

// Logits [T, V] against reference logits [T, V].
inline Error compare(const std::vector<float>& got, const std::vector<float>& ref, size_t V) {
  Error e;
  const size_t T = ref.size() / V;
  size_t agree = 0;
  for (size_t t = 0; t < T; ++t) {
    const float* a = &got[t * V];
    const float* b = &ref[t * V];
    size_t ia = 0, ib = 0;
    double za = 0, zb = 0, ma = a[0], mb = b[0];
    for (size_t v = 0; v < V; ++v) {
      if (!std::isfinite(a[v])) e.finite = false;
      const double d = std::fabs(double(a[v]) - b[v]);
      e.max_abs = std::max(e.max_abs, d);
      e.mean_abs += d;
      if (a[v] > a[ia]) ia = v;
      if (b[v] > b[ib]) ib = v;
      ma = std::max(ma, double(a[v]));
      mb = std::max(mb, double(b[v]));
    }
    agree += ia == ib;
    if (ia != ib) {
      const double gap = double(b[ib]) - b[ia];  // the reference's margin over our choice
      if (e.min_flip_gap < 0 || gap > e.min_flip_gap) e.min_flip_gap = gap;
    }
    for (size_t v = 0; v < V; ++v) {
      za += std::exp(a[v] - ma);
      zb += std::exp(b[v] - mb);
    }
    // KL(ref || got) over the softmax distributions.
    double kl = 0;
    for (size_t v = 0; v < V; ++v) {
      const double lp = b[v] - mb - std::log(zb), lq = a[v] - ma - std::log(za);
      kl += std::exp(lp) * (lp - lq);
    }
    e.mean_kl += kl;
  }
  e.mean_abs /= double(T * V);
  e.mean_kl /= double(T);
  e.argmax_agreement = double(agree) / double(T);
  return e;
}

inline double manifest_error(const std::string& dir) {
  const std::string path = testdata_path(dir + "/manifest.json");
  if (!std::filesystem::exists(path)) return -1;
  const rwkv::Json m = rwkv::parse_json(golden::read_text(path), path);
  const rwkv::Json* vs = rwkv::json_find(m, "vs_cpu_fp32_strategy_golden");
  const rwkv::Json* d = vs ? rwkv::json_find(*vs, "logits_rnn_max_abs_diff") : nullptr;
  return d ? d->get<double>() : -1;
}

// The bound for int8 on fp32 golden folder `name`: {bound, true if it is the official int8 error}.
inline std::pair<double, bool> int8_bound(const std::string& name) {
  const double official_i8 = manifest_error("golden_int8/" + name + "__cpu-fp32i8");
  if (official_i8 >= 0) return {official_i8, true};
  double bf16 = manifest_error("golden/" + name + "__cpu-bf16");
  if (bf16 < 0) bf16 = manifest_error("golden/" + name + "-bf16__cpu-bf16");
  return {bf16 < 0 ? -1 : 2 * bf16, false};
}

// The fp32 golden folders (official "cpu fp32" strategy).
inline std::vector<std::string> fp32_folders() {
  std::vector<std::string> out;
  for (const std::string& n : golden::list_folders())
    if (n.find("__cpu-") == std::string::npos) out.push_back(n);
  return out;
}

inline void print_row(const char* backend, const std::string& name, const char* kind, const Error& e,
                      double bound) {
  std::printf("%-5s %-26s %-5s max %8.4f mean %8.5f argmax %5.3f (flips at ref margins <= %.4f) KL %9.2e  bound %s\n",
              backend, name.c_str(), kind, e.max_abs, e.mean_abs, e.argmax_agreement, e.min_flip_gap, e.mean_kl,
              bound < 0 ? "-" : std::to_string(bound).c_str());
}

}  // namespace quant_accuracy
