// runtime/model/ggml_quant.h: the tensor types of rwkv.cpp's ggml files and
// their dequantisation to fp32 (ggml's block layouts, 32 elements a block).
//
//   Q4_0: f16 d, u8 qs[16]                 x = (q - 8) * d
//   Q4_1: f16 d, f16 m, u8 qs[16]          x = q * d + m
//   Q5_0: f16 d, u8 qh[4], u8 qs[16]       x = (q - 16) * d
//   Q5_1: f16 d, f16 m, u8 qh[4], qs[16]   x = q * d + m
//   Q8_0: f16 d, i8 qs[32]                 x = q * d
// Element j < 16 takes the low nibble of qs[j], element j + 16 the high nibble;
// Q5 adds bit j (resp. j + 16) of the little-endian qh as bit 4.
#pragma once

#include <cstddef>
#include <cstdint>

#include "runtime/quant/quant_format.h"

namespace rwkv {

enum class GgmlType : int32_t { f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 7, q5_1 = 8, q8_0 = 9 };

// False for type numbers rwkv.cpp files never use (including ggml's
// removed Q4_2/Q4_3 = 4, 5).
bool ggml_type_known(int32_t t);
const char* ggml_type_name(GgmlType t);
bool ggml_type_quantized(GgmlType t);

// Bytes per block of 32 elements (quantised types) or per element (f32/f16).
size_t ggml_block_bytes(GgmlType t);
constexpr int kGgmlBlock = 32;

// Bytes that `n` elements take; n must be a multiple of 32 for quantised types.
uint64_t ggml_nbytes(GgmlType t, uint64_t n);

// Dequantises `n` elements (a multiple of 32) of a quantised type to fp32.
void ggml_dequantize(GgmlType t, const uint8_t* src, uint64_t n, float* dst);

// The blocks of an [out, in] matrix (rows of `in` elements, a multiple of 32) as
// one of our formats with group 32 (runtime/quant/quant_format.h), so rwkv.cpp's
// quantized matrices stay quantized (docs/quantization.md):
//   Q8_0 -> int8 q, scale d, offset 0       Q5_0 -> int8 q - 16, scale d, offset 0
//   Q5_1 -> int8 q, scale d, offset m       Q4_0 -> q4 q, scale d, offset -8d
//   Q4_1 -> q4 q, scale d, offset m         (all exact)
// "Exact" means every element dequantizes to ggml_dequantize's value. False (and
// `dst` unspecified) when a block cannot be held exactly (Q4_0's offset -8d out of
// fp16 range): the caller expands to fp32.
bool ggml_to_quant(GgmlType t, const uint8_t* src, int out, int in, QuantMatrix* dst);

}  // namespace rwkv
