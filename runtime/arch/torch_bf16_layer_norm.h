// runtime/arch/torch_bf16_layer_norm.h: bit-faithful emulation of the CPU
// layer_norm of torch 1.13 on bfloat16 tensors, the one used by the goldens
// (docs/testdata.md section 4: pip's RWKV class folds ln0 into a
// bf16 embedding with layer_norm in bf16).
//
// Why it is needed: that kernel is far from "float math rounded once". Its
// row moments are a Welford + cascade sum done in Vectorized<BFloat16>
// arithmetic (every operation rounded to bf16), mean and 1/sqrt(var + eps) are
// kept in bf16, eps itself is cast to bf16; only the final affine
// (x * rstd + (-rstd * mean)) * gamma + beta runs in float before the output is
// rounded. A float-accurate LayerNorm differs from it by up to 0.08 in the
// tiny v6 logits; this emulation matches the goldens to ~1e-5.
//
// The vector width is a property of the machine that made the goldens: 16 bf16
// lanes (AVX2). Verified on C = 64, 128, 256 (one Welford chunk); the cascade
// over several chunks (C > 256) follows the same source structure but has no
// golden to check it against.
#pragma once

namespace rwkv {

constexpr int kTorchBf16Lanes = 16;

// y[0..n) = layer_norm(x; g, b, eps 1e-5) as torch 1.13 computes it for bf16
// x, g, b (given here as floats holding bf16 values); y holds bf16 values.
void torch_bf16_layer_norm(const float* x, const float* g, const float* b, int n, float* y,
                           int lanes = kTorchBf16Lanes);

}  // namespace rwkv
