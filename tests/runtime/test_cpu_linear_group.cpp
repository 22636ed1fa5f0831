// tests/runtime/test_cpu_linear_group.cpp: cpu::linear_group (runtime/cpu/cpu_ops.h):
// each product of a group computes exactly what cpu::linear computes for it
// alone (fp32, fp16 and int8 weights; one input and many; 1-3 threads); every
// `after` runs once per row block, on rows already final, and can read the
// same rows of an earlier product of the same height; a product of a
// different height gets blocks in the same proportion; an exception thrown by
// `after` reaches the caller; more than kMaxGroupProducts is refused.
#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <random>
#include <stdexcept>
#include <vector>

#include "runtime/core/error.h"
#include "runtime/cpu/cpu_ops.h"

using rwkv::DType;
using rwkv::cpu::Product;

namespace {

rwkv::Linear random_linear(int out, int in, DType dtype, rwkv::QuantKind quant, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 0.1f);
  rwkv::Linear L;
  L.out = out;
  L.in = in;
  L.w.resize(static_cast<size_t>(out) * static_cast<size_t>(in));
  for (float& v : L.w) v = normal(rng);
  if (quant != rwkv::QuantKind::none) rwkv::quantize_linear(L, quant, "test matrix");
  rwkv::hold_linear_as(L, dtype);
  return L;
}

std::vector<float> random_vector(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

}  // namespace

TEST_CASE("cpu linear_group: each product equals cpu::linear alone, and `after` sees its final rows once",
          "[cpu][group]") {
  std::mt19937 rng(77);
  struct Kind {
    DType dtype;
    rwkv::QuantKind quant;
  };
  for (const Kind kind : {Kind{DType::f32, rwkv::QuantKind::none}, Kind{DType::f16, rwkv::QuantKind::none},
                          Kind{DType::f32, rwkv::QuantKind::int8}}) {
    // Two of height 160 and one of 480 (a taller one, as the channel mix's key).
    const int C = 128;
    const rwkv::Linear A = random_linear(160, C, kind.dtype, kind.quant, rng);
    const rwkv::Linear B = random_linear(160, C, kind.dtype, kind.quant, rng);
    const rwkv::Linear T = random_linear(480, C, kind.dtype, kind.quant, rng);
    for (int threads = 1; threads <= 3; ++threads) {
      rwkv::cpu::ThreadPool pool(threads);
      rwkv::cpu::LinearOptions options;
      options.min_macs_per_thread = 1;  // split even these small products
      for (size_t M : {size_t(1), size_t(3), size_t(40)}) {
        const std::vector<float> xa = random_vector(M * C, rng), xb = random_vector(M * C, rng),
                                 xt = random_vector(M * C, rng);
        std::vector<float> ya(M * 160), yb(M * 160), yt(M * 480);
        std::vector<float> wa(M * 160), wb(M * 160), wt(M * 480);  // alone
        rwkv::cpu::linear(pool, A, xa.data(), C, M, wa.data(), 160, options);
        rwkv::cpu::linear(pool, B, xb.data(), C, M, wb.data(), 160, options);
        rwkv::cpu::linear(pool, T, xt.data(), C, M, wt.data(), 480, options);

        // after(B): rows of B final, and the same rows of A already there;
        // after(T): its rows final. Each row seen once.
        std::vector<std::atomic<int>> seen_b(160), seen_t(480);
        std::atomic<int> wrong{0};
        auto after_b = [&](int r0, int r1) {
          for (int r = r0; r < r1; ++r) {
            seen_b[size_t(r)]++;
            for (size_t m = 0; m < M; ++m)
              if (yb[m * 160 + r] != wb[m * 160 + r] || ya[m * 160 + r] != wa[m * 160 + r]) wrong++;
          }
        };
        auto after_t = [&](int r0, int r1) {
          for (int r = r0; r < r1; ++r) {
            seen_t[size_t(r)]++;
            for (size_t m = 0; m < M; ++m)
              if (yt[m * 480 + r] != wt[m * 480 + r]) wrong++;
          }
        };
        const Product group[] = {{A, xa.data(), C, ya.data(), 160},
                                 {B, xb.data(), C, yb.data(), 160, after_b},
                                 {T, xt.data(), C, yt.data(), 480, after_t}};
        rwkv::cpu::linear_group(pool, M, group, 3, options);
        INFO("dtype " << rwkv::dtype_name(kind.dtype) << " quant " << rwkv::quant_kind_name(kind.quant)
                      << " threads " << threads << " M " << M);
        CHECK(ya == wa);
        CHECK(yb == wb);
        CHECK(yt == wt);
        CHECK(wrong.load() == 0);
        int once_b = 0, once_t = 0;
        for (auto& s : seen_b) once_b += s.load() == 1;
        for (auto& s : seen_t) once_t += s.load() == 1;
        CHECK(once_b == 160);
        CHECK(once_t == 480);
      }
    }
  }
}

TEST_CASE("cpu linear_group: an exception from `after` reaches the caller, and too many products are refused",
          "[cpu][group]") {
  std::mt19937 rng(5);
  const rwkv::Linear W = random_linear(64, 64, DType::f32, rwkv::QuantKind::none, rng);
  const std::vector<float> x = random_vector(64, rng);
  std::vector<float> y(64 * 5);
  rwkv::cpu::ThreadPool pool(2);
  rwkv::cpu::LinearOptions options;
  options.min_macs_per_thread = 1;
  const Product failing[] = {{W, x.data(), 64, y.data(), 64, [](int, int) { throw std::runtime_error("after failed"); }}};
  CHECK_THROWS_WITH(rwkv::cpu::linear_group(pool, 1, failing, 1, options), "after failed");
  const Product five[] = {{W, x.data(), 64, y.data(), 64},       {W, x.data(), 64, y.data() + 64, 64},
                          {W, x.data(), 64, y.data() + 128, 64}, {W, x.data(), 64, y.data() + 192, 64},
                          {W, x.data(), 64, y.data() + 256, 64}};
  CHECK_THROWS_AS(rwkv::cpu::linear_group(pool, 1, five, 5, options), rwkv::Error);
}
