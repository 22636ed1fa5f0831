// runtime/arch/layer_norm.h: the fp32 LayerNorm of one row, shared by the
// load-time ln0 fold (runtime/arch/weights.cpp) and the CPU reference backend
// (runtime/cpu/cpu_ops.h). Biased variance, eps 1e-5 by default
// (docs/rwkv-math.md section 1): y = (x - mean) / sqrt(var + eps) * g + b, with
// the mean and the variance accumulated in double.
#pragma once

namespace rwkv {

void layer_norm_row(const float* x, const float* g, const float* b, int n, float* y, float eps = 1e-5f);

}  // namespace rwkv
