// tests/runtime/test_cpu_dense_kernels.cpp: the CPU's dense products
// (runtime/cpu/dense_kernels.h) over fp32, fp16 and bf16 weights, every
// instruction-set variant this CPU runs, through cpu::linear with the variant
// and the kernel/BLAS switch forced, against the plain product
// cpu::linear_rows_reference of the same weight values (bound:
// cpu_product_check.h). Also: the widened rows equal rwkv::f16_to_f32 /
// bf16_to_f32 bit for bit, hold_linear_as rounds to nearest even, and a
// hidden timing case that measured the crossovers of dense_fused_max_inputs.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "cpu_product_check.h"
#include "runtime/core/half_float.h"
#include "runtime/cpu/cpu_ops.h"
#include "runtime/cpu/dense_kernels.h"

using cpu_product_check::check_against_reference;
using cpu_product_check::random_inputs;
using rwkv::DType;
using rwkv::cpu::QuantIsa;

namespace {

// A random [out, in] matrix held in `dtype`: normal weights, a few large ones.
rwkv::Linear random_dense_linear(DType dtype, int out, int in, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  rwkv::Linear L;
  L.out = out;
  L.in = in;
  L.w.resize(static_cast<size_t>(out) * static_cast<size_t>(in));
  for (float& v : L.w) v = (rng() % 97 == 0 ? 1.0f : 0.05f) * normal(rng);
  rwkv::hold_linear_as(L, dtype);
  return L;
}

}  // namespace

TEST_CASE("cpu dense products: fp32, fp16 and bf16 weights, every ISA variant, equal the plain product",
          "[cpu][dense]") {
  std::mt19937 rng(4321);
  const std::vector<QuantIsa> isas = rwkv::cpu::supported_quant_isas();
  std::vector<std::unique_ptr<rwkv::cpu::ThreadPool>> pools;
  for (int n = 1; n <= 3; ++n) pools.push_back(std::make_unique<rwkv::cpu::ThreadPool>(n));
  const float pad = 12345.0f;
  for (DType dtype : {DType::f32, DType::f16, DType::bf16}) {
    // Widths with and without a tail after the 64-, 16- and 8-lane bodies.
    for (int in : {5, 16, 24, 77, 100, 256}) {
      for (int out : {1, 7, 37, 77}) {
        const rwkv::Linear L = random_dense_linear(dtype, out, in, rng);
        REQUIRE(L.dense_dtype() == dtype);
        const size_t ldx = static_cast<size_t>(in) + 3, ldy = static_cast<size_t>(out) + 5;
        for (size_t M : {1, 2, 3, 4, 5, 8, 17}) {
          const std::vector<float> X = random_inputs(M * ldx, rng);
          for (QuantIsa isa : isas) {
            for (int fused_max : {0, 64, -1}) {  // BLAS, the kernels, the default
              for (auto& pool : pools) {
                INFO(rwkv::dtype_name(dtype) << " [" << out << ", " << in << "] M " << M << " "
                                             << rwkv::cpu::quant_isa_name(isa) << " fused_max " << fused_max
                                             << " threads " << pool->size());
                rwkv::cpu::LinearOptions opt;
                opt.isa = isa;
                opt.dense_fused_max_inputs = fused_max;
                opt.min_macs_per_thread = 1;
                std::vector<float> Y(M * ldy, pad);
                rwkv::cpu::linear(*pool, L, X.data(), ldx, M, Y.data(), ldy, opt);
                check_against_reference(L, X, ldx, M, Y, ldy, pad);
              }
            }
          }
        }
      }
    }
  }
}

TEST_CASE("cpu dense rows widened by every ISA variant equal the scalar conversions bit for bit", "[cpu][dense]") {
  std::mt19937 rng(17);
  for (DType dtype : {DType::f16, DType::bf16}) {
    for (int in : {3, 16, 40}) {
      rwkv::Linear L;
      L.out = 6;
      L.in = in;
      L.h_dtype = dtype;
      L.h.resize(static_cast<size_t>(L.out) * in);
      for (uint16_t& b : L.h) b = static_cast<uint16_t>(rng());  // every bit pattern, NaN and Inf included
      std::vector<float> want;
      for (uint16_t b : L.h) want.push_back(dtype == DType::f16 ? rwkv::f16_to_f32(b) : rwkv::bf16_to_f32(b));
      for (QuantIsa isa : rwkv::cpu::supported_quant_isas()) {
        INFO(rwkv::dtype_name(dtype) << " in " << in << " " << rwkv::cpu::quant_isa_name(isa));
        std::vector<float> got(static_cast<size_t>(4) * in);
        rwkv::cpu::expand_dense_rows(isa, rwkv::cpu::dense_view(L), 1, 5, got.data());
        // Bitwise: NaN payloads too.
        CHECK(std::memcmp(got.data(), want.data() + in, got.size() * sizeof(float)) == 0);
      }
    }
  }
}

TEST_CASE("hold_linear_as rounds fp32 to fp16 / bf16 to nearest even and keeps the shape", "[cpu][dense]") {
  rwkv::Linear L;
  L.out = 1;
  L.in = 3;
  // 1 + 2^-8 is halfway between two bf16 values (ties to the even 1.0); 1 + 3 * 2^-9 rounds up.
  L.w = {1.0f + std::ldexp(1.0f, -8), 1.0f + 3 * std::ldexp(1.0f, -9), -2.5f};
  rwkv::Linear b = L, h = L, q = L;
  rwkv::hold_linear_as(b, DType::bf16);
  rwkv::hold_linear_as(h, DType::f16);
  CHECK(b.w.empty());
  CHECK(b.held_bytes() == 6);
  CHECK(b.to_f32() == std::vector<float>{1.0f, 1.0f + std::ldexp(1.0f, -7), -2.5f});
  CHECK(h.to_f32() == L.to_f32());  // all three are fp16 values
  rwkv::hold_linear_as(q, DType::f32);
  CHECK(q.w == L.w);
  CHECK(!q.half());
}

TEST_CASE("cpu dense products: timing of the kernels against BLAS", "[.][bench]") {
  std::mt19937 rng(7);
  rwkv::cpu::ThreadPool pool(1);
  // [3072, 768] / [768, 3072] stay in the L3 cache; [65536, 768] (a v7 0.1B head) streams from memory.
  for (DType dtype : {DType::f32, DType::f16, DType::bf16}) {
    for (const auto& shape : std::vector<std::pair<int, int>>{{3072, 768}, {768, 3072}, {65536, 768}}) {
      const auto [out, in] = shape;
      const rwkv::Linear L = random_dense_linear(dtype, out, in, rng);
      for (size_t M : {1, 2, 4, 8, 16, 32}) {
        if (out > 4096 && M > 1) break;
        const std::vector<float> X = random_inputs(M * in, rng);
        std::vector<float> Y(M * out);
        auto time_us = [&](auto&& fn) {
          fn();
          double best = 1e30;
          for (int i = 0; i < (out > 4096 ? 10 : 30); ++i) {
            const auto t0 = std::chrono::steady_clock::now();
            fn();
            best = std::min(best, std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
          }
          return best;
        };
        std::printf("%s [%d, %d] M %2zu:", rwkv::dtype_name(dtype), out, in, M);
        for (QuantIsa isa : rwkv::cpu::supported_quant_isas()) {
          for (int fused_max : {0, 64}) {
            rwkv::cpu::LinearOptions opt;
            opt.isa = isa;
            opt.dense_fused_max_inputs = fused_max;
            const double t = time_us([&] { rwkv::cpu::linear(pool, L, X.data(), in, M, Y.data(), out, opt); });
            std::printf("  %s/%s %8.1f us (%5.1f GB/s)", rwkv::cpu::quant_isa_name(isa), fused_max ? "kernel" : "blas", t,
                        double(L.held_bytes()) / (t * 1e3));
          }
        }
        std::printf("\n");
      }
    }
  }
}
