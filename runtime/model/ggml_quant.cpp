// runtime/model/ggml_quant.cpp: ggml block dequantisation (see the header).
#include "runtime/model/ggml_quant.h"

#include <cmath>
#include <vector>

#include "runtime/core/error.h"
#include "runtime/core/half_float.h"

namespace rwkv {

namespace {

float f16_at(const uint8_t* p) { return f16_to_f32(uint16_t(p[0] | p[1] << 8)); }

uint32_t u32_at(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

}  // namespace

bool ggml_type_known(int32_t t) { return t == 0 || t == 1 || t == 2 || t == 3 || t == 7 || t == 8 || t == 9; }

const char* ggml_type_name(GgmlType t) {
  switch (t) {
    case GgmlType::f32: return "FP32";
    case GgmlType::f16: return "FP16";
    case GgmlType::q4_0: return "Q4_0";
    case GgmlType::q4_1: return "Q4_1";
    case GgmlType::q5_0: return "Q5_0";
    case GgmlType::q5_1: return "Q5_1";
    case GgmlType::q8_0: return "Q8_0";
  }
  return "?";
}

bool ggml_type_quantized(GgmlType t) { return t != GgmlType::f32 && t != GgmlType::f16; }

size_t ggml_block_bytes(GgmlType t) {
  switch (t) {
    case GgmlType::f32: return 4;
    case GgmlType::f16: return 2;
    case GgmlType::q4_0: return 2 + 16;
    case GgmlType::q4_1: return 2 + 2 + 16;
    case GgmlType::q5_0: return 2 + 4 + 16;
    case GgmlType::q5_1: return 2 + 2 + 4 + 16;
    case GgmlType::q8_0: return 2 + 32;
  }
  return 0;
}

uint64_t ggml_nbytes(GgmlType t, uint64_t n) {
  if (!ggml_type_quantized(t)) return n * ggml_block_bytes(t);
  return n / kGgmlBlock * ggml_block_bytes(t);
}

void ggml_dequantize(GgmlType t, const uint8_t* src, uint64_t n, float* dst) {
  const size_t bb = ggml_block_bytes(t);
  for (uint64_t b = 0; b < n / kGgmlBlock; b++, src += bb, dst += kGgmlBlock) {
    const float d = f16_at(src);
    switch (t) {
      case GgmlType::q4_0:
        for (int j = 0; j < 16; j++) {
          dst[j] = float((src[2 + j] & 15) - 8) * d;
          dst[j + 16] = float((src[2 + j] >> 4) - 8) * d;
        }
        break;
      case GgmlType::q4_1: {
        const float m = f16_at(src + 2);
        for (int j = 0; j < 16; j++) {
          dst[j] = float(src[4 + j] & 15) * d + m;
          dst[j + 16] = float(src[4 + j] >> 4) * d + m;
        }
        break;
      }
      case GgmlType::q5_0: {
        const uint32_t qh = u32_at(src + 2);
        const uint8_t* qs = src + 6;
        for (int j = 0; j < 16; j++) {
          int lo = (qs[j] & 15) | int((qh >> j) & 1u) << 4;
          int hi = (qs[j] >> 4) | int((qh >> (j + 16)) & 1u) << 4;
          dst[j] = float(lo - 16) * d;
          dst[j + 16] = float(hi - 16) * d;
        }
        break;
      }
      case GgmlType::q5_1: {
        const float m = f16_at(src + 2);
        const uint32_t qh = u32_at(src + 4);
        const uint8_t* qs = src + 8;
        for (int j = 0; j < 16; j++) {
          int lo = (qs[j] & 15) | int((qh >> j) & 1u) << 4;
          int hi = (qs[j] >> 4) | int((qh >> (j + 16)) & 1u) << 4;
          dst[j] = float(lo) * d + m;
          dst[j + 16] = float(hi) * d + m;
        }
        break;
      }
      case GgmlType::q8_0:
        for (int j = 0; j < 32; j++) dst[j] = float(int8_t(src[2 + j])) * d;
        break;
      case GgmlType::f32:
      case GgmlType::f16:
        return;  // not quantised; callers handle these
    }
  }
}

namespace {

uint16_t u16_at(const uint8_t* p) { return uint16_t(p[0] | p[1] << 8); }

// One block's 32 values in ggml's order (element j < 16: low nibble of qs[j],
// element j + 16: high nibble, Q5 adding bit j / j + 16 of qh as bit 4), as
// unsigned integers (Q8_0's as int8 bytes).
void block_values(GgmlType t, const uint8_t* b, int* v) {
  const uint8_t* qs = b + (t == GgmlType::q4_0 ? 2 : t == GgmlType::q4_1 ? 4 : t == GgmlType::q5_0 ? 6 : 8);
  const uint32_t qh = t == GgmlType::q5_0 ? u32_at(b + 2) : t == GgmlType::q5_1 ? u32_at(b + 4) : 0;
  for (int j = 0; j < 16; ++j) {
    v[j] = (qs[j] & 15) | int((qh >> j) & 1u) << 4;
    v[j + 16] = (qs[j] >> 4) | int((qh >> (j + 16)) & 1u) << 4;
  }
}

}  // namespace

bool ggml_to_quant(GgmlType t, const uint8_t* src, int out, int in, QuantMatrix* dst) {
  if (!ggml_type_quantized(t) || in % kGgmlBlock) return false;
  const size_t blocks = static_cast<size_t>(out) * static_cast<size_t>(in / kGgmlBlock);
  const size_t bb = ggml_block_bytes(t);
  QuantMatrix& m = *dst;
  m.kind = t == GgmlType::q4_0 || t == GgmlType::q4_1 ? QuantKind::q4 : QuantKind::int8;
  m.out = out;
  m.in = in;
  m.group = kGgmlBlock;
  m.q.assign(blocks * (m.kind == QuantKind::q4 ? 16 : 32), 0);
  m.scale.resize(blocks);
  m.min.assign(blocks, 0);  // fp16 +0: no offset unless the block has one
  int v[kGgmlBlock];
  for (size_t b = 0; b < blocks; ++b, src += bb) {
    m.scale[b] = u16_at(src);
    if (t == GgmlType::q8_0) {
      for (int j = 0; j < kGgmlBlock; ++j) m.q[b * 32 + size_t(j)] = src[2 + j];
      continue;
    }
    block_values(t, src, v);
    if (t == GgmlType::q5_0) {  // (q - 16) d: int8 values in [-16, 15]
      for (int j = 0; j < kGgmlBlock; ++j) m.q[b * 32 + size_t(j)] = uint8_t(int8_t(v[j] - 16));
      continue;
    }
    if (t == GgmlType::q5_1) {  // q d + m: int8 values in [0, 31]
      m.min[b] = u16_at(src + 2);
      for (int j = 0; j < kGgmlBlock; ++j) m.q[b * 32 + size_t(j)] = uint8_t(v[j]);
      continue;
    }
    if (t == GgmlType::q4_1) {
      m.min[b] = u16_at(src + 2);
    } else {  // Q4_0: (q - 8) d = q d + (-8 d); -8 d is exact in fp16 unless it overflows
      const float d = f16_to_f32(m.scale[b]);
      m.min[b] = f32_to_f16(-8.0f * d);
      if (!std::isfinite(f16_to_f32(m.min[b])) || f16_to_f32(m.min[b]) != -8.0f * d) return false;
    }
    for (int j = 0; j < kGgmlBlock; j += 2) m.q[b * 16 + size_t(j / 2)] = uint8_t(v[j] | v[j + 1] << 4);
  }
  return true;
}

}  // namespace rwkv
