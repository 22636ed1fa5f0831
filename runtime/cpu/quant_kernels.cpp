// runtime/cpu/quant_kernels.cpp: ISA dispatch and the portable scalar variant
// of the quantized products (quant_kernels.h).
#include "runtime/cpu/quant_kernels.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "runtime/core/half_float.h"

namespace rwkv {
namespace cpu {

namespace {

// The weight QuantView::dequantize_row gives for byte(s) of one group.
inline float int8_weight(uint8_t q, float d, float m) {
  return std::fma(static_cast<float>(static_cast<int8_t>(q)), d, m);
}
inline float q4_weight(int v, float d, float m) { return std::fma(static_cast<float>(v), d, m); }

// One output row, every m, in plain loops (sums in order over the row).
void gemv_scalar_row(const quant_isa::GemvTask& t, int r) {
  const size_t G = static_cast<size_t>(t.in / t.group), group = static_cast<size_t>(t.group);
  const size_t half = static_cast<size_t>(t.in / 2);
  const uint8_t* row = t.q + static_cast<size_t>(r) * t.row_bytes;
  for (int m = 0; m < t.M; ++m) {
    const float* x = t.x + static_cast<size_t>(m) * t.ldx;
    float acc = 0.0f;
    for (size_t g = 0; g < G; ++g) {
      const size_t gi = static_cast<size_t>(r) * G + g;
      const float d = f16_to_f32(t.scale[gi]), mn = f16_to_f32(t.min[gi]);
      if (!t.q4) {
        for (size_t c = g * group; c < (g + 1) * group; ++c) acc += int8_weight(row[c], d, mn) * x[c];
        continue;
      }
      for (size_t j = g * group / 2; j < (g + 1) * group / 2; ++j) {
        acc += q4_weight(row[j] & 15, d, mn) * x[j];
        acc += q4_weight(row[j] >> 4, d, mn) * x[half + j];
      }
    }
    t.y[static_cast<size_t>(m) * t.ldy + static_cast<size_t>(r)] = acc;
  }
}

quant_isa::GemvTask make_task(const QuantView& w) {
  quant_isa::GemvTask t;
  t.q4 = w.kind == QuantKind::q4;
  t.out = w.out;
  t.in = w.in;
  t.group = w.group;
  t.q = w.q;
  t.row_bytes = quant_row_bytes(w.kind, w.in);
  t.scale = w.scale;
  t.min = w.min;
  return t;
}

bool cpu_has(QuantIsa isa) {
#if RWKV_CPU_X86_KERNELS
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                    __builtin_cpu_supports("f16c");
  if (isa == QuantIsa::avx2) return avx2;
  if (isa == QuantIsa::avx512)
    return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl");
#endif
  return isa == QuantIsa::scalar;
}

}  // namespace

const char* quant_isa_name(QuantIsa isa) {
  switch (isa) {
    case QuantIsa::scalar: return "scalar";
    case QuantIsa::avx2: return "avx2";
    case QuantIsa::avx512: return "avx512";
  }
  return "?";
}

bool quant_isa_supported(QuantIsa isa) {
  // Fixed for the life of the process: asked once.
  static const bool has[3] = {cpu_has(QuantIsa::scalar), cpu_has(QuantIsa::avx2), cpu_has(QuantIsa::avx512)};
  return has[static_cast<int>(isa)];
}

bool int8_rounded_gemm_supported(QuantIsa isa) {
#if RWKV_CPU_X86_KERNELS
  if (isa != QuantIsa::avx512 || !quant_isa_supported(isa)) return false;
  // Asked on every product (the crossover depends on it): the CPU is read once.
  static const bool vnni = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512vnni") != 0;
  }();
  return vnni;
#else
  (void)isa;
  return false;
#endif
}

QuantIsa best_quant_isa() {
  if (quant_isa_supported(QuantIsa::avx512)) return QuantIsa::avx512;
  if (quant_isa_supported(QuantIsa::avx2)) return QuantIsa::avx2;
  return QuantIsa::scalar;
}

std::vector<QuantIsa> supported_quant_isas() {
  std::vector<QuantIsa> out;
  for (QuantIsa isa : {QuantIsa::scalar, QuantIsa::avx2, QuantIsa::avx512})
    if (quant_isa_supported(isa)) out.push_back(isa);
  return out;
}

size_t quant_fused_max_inputs(QuantIsa isa, QuantKind kind) {
  if (kind == QuantKind::int8 && int8_rounded_gemm_supported(isa)) return 8;
  switch (isa) {
    case QuantIsa::avx512: return 16;
    case QuantIsa::avx2: return 4;
    case QuantIsa::scalar: return 0;
  }
  return 0;
}

bool round_inputs_int16(const float* x, int in, int16_t* xi, float* xs) {
  constexpr float kSteps = 32767.0f;
  for (int b = 0; b < in / 32; ++b) {
    const float* xb = x + 32 * b;
    float largest = 0.0f;
    for (int c = 0; c < 32; ++c) {
      const float a = std::fabs(xb[c]);
      if (!(a <= std::numeric_limits<float>::max())) return false;  // inf or NaN (which std::max would skip)
      largest = std::max(largest, a);
    }
    if (largest == 0.0f) {
      xs[b] = 0.0f;
      std::fill(xi + 32 * b, xi + 32 * b + 32, int16_t{0});
      continue;
    }
    // A normal scale also bounds the inverse: largest >= 32767 * FLT_MIN, so 32767 / largest <= 1 / FLT_MIN.
    const float scale = largest / kSteps, inverse = kSteps / largest;
    if (!(scale >= std::numeric_limits<float>::min())) return false;
    // Adding and removing 1.5 * 2^23 rounds |v| < 2^22 to the nearest integer, ties to even (in the
    // default rounding mode), without a library call.
    constexpr float kRound = 12582912.0f;
    for (int c = 0; c < 32; ++c) {
      const float v = (xb[c] * inverse + kRound) - kRound;
      xi[32 * b + c] = static_cast<int16_t>(std::clamp(v, -kSteps, kSteps));
    }
    xs[b] = scale;
  }
  return true;
}

void QuantProduct::round_int8_inputs(const float* X, size_t ldx, size_t M) {
  const size_t in = static_cast<size_t>(task_.in), blocks = in / 32;
  const size_t groups = static_cast<size_t>(task_.in / task_.group), per_group = blocks / groups;
  x_int16_.resize(M * in);
  x_scale_.resize(M * blocks);
  x_group_.resize(M * groups);
  for (size_t m = 0; m < M; ++m) {
    int16_t* xi = x_int16_.data() + m * in;
    float* xs = x_scale_.data() + m * blocks;
    if (!round_inputs_int16(X + m * ldx, task_.in, xi, xs)) return;
    // The rounded inputs' sum over each group, for the offsets: sum_b xs_b * (sum of the block's xi).
    for (size_t g = 0; g < groups; ++g) {
      float sum = 0.0f;
      for (size_t b = g * per_group; b < (g + 1) * per_group; ++b) {
        int32_t block_sum = 0;
        for (size_t c = 32 * b; c < 32 * b + 32; ++c) block_sum += xi[c];
        sum += xs[b] * static_cast<float>(block_sum);
      }
      x_group_[m * groups + g] = sum;
    }
  }
  task_.xi = x_int16_.data();
  task_.xs = x_scale_.data();
  task_.xg = x_group_.data();
}

void QuantProduct::pack_inputs(size_t chunk) {
#if RWKV_CPU_X86_KERNELS
  quant_isa::PackTask k;
  k.x = x_;
  k.ldx = ldx_;
  k.M = task_.M;
  k.in = task_.in;
  k.group = task_.group;
  k.m_pad = m_pad_;
  k.xp = x_pairs_.get();
  k.xs_t = x_scale_t_.get();
  k.xg_t = x_group_t_.get();
  chunk_rounded_[chunk] = quant_isa::pack_inputs_vnni(k, static_cast<int>(chunk));
#else
  (void)chunk;  // never sized: int8_rounded_gemm_supported is false
#endif
}

bool QuantProduct::finish_packing() {
  if (!x_pairs_ || std::find(chunk_rounded_.begin(), chunk_rounded_.end(), 0) != chunk_rounded_.end()) return false;
  task_.xp = x_pairs_.get();
  task_.xs_t = x_scale_t_.get();
  task_.xg_t = x_group_t_.get();
  task_.m_pad = m_pad_;
  return true;
}

QuantProduct::QuantProduct(const QuantView& w, const float* X, size_t ldx, size_t M, float* Y,
                           size_t ldy, QuantIsa isa, bool many_inputs, bool round_inputs)
    : isa_(quant_isa_supported(isa) ? isa : QuantIsa::scalar), task_(make_task(w)) {
  task_.M = static_cast<int>(M);
  task_.y = Y;
  task_.ldy = ldy;
  if (!task_.q4) {
    task_.x = X;
    task_.ldx = ldx;
    if (many_inputs && int8_rounded_gemm_supported(isa_)) {  // pack_inputs rounds them
      const size_t in = static_cast<size_t>(w.in), mp = (M + 15) / 16 * 16;
      x_ = X;
      ldx_ = ldx;
      m_pad_ = static_cast<int>(mp);
      x_pairs_.reset(new int32_t[in / 2 * mp]);
      x_scale_t_.reset(new float[in / 32 * mp]);
      x_group_t_.reset(new float[static_cast<size_t>(w.in / w.group) * mp]);
      chunk_rounded_.assign(mp / 16, 0);
    } else if (isa_ == QuantIsa::avx512 && round_inputs) {
      round_int8_inputs(X, ldx, M);  // refused: task_.xi stays null
    }
    return;
  }
  // q4: per input row, the even columns then the odd ones.
  const size_t in = static_cast<size_t>(w.in), half = in / 2;
  x_split_.resize(M * in);
  for (size_t m = 0; m < M; ++m) {
    const float* x = X + m * ldx;
    float* dst = x_split_.data() + m * in;
    for (size_t j = 0; j < half; ++j) {
      dst[j] = x[2 * j];
      dst[half + j] = x[2 * j + 1];
    }
  }
  task_.x = x_split_.data();
  task_.ldx = in;
}

void QuantProduct::rows(int r0, int r1) const {
  if (r1 <= r0 || task_.M == 0) return;
  switch (isa_) {
#if RWKV_CPU_X86_KERNELS
    case QuantIsa::avx512:
      if (task_.xp != nullptr)
        quant_isa::gemm_int8_rounded_vnni(task_, r0, r1);
      else if (task_.xi != nullptr)
        quant_isa::gemv_int8_rounded_avx512(task_, r0, r1);
      else
        quant_isa::gemv_avx512(task_, r0, r1);
      return;
    case QuantIsa::avx2: quant_isa::gemv_avx2(task_, r0, r1); return;
#endif
    default:
      for (int r = r0; r < r1; ++r) gemv_scalar_row(task_, r);
  }
}

void dequantize_rows(QuantIsa isa, const QuantView& w, int r0, int r1, float* dst) {
  if (!quant_isa_supported(isa)) isa = QuantIsa::scalar;
  const quant_isa::GemvTask t = make_task(w);
  switch (isa) {
#if RWKV_CPU_X86_KERNELS
    case QuantIsa::avx512: quant_isa::dequantize_rows_avx512(t, r0, r1, dst); return;
    case QuantIsa::avx2: quant_isa::dequantize_rows_avx2(t, r0, r1, dst); return;
#endif
    default:
      for (int r = r0; r < r1; ++r) w.dequantize_row(r, dst + static_cast<size_t>(r - r0) * static_cast<size_t>(w.in));
  }
}

}  // namespace cpu
}  // namespace rwkv
