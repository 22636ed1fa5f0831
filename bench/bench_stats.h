// bench/bench_stats.h: order statistics of timing samples.
#pragma once

#include <vector>

namespace rwkv {
namespace bench {

// The q-quantile (0 <= q <= 1) of `samples`, interpolating linearly between
// the two nearest order statistics (position q * (n - 1) in the sorted list,
// numpy's default). Throws rwkv::Error on an empty list or q outside [0, 1].
double quantile(std::vector<double> samples, double q);
inline double median(const std::vector<double>& samples) { return quantile(samples, 0.5); }

}  // namespace bench
}  // namespace rwkv
