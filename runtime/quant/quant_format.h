// runtime/quant/quant_format.h: the two quantized weight formats (docs/quantization.md).
//
// A quantized matrix is W[out, in] as applied (y = W x, the nn.Linear layout of
// runtime/arch/weights.h), cut along `in` into groups of `group` consecutive
// elements of one row; every group has its own fp16 scale (and, for q4, an
// fp16 offset). Element (r, c) of group g = c / group:
//
//   int8: q int8 in [-127, 127], one byte each, row-major [out, in]
//         w = q * scale[r, g]
//   q4:   q in [0, 15], two per byte, row-major [out, in / 2]; byte j of a row
//         holds element 2j in its low nibble and element 2j + 1 in its high nibble
//         w = q * scale[r, g] + min[r, g]
//
// scale and min are fp16 bit patterns, row-major [out, in / group]. `in` is a
// multiple of 32 and `group` a multiple of 32 that divides it. Our quantizer
// takes group 64 (int8) and 128 (q4) where `in` allows (else the largest of
// 64, 32 that divides it); rwkv.cpp's Q8_0/Q5_0/Q4_0/Q4_1 blocks arrive as
// group 32 unchanged (runtime/model/read_ggml.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace rwkv {

enum class QuantKind : uint8_t { none = 0, int8 = 1, q4 = 2 };

const char* quant_kind_name(QuantKind k);  // "none", "int8", "q4"
// "int8"/"i8"/"q8", "q4"/"int4"/"i4"; false otherwise.
bool quant_kind_from_name(const std::string& s, QuantKind* out);

// The group our quantizer takes for rows of `in` elements (0: `in` is not a
// multiple of 32, the matrix cannot be quantized).
int default_quant_group(QuantKind k, int in);

// Bytes of the packed values of one row, and of the whole matrix with its
// scales (and offsets).
size_t quant_row_bytes(QuantKind k, int in);
size_t quant_matrix_bytes(QuantKind k, int out, int in, int group);

// A read-only view of a quantized matrix (into a file, or into a QuantMatrix).
struct QuantView {
  QuantKind kind = QuantKind::none;
  int out = 0, in = 0, group = 0;
  const uint8_t* q = nullptr;       // packed values, quant_row_bytes(kind, in) per row
  const uint16_t* scale = nullptr;  // fp16 [out, in / group]
  const uint16_t* min = nullptr;    // q4: fp16 [out, in / group]; int8: null
  bool valid() const { return kind != QuantKind::none; }
  int groups_per_row() const { return group > 0 ? in / group : 0; }
  // Row r as fp32 (`in` values).
  void dequantize_row(int r, float* dst) const;
  float at(int r, int c) const;
  size_t bytes() const { return quant_matrix_bytes(kind, out, in, group); }
};

// A quantized matrix that owns its bytes.
struct QuantMatrix {
  QuantKind kind = QuantKind::none;
  int out = 0, in = 0, group = 0;
  std::vector<uint8_t> q;
  std::vector<uint16_t> scale, min;  // min empty for int8
  QuantView view() const;
  size_t bytes() const { return quant_matrix_bytes(kind, out, in, group); }
};

// Quantizes W[out, in] (fp32, row-major) in groups of `group` (which must
// divide `in` and be a multiple of 32; rwkv::Error otherwise), rounding to
// nearest against the fp16-rounded scale (and offset) actually stored:
//   int8: scale = max|w| / 127 over the group;  q4: min = min w, scale = (max w - min w) / 15.
// Non-finite weights are refused (rwkv::Error naming `what`).
QuantMatrix quantize_matrix(QuantKind k, const float* w, int out, int in, int group,
                            const std::string& what);

// Copies a view into an owned matrix.
QuantMatrix copy_quant(const QuantView& v);

// The fp32 matrix a view stands for, [out, in] row-major.
std::vector<float> dequantize_matrix(const QuantView& v);

}  // namespace rwkv
