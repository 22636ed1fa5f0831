// runtime/cpu/wkv_kernels.h: vectorised forms of the per-head WKV recurrences
// of runtime/cpu/cpu_layers.h, chosen at run time (AVX-512 where the CPU has
// it), tested against the plain loops (tests/runtime/test_cpu_wkv_kernels.cpp).
// They compute the same recurrence; only the order of the fp32 sums and the
// fused multiply-adds differ.
#pragma once

#include <cstddef>

namespace rwkv {
namespace cpu {

// Whether wkv5_head_avx512 runs here for heads of N channels (AVX-512F and N = 64).
bool wkv5_head_vector_supported(int N);

// wkv5_head (cpu_layers.h, v5 and v6) for N = 64, each row of S in 4 vectors of 16 lanes.
void wkv5_head_avx512(int N, size_t A, size_t r0, size_t r1, int h, const float* r, const float* k,
                      const float* v, const float* w_rows, const float* w_fixed, const float* u, float* S,
                      float* y);

// Whether wkv7_head_avx512 runs here for heads of N channels (AVX-512F and N = 64).
bool wkv7_head_vector_supported(int N);

// wkv7_head (cpu_layers.h) for N = 64, each row of S in 4 vectors of 16 lanes.
void wkv7_head_avx512(int N, size_t A, size_t r0, size_t r1, int h, const float* r, const float* w,
                      const float* k, const float* v, const float* kk, const float* alpha, float* S, float* y);

}  // namespace cpu
}  // namespace rwkv
