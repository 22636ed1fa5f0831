// runtime/quant/quant_format.cpp: packing, quantizing and dequantizing the formats of
// runtime/quant/quant_format.h.
#include "runtime/quant/quant_format.h"

#include <algorithm>
#include <cmath>

#include "runtime/core/error.h"
#include "runtime/core/half_float.h"

namespace rwkv {

const char* quant_kind_name(QuantKind k) {
  switch (k) {
    case QuantKind::none: return "none";
    case QuantKind::int8: return "int8";
    case QuantKind::q4: return "q4";
  }
  return "?";
}

bool quant_kind_from_name(const std::string& s, QuantKind* out) {
  if (s == "int8" || s == "i8" || s == "q8") {
    *out = QuantKind::int8;
    return true;
  }
  if (s == "q4" || s == "int4" || s == "i4") {
    *out = QuantKind::q4;
    return true;
  }
  return false;
}

int default_quant_group(QuantKind k, int in) {
  if (in <= 0 || in % 32 != 0) return 0;
  const bool int8 = k == QuantKind::int8;
  const int max_group = int8 ? 1024 : 128, min_groups = int8 ? 4 : 8;
  for (int g = max_group; g > 32; g /= 2)
    if (in % g == 0 && in / g >= min_groups) return g;
  return 32;
}

size_t quant_row_bytes(QuantKind k, int in) {
  if (k == QuantKind::int8) return static_cast<size_t>(in);
  if (k == QuantKind::q4) return static_cast<size_t>(in) / 2;
  return 0;
}

size_t quant_matrix_bytes(QuantKind k, int out, int in, int group) {
  if (k == QuantKind::none || group <= 0) return 0;
  const size_t groups = static_cast<size_t>(out) * static_cast<size_t>(in / group);
  const size_t per_group = 4;  // fp16 scale and fp16 offset
  return static_cast<size_t>(out) * quant_row_bytes(k, in) + groups * per_group;
}

void QuantView::dequantize_row(int r, float* dst) const {
  const size_t G = static_cast<size_t>(groups_per_row());
  const uint8_t* row = q + static_cast<size_t>(r) * quant_row_bytes(kind, in);
  for (size_t g = 0; g < G; ++g) {
    const float d = f16_to_f32(scale[static_cast<size_t>(r) * G + g]);
    const float m = f16_to_f32(min[static_cast<size_t>(r) * G + g]);
    const size_t c0 = g * static_cast<size_t>(group), c1 = c0 + static_cast<size_t>(group);
    if (kind == QuantKind::int8) {
      for (size_t c = c0; c < c1; ++c) dst[c] = std::fma(static_cast<float>(static_cast<int8_t>(row[c])), d, m);
    } else {
      for (size_t c = c0; c < c1; ++c) {
        const int v = (c & 1) ? (row[c / 2] >> 4) : (row[c / 2] & 15);
        dst[c] = std::fma(static_cast<float>(v), d, m);
      }
    }
  }
}

float QuantView::at(int r, int c) const {
  const size_t G = static_cast<size_t>(groups_per_row());
  const size_t gi = static_cast<size_t>(r) * G + static_cast<size_t>(c / group);
  const uint8_t* row = q + static_cast<size_t>(r) * quant_row_bytes(kind, in);
  const float d = f16_to_f32(scale[gi]), m = f16_to_f32(min[gi]);
  if (kind == QuantKind::int8) return std::fma(static_cast<float>(static_cast<int8_t>(row[c])), d, m);
  const int v = (c & 1) ? (row[c / 2] >> 4) : (row[c / 2] & 15);
  return std::fma(static_cast<float>(v), d, m);
}

QuantView QuantMatrix::view() const {
  QuantView v;
  v.kind = kind;
  v.out = out;
  v.in = in;
  v.group = group;
  v.q = q.data();
  v.scale = scale.data();
  v.min = min.data();
  return v;
}

namespace {

// An fp16 scale or offset, refused when it does not fit fp16.
uint16_t to_f16_checked(float x, const std::string& what) {
  const uint16_t h = f32_to_f16(x);
  if (!std::isfinite(f16_to_f32(h)))
    throw Error(what + ": a weight of magnitude " + std::to_string(x) +
                " is too large for an fp16 quantization scale");
  return h;
}

// One group: d and m as stored (fp16), then every q rounded to nearest against
// them and clamped to [q_lo, q_hi].
void quantize_group(const float* w, int n, float q_lo, float q_hi, uint16_t* scale,
                    uint16_t* offset, float* q, const std::string& what) {
  float lo = w[0], hi = w[0];
  for (int i = 1; i < n; ++i) {
    lo = std::min(lo, w[i]);
    hi = std::max(hi, w[i]);
  }
  *scale = to_f16_checked((hi - lo) / (q_hi - q_lo), what);
  // The grid m + q d, q in [q_lo, q_hi], starts at lo and (up to the fp16
  // rounding of d) ends at hi. (Centring it on (lo + hi) / 2 instead leaves
  // half a step at the top, which clamps the largest weights down: a bias.)
  *offset = to_f16_checked(lo - q_lo * f16_to_f32(*scale), what);
  const float d = f16_to_f32(*scale), m = f16_to_f32(*offset);
  for (int i = 0; i < n; ++i) q[i] = d > 0.0f ? std::clamp(std::nearbyint((w[i] - m) / d), q_lo, q_hi) : 0.0f;
}

}  // namespace

QuantMatrix quantize_matrix(QuantKind k, const float* w, int out, int in, int group,
                            const std::string& what) {
  if (k == QuantKind::none) throw Error(what + ": no quantized format given");
  if (in <= 0 || out <= 0 || in % 32 != 0 || group <= 0 || group % 32 != 0 || in % group != 0)
    throw Error(what + ": cannot quantize a [" + std::to_string(out) + ", " + std::to_string(in) +
                "] matrix in groups of " + std::to_string(group) +
                " (its input width must be a multiple of 32)");
  QuantMatrix m;
  m.kind = k;
  m.out = out;
  m.in = in;
  m.group = group;
  const size_t G = static_cast<size_t>(in / group), row_bytes = quant_row_bytes(k, in);
  m.q.resize(static_cast<size_t>(out) * row_bytes);
  m.scale.resize(static_cast<size_t>(out) * G);
  m.min.resize(static_cast<size_t>(out) * G);
  std::vector<float> q(static_cast<size_t>(group));
  for (int r = 0; r < out; ++r) {
    const float* row = w + static_cast<size_t>(r) * in;
    for (int i = 0; i < in; ++i)
      if (!std::isfinite(row[i]))
        throw Error(what + ": non-finite weight at [" + std::to_string(r) + ", " + std::to_string(i) + "]");
    uint8_t* packed = &m.q[static_cast<size_t>(r) * row_bytes];
    for (size_t g = 0; g < G; ++g) {
      const size_t gi = static_cast<size_t>(r) * G + g, c0 = g * static_cast<size_t>(group);
      if (k == QuantKind::int8) {
        quantize_group(row + c0, group, -128.0f, 127.0f, &m.scale[gi], &m.min[gi], q.data(), what);
        for (int i = 0; i < group; ++i) packed[c0 + i] = static_cast<uint8_t>(static_cast<int8_t>(q[i]));
      } else {
        quantize_group(row + c0, group, 0.0f, 15.0f, &m.scale[gi], &m.min[gi], q.data(), what);
        for (int i = 0; i < group; i += 2)
          packed[(c0 + i) / 2] = static_cast<uint8_t>(static_cast<int>(q[i]) | (static_cast<int>(q[i + 1]) << 4));
      }
    }
  }
  return m;
}

QuantMatrix copy_quant(const QuantView& v) {
  QuantMatrix m;
  m.kind = v.kind;
  m.out = v.out;
  m.in = v.in;
  m.group = v.group;
  const size_t n_groups = static_cast<size_t>(v.out) * static_cast<size_t>(v.groups_per_row());
  m.q.assign(v.q, v.q + static_cast<size_t>(v.out) * quant_row_bytes(v.kind, v.in));
  m.scale.assign(v.scale, v.scale + n_groups);
  m.min.assign(v.min, v.min + n_groups);
  return m;
}

std::vector<float> dequantize_matrix(const QuantView& v) {
  std::vector<float> w(static_cast<size_t>(v.out) * static_cast<size_t>(v.in));
  for (int r = 0; r < v.out; ++r) v.dequantize_row(r, w.data() + static_cast<size_t>(r) * v.in);
  return w;
}

}  // namespace rwkv
