// Tests kernels/tile_mma.cu, and through it the fragment layout and arithmetic of
// kernels/common/mma.cuh, against a CPU product: D += A W^T for bf16 and fp16 tiles of several
// shapes (one tile, several tiles in both directions, K of 1 to 8 steps); and with fp32 tiles,
// the three-part and two-part splits of kernels/common/mma_split.cuh (their parts and their six
// or three products' order, bit for bit on the emulator; each split's accuracy on a GPU).
//
// Tolerances: the products of 16-bit values are exact in fp32; what differs is the summation.
// The emulator defines it (acc = D, then fmaf over k in order), so on the emulator the result must
// be that order's bits exactly. A GPU's tensor cores sum in an unspecified order with fp32
// accumulators, so there the bound is twice the classical one for K + 1 fp32 additions:
// |err| <= 2 (K + 1) 2^-24 (|D| + sum_k |A_mk W_nk|).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "gpu_test_util.h"
#include "kernels/tile_mma.cuh"
#include "runtime/core/half_float.h"

using gpu_test::DeviceBuffer;
using rwkv::DType;

namespace {

struct Shape {
  int M, N, K;
};

// D0 + A W^T by tile_mma with A and W in dtype t (values the caller made exact in t).
std::vector<float> run_tile_mma(DType t, Shape s, const std::vector<float>& A, const std::vector<float>& W,
                                const std::vector<float>& D0, int split_parts = 3) {
  DeviceBuffer dA = gpu_test::to_device(A, t), dW = gpu_test::to_device(W, t), dD = gpu_test::to_device(D0);
  rwkv_kernels::tile_mma_params p;
  p.A = dA.get();
  p.W = dW.get();
  p.D = dD.as<float>();
  p.M = s.M;
  p.N = s.N;
  p.K = s.K;
  p.dtype = t;
  p.split_parts = split_parts;
  REQUIRE(rwkv_kernels::tile_mma(p, nullptr) == cudaSuccess);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  CHECK(dD.guard_intact());
  return gpu_test::from_device(dD);
}

// Every output within its bound (bad counts those outside) and, on the emulator, every output
// the bits of the emulator's defined order (exact counts those).
void check_outputs(size_t bad, size_t exact, size_t outputs) {
  CHECK(bad == 0);
#if RWKV_CUDA_EMU
  CHECK(exact == outputs);
#else
  (void)exact;
  (void)outputs;
#endif
}

void check_product(DType t, Shape s, uint32_t seed) {
  CAPTURE(rwkv::dtype_name(t), s.M, s.N, s.K, seed);
  std::mt19937 rng(seed);
  const std::vector<float> A = gpu_test::random_floats(rng, (size_t)s.M * s.K, -2.0f, 2.0f, t);
  const std::vector<float> W = gpu_test::random_floats(rng, (size_t)s.N * s.K, -2.0f, 2.0f, t);
  const std::vector<float> D0 = gpu_test::random_floats(rng, (size_t)s.M * s.N, -4.0f, 4.0f);
  const std::vector<float> got = run_tile_mma(t, s, A, W, D0);

  size_t bad = 0, exact = 0;
  for (int m = 0; m < s.M; ++m)
    for (int n = 0; n < s.N; ++n) {
      const size_t at = (size_t)m * s.N + n;
      double want = D0[at], mag = std::fabs(D0[at]);
      float ordered = D0[at];  // the emulator's defined order
      for (int k = 0; k < s.K; ++k) {
        const float a = A[(size_t)m * s.K + k], w = W[(size_t)n * s.K + k];
        want += (double)a * w;
        mag += std::fabs((double)a * w);
        ordered = std::fma(a, w, ordered);
      }
      const double tol = 2.0 * (s.K + 1) * std::ldexp(mag, -24);
      if (!(std::fabs(got[at] - want) <= tol) && ++bad <= 3)
        UNSCOPED_INFO("D[" << m << "][" << n << "] got " << got[at] << " want " << want << " tol " << tol);
      exact += std::memcmp(&got[at], &ordered, sizeof(float)) == 0;
    }
  check_outputs(bad, exact, got.size());
}

// x = hi + mid + lo as kernels/common/mma_split.cuh splits it: each part the nearest bf16 (ties to
// even) of what the parts before it leave (every remainder is exact in fp32).
struct Parts {
  float part[3];  // hi, mid, lo
};
Parts split3(float x) {
  const float hi = rwkv::round_to_bf16(x), r = x - hi;
  const float mid = rwkv::round_to_bf16(r);
  return {{hi, mid, rwkv::round_to_bf16(r - mid)}};
}

// The part products (A part, W part) mma_split sums, in its order: with three parts lo*hi, mid*mid,
// hi*lo, mid*hi, hi*mid, hi*hi; with two mid*hi, hi*mid, hi*hi.
std::vector<std::pair<int, int>> split_order(int parts) {
  if (parts == 3) return {{2, 0}, {1, 1}, {0, 2}, {1, 0}, {0, 1}, {0, 0}};
  return {{1, 0}, {0, 1}, {0, 0}};
}

// fp32 A and W through a split of `parts`: on the emulator the bits of mma_split's order (per
// 16-wide step of K, each part product an fmaf over the step's k in order); everywhere within the
// split's error plus the fp32 bound of (products) K + 1 additions. The split's error bounds the
// dropped part products and what the parts leave of x: three parts below 2^-22 |a w| together;
// two parts: mid*mid' and the remainders x - hi - mid (each at most 2^-18 |x|), below 2^-16 |a w|.
void check_split_product(Shape s, uint32_t seed, int parts) {
  CAPTURE(s.M, s.N, s.K, seed, parts);
  std::mt19937 rng(seed);
  std::vector<float> A = gpu_test::random_floats(rng, (size_t)s.M * s.K, -2.0f, 2.0f);
  std::vector<float> W = gpu_test::random_floats(rng, (size_t)s.N * s.K, -2.0f, 2.0f);
  const std::vector<float> D0 = gpu_test::random_floats(rng, (size_t)s.M * s.N, -4.0f, 4.0f);
  // Ties of each rounding (1 + 2^-8: hi; 2^-8 + 2^-16 over 1: mid; ...: lo), a negative tie, and
  // values far apart in magnitude.
  A[0] = 1.0f + std::ldexp(1.0f, -8);
  A[1] = -(1.0f + 3 * std::ldexp(1.0f, -8));
  A[2] = 1.0f + std::ldexp(1.0f, -7) + std::ldexp(1.0f, -16);
  A[3] = 1.0f + std::ldexp(1.0f, -7) + std::ldexp(1.0f, -15) + std::ldexp(1.0f, -23);
  W[0] = std::ldexp(1.5f, -40);
  W[1] = -std::ldexp(1.0f, 30) * 1.2345678f;
  const std::vector<float> got = run_tile_mma(DType::f32, s, A, W, D0, parts);

  const std::vector<std::pair<int, int>> order = split_order(parts);
  const int split_error_exp = parts == 3 ? -22 : -16;
  size_t bad = 0, exact = 0;
  for (int m = 0; m < s.M; ++m)
    for (int n = 0; n < s.N; ++n) {
      const size_t at = (size_t)m * s.N + n;
      double want = D0[at], products = 0.0;
      for (int k = 0; k < s.K; ++k) {
        const double aw = (double)A[(size_t)m * s.K + k] * W[(size_t)n * s.K + k];
        want += aw;
        products += std::fabs(aw);
      }
      float ordered = D0[at];
      for (int k0 = 0; k0 < s.K; k0 += 16)
        for (const auto& [pa, pw] : order)
          for (int k = k0; k < k0 + 16; ++k)
            ordered = std::fma(split3(A[(size_t)m * s.K + k]).part[pa], split3(W[(size_t)n * s.K + k]).part[pw],
                               ordered);
      const double additions = (double)order.size() * s.K + 1;
      const double tol = std::ldexp(products, split_error_exp) +
                         2.0 * additions * std::ldexp(std::fabs(D0[at]) + products, -24);
      if (!(std::fabs(got[at] - want) <= tol) && ++bad <= 3)
        UNSCOPED_INFO("D[" << m << "][" << n << "] got " << got[at] << " want " << want << " tol " << tol);
      exact += std::memcmp(&got[at], &ordered, sizeof(float)) == 0;
    }
  check_outputs(bad, exact, got.size());
}

}  // namespace

TEST_CASE("tile_mma: fp32 tiles through the three-part bf16 split against the CPU product",
          "[gpu][kernels][mma]") {
  uint32_t seed = 31;
  for (Shape s : {Shape{16, 8, 16}, Shape{16, 8, 128}, Shape{32, 24, 64}}) check_split_product(s, seed++, 3);
}

TEST_CASE("tile_mma: fp32 tiles through the two-part bf16 split against the CPU product",
          "[gpu][kernels][mma]") {
  uint32_t seed = 41;
  for (Shape s : {Shape{16, 8, 16}, Shape{16, 8, 128}, Shape{32, 24, 64}}) check_split_product(s, seed++, 2);
}

TEST_CASE("tile_mma: D += A W^T on tensor-core tiles against the CPU product, bf16 and fp16",
          "[gpu][kernels][mma]") {
  uint32_t seed = 11;
  for (DType t : {DType::bf16, DType::f16})
    for (Shape s : {Shape{16, 8, 16}, Shape{16, 8, 128}, Shape{32, 24, 64}, Shape{48, 16, 32}})
      check_product(t, s, seed++);
}

TEST_CASE("tile_mma: a row of A and a row of W pick out one output (the fragment layout)",
          "[gpu][kernels][mma]") {
  // A = e_i (row i has a single 1 at column k), W = e_j (row j has a single 1 at column k): D gets
  // 1 exactly at (i, j) and nothing elsewhere, for every i, j, k of one tile: a misplaced register
  // or half of a fragment moves the 1.
  const int M = 16, N = 8, K = 16;
  for (int k : {0, 1, 6, 9, 15}) {
    for (int i = 0; i < M; ++i) {
      std::vector<float> A((size_t)M * K, 0.0f), W((size_t)N * K, 0.0f), D0((size_t)M * N, 0.0f);
      A[(size_t)i * K + k] = 1.0f;
      const int j = (i * 5 + k) % N;
      W[(size_t)j * K + k] = 1.0f;
      DeviceBuffer dA = gpu_test::to_device(A, DType::bf16), dW = gpu_test::to_device(W, DType::bf16),
                   dD = gpu_test::to_device(D0);
      rwkv_kernels::tile_mma_params p;
      p.A = dA.get();
      p.W = dW.get();
      p.D = dD.as<float>();
      p.M = M;
      p.N = N;
      p.K = K;
      REQUIRE(rwkv_kernels::tile_mma(p, nullptr) == cudaSuccess);
      const std::vector<float> got = gpu_test::from_device(dD);
      for (int m = 0; m < M; ++m)
        for (int n = 0; n < N; ++n) {
          INFO("k " << k << ", one at (" << i << ", " << j << "), D[" << m << "][" << n << "]");
          CHECK(got[(size_t)m * N + n] == (m == i && n == j ? 1.0f : 0.0f));
        }
    }
  }
}

TEST_CASE("tile_mma: invalid parameters give cudaErrorInvalidValue", "[gpu][kernels][mma]") {
  DeviceBuffer a(16 * 16 * 2), w(8 * 16 * 2), d(16 * 8 * 4);
  rwkv_kernels::tile_mma_params ok;
  ok.A = a.get();
  ok.W = w.get();
  ok.D = d.as<float>();
  ok.M = 16;
  ok.N = 8;
  ok.K = 16;
  auto with = [&](auto change) {
    rwkv_kernels::tile_mma_params p = ok;
    change(p);
    return rwkv_kernels::tile_mma(p, nullptr);
  };
  CHECK(with([](auto& p) { p.M = 0; }) == cudaSuccess);
  CHECK(with([](auto& p) { p.M = 8; }) == cudaErrorInvalidValue);
  CHECK(with([](auto& p) { p.N = 4; }) == cudaErrorInvalidValue);
  CHECK(with([](auto& p) { p.K = 8; }) == cudaErrorInvalidValue);
  CHECK(with([](auto& p) { p.K = 0; }) == cudaErrorInvalidValue);
  CHECK(with([](auto& p) { p.M = -16; }) == cudaErrorInvalidValue);
  CHECK(with([](auto& p) { p.dtype = static_cast<DType>(7); }) == cudaErrorInvalidValue);
  for (int parts : {0, 1, 4, -3}) {  // fp32's split: 2 or 3 parts; 16-bit tiles never read it
    CHECK(with([&](auto& p) { p.dtype = DType::f32, p.split_parts = parts; }) == cudaErrorInvalidValue);
    CHECK(with([&](auto& p) { p.split_parts = parts; }) == cudaSuccess);
  }
  CHECK(with([](auto& p) { p.W = nullptr; }) == cudaErrorInvalidValue);
  CHECK(with([&](auto& p) { p.D = static_cast<float*>(a.get()); }) == cudaErrorInvalidValue);
  CHECK(with([](auto&) {}) == cudaSuccess);
  CHECK(cudaDeviceSynchronize() == cudaSuccess);
}
