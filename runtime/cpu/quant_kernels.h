// runtime/cpu/quant_kernels.h: fast CPU products of quantized matrices
// (runtime/quant/quant_format.h, docs/quantization.md).
//
// Y[m, r] = sum_c W[r, c] X[m, c] for a few inputs m (decode): every packed
// weight byte is read from memory once per call and expanded in registers to
// exactly the fp32 weight QuantView::dequantize_row gives (fma(q, scale, min)
// for both kinds); products are summed in fp32. The result
// differs from the plain product (dequantize, then BLAS: cpu_ops.h,
// linear_rows_reference) only in the order of the fp32 sums.
//
// Variants by instruction set, chosen at run time: AVX-512 (F, BW, VL),
// AVX2 + FMA + F16C, and a portable scalar loop. One exception to "the same
// fp32 weights times the same inputs": the AVX-512 int8 product rounds its
// inputs to int16 first (round_inputs_int16, one scale per 32 inputs) and
// multiplies integers, so it computes W x~ with x~ within 2^-16 of each
// block's largest |x| of x (docs/quantization.md, "CPU kernels"); at many
// inputs (prefill) it does the same with vpdpwssd where the CPU has AVX-512
// VNNI. Weights stay int8 / 4-bit; no int8 activations (vpdpbusd), whose
// rounding would be 256 times coarser.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "runtime/cpu/quant_kernels_isa.h"
#include "runtime/quant/quant_format.h"

// The AVX2 and AVX-512 files (quant_kernels_avx*.cpp, dense_kernels_avx*.cpp) are
// built, with their own -m flags, for x86-64 GCC/Clang; the dispatchers call them then.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define RWKV_CPU_X86_KERNELS 1
#endif

namespace rwkv {
namespace cpu {

enum class QuantIsa { scalar, avx2, avx512 };

const char* quant_isa_name(QuantIsa isa);  // "scalar", "avx2", "avx512"
// Whether this build has the variant and this CPU runs it.
bool quant_isa_supported(QuantIsa isa);
// The fastest supported variant.
QuantIsa best_quant_isa();
// Every supported variant, scalar first.
std::vector<QuantIsa> supported_quant_isas();

// The most inputs M for which the fused kernels of `isa` beat the product
// for many inputs (measured on [3072, 768] matrices with the hidden timing case
// of tests/runtime/test_cpu_quant_kernels.cpp): against dequantized rows and
// BLAS, AVX-512 16, AVX2 4, scalar 0 (the plain product is faster there);
// int8 against the VNNI product (int8_rounded_gemm_supported), 8.
size_t quant_fused_max_inputs(QuantIsa isa, QuantKind kind);

// Whether the int8 product on rounded inputs runs at any number of inputs
// (quant_gemm_avx512vnni.cpp: `isa` is avx512 and the CPU has AVX-512 VNNI).
bool int8_rounded_gemm_supported(QuantIsa isa);

// Rounds `in` inputs (a multiple of 32) to int16 with one scale per block of
// 32: xs[b] = a / 32767 and xi[c] = round(x[c] * (32767 / a)) for the block's
// largest |x| a (xs = 0, xi = 0 for a block of zeros), so xs[b] * xi[c] is
// within (1/2 + a few ulps) xs[b] of x[c]. False, with nothing promised of
// the outputs, when a block holds a non-finite value or its scale would not be
// a normal fp32 number: the caller then multiplies the fp32 inputs.
bool round_inputs_int16(const float* x, int in, int16_t* xi, float* xs);

// One product Y = W X over a quantized W, prepared once per call (q4 lays its
// inputs out as even/odd halves, see quant_kernels_isa.h); rows() may then run
// on disjoint row ranges from several threads.
class QuantProduct {
 public:
  // many_inputs: an int8 product above the fused crossover, for
  // gemm_int8_rounded_vnni (only where int8_rounded_gemm_supported(isa)): the
  // constructor only sizes the packed inputs; pack_inputs fills them, then
  // finish_packing says whether every input could be rounded (else the
  // caller takes another product).
  // round_inputs false: int8 multiplies the fp32 inputs (the fp32-expansion
  // kernels) even under AVX-512.
  QuantProduct(const QuantView& w, const float* X, size_t ldx, size_t M, float* Y, size_t ldy,
               QuantIsa isa, bool many_inputs = false, bool round_inputs = true);
  // Y[m, r] for r in [r0, r1) and every m.
  void rows(int r0, int r1) const;

  // many_inputs: rounds and packs inputs [16 chunk, 16 chunk + 16) (and the
  // zeros past M); chunks are disjoint and may run on several threads.
  size_t input_chunks() const { return static_cast<size_t>(m_pad_) / 16; }
  void pack_inputs(size_t chunk);
  bool finish_packing();

 private:
  // int8 under AVX-512: X rounded to int16 (round_inputs_int16) and task_.xi,
  // xs, xg set, when every input row could be; else task_.xi stays null and
  // the fp32-input kernel runs.
  void round_int8_inputs(const float* X, size_t ldx, size_t M);

  QuantIsa isa_;
  std::vector<float> x_split_;  // q4 only
  std::vector<int16_t> x_int16_;         // rounded int8 inputs: M x in
  std::vector<float> x_scale_, x_group_;  // M x in / 32 block scales; M x groups sums
  // many_inputs (quant_kernels_isa.h, GemvTask::xp): in / 2 x m_pad pairs,
  // in / 32 x m_pad block scales, groups x m_pad group sums; whether each chunk rounded.
  const float* x_ = nullptr;
  size_t ldx_ = 0;
  int m_pad_ = 0;
  std::unique_ptr<int32_t[]> x_pairs_;
  std::unique_ptr<float[]> x_scale_t_, x_group_t_;
  std::vector<char> chunk_rounded_;
  quant_isa::GemvTask task_;
};

// Rows [r0, r1) of w as fp32, `w.in` floats each, row r0 first: bit for bit
// QuantView::dequantize_row, vectorised.
void dequantize_rows(QuantIsa isa, const QuantView& w, int r0, int r1, float* dst);

}  // namespace cpu
}  // namespace rwkv
