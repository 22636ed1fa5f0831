// runtime/model/ggml_quant.cpp: ggml block dequantisation (see the header).
#include "runtime/model/ggml_quant.h"

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

}  // namespace rwkv
