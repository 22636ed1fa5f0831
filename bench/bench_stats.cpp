// bench/bench_stats.cpp: see bench_stats.h.
#include "bench/bench_stats.h"

#include <algorithm>
#include <cmath>

#include "runtime/model/model.h"

namespace rwkv {
namespace bench {

double quantile(std::vector<double> s, double q) {
  if (s.empty()) throw Error("bench: quantile of no samples");
  if (!(q >= 0.0 && q <= 1.0)) throw Error("bench: quantile outside [0, 1]");
  std::sort(s.begin(), s.end());
  const double pos = q * double(s.size() - 1);
  const size_t lo = size_t(std::floor(pos));
  const size_t hi = std::min(lo + 1, s.size() - 1);
  return s[lo] + (s[hi] - s[lo]) * (pos - double(lo));
}

}  // namespace bench
}  // namespace rwkv
