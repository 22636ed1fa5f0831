// runtime/cpu/wkv_kernels.cpp: which vectorised WKV forms this CPU runs
// (runtime/cpu/wkv_kernels.h).
#include "runtime/cpu/wkv_kernels.h"

#include "runtime/cpu/cpu_layers.h"
#include "runtime/cpu/quant_kernels.h"

namespace rwkv {
namespace cpu {

bool wkv5_head_vector_supported(int N) { return wkv7_head_vector_supported(N); }

bool wkv7_head_vector_supported(int N) {
#if RWKV_CPU_X86_KERNELS
  // The avx512 variant of the matrix kernels needs F + BW + VL, a superset of this file's F.
  return N == 64 && quant_isa_supported(QuantIsa::avx512);
#else
  (void)N;
  return false;
#endif
}

#if !RWKV_CPU_X86_KERNELS
// No AVX-512 file in this build: never called (the *_vector_supported are false), defined for the linker.
void wkv5_head_avx512(int N, size_t A, size_t r0, size_t r1, int h, const float* r, const float* k,
                      const float* v, const float* w_rows, const float* w_fixed, const float* u, float* S,
                      float* y) {
  wkv5_head(N, A, r0, r1, h, r, k, v, w_rows, w_fixed, u, S, y);
}

void wkv7_head_avx512(int N, size_t A, size_t r0, size_t r1, int h, const float* r, const float* w,
                      const float* k, const float* v, const float* kk, const float* alpha, float* S, float* y) {
  wkv7_head(N, A, r0, r1, h, r, w, k, v, kk, alpha, S, y);
}
#endif

}  // namespace cpu
}  // namespace rwkv
