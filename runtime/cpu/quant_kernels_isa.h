// runtime/cpu/quant_kernels_isa.h: the interface between the dispatcher of
// runtime/cpu/quant_kernels.cpp and the per-ISA kernel files
// (quant_kernels_avx2.cpp, quant_kernels_avx512.cpp), which are compiled with
// their own -m flags (runtime/CMakeLists.txt). Those files include only this
// header and <immintrin.h>: an inline function of a shared header compiled
// there could carry AVX instructions into code that runs on any CPU.
#pragma once

#include <cstddef>
#include <cstdint>

namespace rwkv {
namespace cpu {
namespace quant_isa {

// One quantized product Y[m, r] = sum_c W[r, c] X[m, c] (runtime/quant/quant_format.h).
// int8: `x` is X itself (row m at x + m * ldx). q4: `x` holds, for every m, the
// even inputs X[m, 0], X[m, 2], ... (in / 2 floats) followed by the odd ones:
// byte j of a weight row then meets x_even[j] (low nibble) and x_odd[j] (high nibble).
struct GemvTask {
  bool q4 = false;
  int out = 0, in = 0, group = 0;
  const uint8_t* q = nullptr;       // packed rows, row_bytes apart
  size_t row_bytes = 0;
  const uint16_t* scale = nullptr;  // fp16 [out, in / group]
  const uint16_t* min = nullptr;    // fp16 [out, in / group]
  const float* x = nullptr;
  size_t ldx = 0;
  int M = 0;
  float* y = nullptr;  // Y[m, r] at y + m * ldy + r
  size_t ldy = 0;
  // int8 with rounded inputs (gemv_int8_rounded_avx512; quant_kernels.h
  // round_inputs_int16): per input m, `in` int16 values at xi + m * in, one
  // scale per block of 32 at xs + m * (in / 32), and the sums of the rounded
  // inputs over each weight group at xg + m * (in / group).
  const int16_t* xi = nullptr;
  const float* xs = nullptr;
  const float* xg = nullptr;
  // The same rounded inputs packed for the product at many inputs
  // (gemm_int8_rounded_vnni), M rounded up to m_pad (a multiple of 16, zeros
  // past M): xp[p * m_pad + m] = the int16 pair (xi[m][2p], xi[m][2p + 1]) in
  // one int32 (the first in the low half), xs_t[b * m_pad + m] = xs[m][b],
  // xg_t[g * m_pad + m] = xg[m][g].
  const int32_t* xp = nullptr;
  const float* xs_t = nullptr;
  const float* xg_t = nullptr;
  int m_pad = 0;
};

// Output rows [r0, r1) of the task, every m.
void gemv_avx2(const GemvTask& t, int r0, int r1);
void gemv_avx512(const GemvTask& t, int r0, int r1);

// The int8 product on rounded inputs (t.xi, t.xs, t.xg set): sum_g d_g *
// (sum_c q_c xi_c, exact in int32) * xs_b + m_g * xg_g. Needs AVX-512BW.
void gemv_int8_rounded_avx512(const GemvTask& t, int r0, int r1);

// The same product from the packed inputs (t.xp, t.xs_t, t.xg_t set), for
// many inputs: int32 sums of each block by vpdpwssd. Needs AVX-512 VNNI
// (quant_gemm_avx512vnni.cpp).
void gemm_int8_rounded_vnni(const GemvTask& t, int r0, int r1);

// The inputs of that product: X (M rows, ldx apart, `in` floats each) to be
// rounded as round_inputs_int16 rounds them, and the packed arrays to fill.
struct PackTask {
  const float* x = nullptr;
  size_t ldx = 0;
  int M = 0, in = 0, group = 0, m_pad = 0;
  int32_t* xp = nullptr;
  float* xs_t = nullptr;
  float* xg_t = nullptr;
};
// Rounds and packs inputs [16 chunk, 16 chunk + 16) (zeros past M); false if
// one of them could not be rounded (a non-finite input, a subnormal scale).
bool pack_inputs_vnni(const PackTask& k, int chunk);

// Rows [r0, r1) of the task's matrix expanded to fp32, `in` floats each, into
// dst (row r0 first): the values QuantView::dequantize_row gives, bit for bit.
void dequantize_rows_avx2(const GemvTask& t, int r0, int r1, float* dst);
void dequantize_rows_avx512(const GemvTask& t, int r0, int r1, float* dst);

}  // namespace quant_isa
}  // namespace cpu
}  // namespace rwkv
