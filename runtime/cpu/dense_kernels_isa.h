// runtime/cpu/dense_kernels_isa.h: the interface between the dispatcher of
// runtime/cpu/dense_kernels.cpp and the per-ISA kernel files
// (dense_kernels_avx2.cpp, dense_kernels_avx512.cpp), compiled with their own
// -m flags (runtime/CMakeLists.txt). Those files include only this header and
// <immintrin.h> (the rule of quant_kernels_isa.h: no shared inline code built
// with AVX flags).
#pragma once

#include <cstddef>
#include <cstdint>

namespace rwkv {
namespace cpu {
namespace dense_isa {

// How a dense weight matrix stores its elements.
enum class Elem { f32, f16, bf16 };

// One product Y[m, r] = sum_c W[r, c] X[m, c], W row-major [out, in] in `elem`
// (fp16 / bf16 as their bits), X and Y fp32.
struct GemvTask {
  Elem elem = Elem::f32;
  int out = 0, in = 0;
  const void* w = nullptr;  // row r at element r * in
  const float* x = nullptr;
  size_t ldx = 0;
  int M = 0;
  float* y = nullptr;  // Y[m, r] at y + m * ldy + r
  size_t ldy = 0;
};

// Output rows [r0, r1) of the task, every m.
void gemv_avx2(const GemvTask& t, int r0, int r1);
void gemv_avx512(const GemvTask& t, int r0, int r1);

// Rows [r0, r1) of an fp16 / bf16 matrix as fp32 into dst (row r0 first, `in`
// floats each): exact conversions, the values of rwkv::f16_to_f32 / bf16_to_f32.
void expand_rows_avx2(const GemvTask& t, int r0, int r1, float* dst);
void expand_rows_avx512(const GemvTask& t, int r0, int r1, float* dst);

}  // namespace dense_isa
}  // namespace cpu
}  // namespace rwkv
