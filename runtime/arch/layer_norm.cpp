// runtime/arch/layer_norm.cpp: see layer_norm.h.
#include "runtime/arch/layer_norm.h"

#include <cmath>

namespace rwkv {

void layer_norm_row(const float* x, const float* g, const float* b, int n, float* y, float eps) {
  double sum = 0.0;
  for (int i = 0; i < n; ++i) sum += x[i];
  const double mean = sum / n;
  double var = 0.0;
  for (int i = 0; i < n; ++i) {
    const double d = x[i] - mean;
    var += d * d;
  }
  var /= n;
  const double rstd = 1.0 / std::sqrt(var + static_cast<double>(eps));
  for (int i = 0; i < n; ++i)
    y[i] = static_cast<float>((x[i] - mean) * rstd) * g[i] + b[i];
}

}  // namespace rwkv
