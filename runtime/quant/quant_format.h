// runtime/quant/quant_format.h: the two quantized weight formats (docs/quantization.md).
//
// A quantized matrix is W[out, in] as applied (y = W x, the nn.Linear layout of
// runtime/arch/weights.h), cut along `in` into groups of `group` consecutive
// elements of one row; every group has its own fp16 scale d and fp16 offset m.
// Element (r, c) of group g = c / group is
//
//   w = q * d[r, g] + m[r, g]
//
//   int8: q signed, [-128, 127], one byte each, row-major [out, in]
//   q4:   q unsigned, [0, 15], two per byte, row-major [out, in / 2]; byte j of a
//         row holds element 2j in its low nibble and element 2j + 1 in its high one
//
// d (`scale`) and m (`min`) are fp16 bit patterns, row-major [out, in / group].
// `in` is a multiple of 32 and `group` a multiple of 32 that divides it.
// Our quantizer takes the group of default_quant_group (int8: at most 1024
// elements, at least 4 groups a row; q4: at most 128, at least 8); rwkv.cpp's blocks of 32 arrive unchanged
// (runtime/model/read_ggml.cpp): Q8_0 (q, d, 0), Q5_0 (q - 16, d, 0) and Q5_1
// (q, d, m) as int8, Q4_0 (q, d, -8d) and Q4_1 (q, d, m) as q4, all exact.
// Why an offset and small groups: docs/quantization.md, "Accuracy".
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/core/huge_page_arena.h"

namespace rwkv {

enum class QuantKind : uint8_t { none = 0, int8 = 1, q4 = 2 };

const char* quant_kind_name(QuantKind k);  // "none", "int8", "q4"
// "int8"/"i8"/"q8", "q4"/"int4"/"i4"; false otherwise.
bool quant_kind_from_name(const std::string& s, QuantKind* out);

// The group our quantizer takes for rows of `in` elements: the largest power of
// two up to 1024 (int8) or 128 (q4) that divides `in` and leaves at least 4
// (int8) or 8 (q4) groups a row (32 when none does); 0 when `in` is not a multiple of 32 (the
// matrix cannot be quantized).
int default_quant_group(QuantKind k, int in);

// Whether quantizing a model to `k` quantizes its output head (head.weight) too:
// q4 does (a 7B model's memory target needs it); int8 keeps the head dense,
// because an 8-bit head flips the argmax at near-tied logits
// (docs/quantization.md, "Accuracy"). load_weights, `rwkv-run quantize` and the
// weight-bytes estimate all follow this one rule.
inline bool quant_kind_covers_head(QuantKind k) { return k == QuantKind::q4; }

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
  const uint16_t* min = nullptr;    // fp16 [out, in / group]
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
  HeldVector<uint8_t> q;
  HeldVector<uint16_t> scale, min;
  QuantView view() const;
  size_t bytes() const { return quant_matrix_bytes(kind, out, in, group); }
};

// Quantizes W[out, in] (fp32, row-major) in groups of `group` (which must
// divide `in` and be a multiple of 32; rwkv::Error otherwise), rounding to
// nearest against the fp16-rounded scale and offset actually stored. Over a
// group with values in [lo, hi] and L = 255 (int8) or 15 (q4) steps:
//   d = (hi - lo) / L,  m = lo - q_min d  (int8: q_min = -128, so m = lo + 128 d; q4: m = lo):
// the grid of 2^bits levels runs from lo to hi.
// Non-finite weights are refused (rwkv::Error naming `what`).
QuantMatrix quantize_matrix(QuantKind k, const float* w, int out, int in, int group,
                            const std::string& what);

// Copies a view into an owned matrix.
QuantMatrix copy_quant(const QuantView& v);

// The fp32 matrix a view stands for, [out, in] row-major.
std::vector<float> dequantize_matrix(const QuantView& v);

}  // namespace rwkv
