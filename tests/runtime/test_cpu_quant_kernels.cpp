// tests/runtime/test_cpu_quant_kernels.cpp: the fast quantized products of
// runtime/cpu/quant_kernels.h (every instruction-set variant this CPU runs,
// through cpu::linear with the variant forced) against the plain product
// cpu::linear_rows_reference, on random int8 and q4 matrices.
//
// Bound: both sides multiply the same fp32 weights (the kernels expand each
// weight to exactly QuantView::dequantize_row's value; checked bit for bit
// below) by the same inputs and differ only in the order of the fp32 sums
// (cpu_product_check.h).
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <tuple>
#include <vector>

#include "cpu_product_check.h"
#include "runtime/cpu/cpu_ops.h"
#include "runtime/cpu/quant_kernels.h"

using cpu_product_check::check_against_reference;
using cpu_product_check::random_inputs;

namespace {

using rwkv::QuantKind;
using rwkv::cpu::QuantIsa;

// A random [out, in] matrix quantized in groups of `group`: normal weights with
// a per-row offset (so q4 groups have non-zero minima of either sign) and a few
// large ones.
rwkv::Linear random_quant_linear(QuantKind kind, int out, int in, int group, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> w(static_cast<size_t>(out) * static_cast<size_t>(in));
  for (int r = 0; r < out; ++r) {
    const float offset = 0.3f * normal(rng);
    for (int c = 0; c < in; ++c) {
      float v = 0.05f * normal(rng) + 0.02f * offset;
      if (rng() % 97 == 0) v *= 20.0f;
      w[static_cast<size_t>(r) * in + c] = v;
    }
  }
  rwkv::Linear L;
  L.out = out;
  L.in = in;
  L.q = rwkv::quantize_matrix(kind, w.data(), out, in, group, "test matrix");
  return L;
}

}  // namespace

TEST_CASE("cpu quantized products: every ISA variant equals the plain product to summation rounding",
          "[cpu][quant]") {
  std::mt19937 rng(1234);
  const std::vector<QuantIsa> isas = rwkv::cpu::supported_quant_isas();
  std::string names;
  for (QuantIsa isa : isas) names += std::string(rwkv::cpu::quant_isa_name(isa)) + " ";
  WARN("quantized kernel variants on this CPU: " << names);
  REQUIRE(isas.front() == QuantIsa::scalar);
  std::vector<std::unique_ptr<rwkv::cpu::ThreadPool>> pools;
  for (int n = 1; n <= 3; ++n) pools.push_back(std::make_unique<rwkv::cpu::ThreadPool>(n));
  const float pad = 12345.0f;
  for (QuantKind kind : {QuantKind::int8, QuantKind::q4}) {
    for (int group : {32, 64, 128}) {
      const int in = 3 * group;
      for (int out : {1, 7, 37, 77}) {
        const rwkv::Linear L = random_quant_linear(kind, out, in, group, rng);
        const size_t ldx = static_cast<size_t>(in) + 3, ldy = static_cast<size_t>(out) + 5;
        for (size_t M = 1; M <= 20; ++M) {
          const std::vector<float> X = random_inputs(M * ldx, rng);
          for (QuantIsa isa : isas) {
            for (int fused_max : {0, 64, -1}) {  // dequantize + BLAS, fused, the default
              for (auto& pool : pools) {
                INFO(rwkv::quant_kind_name(kind) << " group " << group << " [" << out << ", " << in << "] M " << M
                                                 << " " << rwkv::cpu::quant_isa_name(isa) << " fused_max "
                                                 << fused_max << " threads " << pool->size());
                rwkv::cpu::LinearOptions opt;
                opt.isa = isa;
                opt.fused_max_inputs = fused_max;
                opt.min_macs_per_thread = 1;  // split whenever there are 16 rows per thread
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

TEST_CASE("cpu quantized rows dequantized by every ISA variant are QuantView::dequantize_row bit for bit",
          "[cpu][quant]") {
  std::mt19937 rng(99);
  for (QuantKind kind : {QuantKind::int8, QuantKind::q4}) {
    for (int group : {32, 64, 128}) {
      const rwkv::Linear L = random_quant_linear(kind, 9, 2 * group, group, rng);
      const rwkv::QuantView q = L.q.view();
      const std::vector<float> want = rwkv::dequantize_matrix(q);
      for (QuantIsa isa : rwkv::cpu::supported_quant_isas()) {
        INFO(rwkv::quant_kind_name(kind) << " group " << group << " " << rwkv::cpu::quant_isa_name(isa));
        std::vector<float> got(static_cast<size_t>(7) * L.in);
        rwkv::cpu::dequantize_rows(isa, q, 2, 9, got.data());
        CHECK(std::equal(got.begin(), got.end(), want.begin() + 2 * L.in));
      }
    }
  }
}

TEST_CASE("cpu quantized products: timing of each variant against the plain product", "[.][bench]") {
  std::mt19937 rng(7);
  rwkv::cpu::ThreadPool pool(1);
  // [3072, 768] stays in the L3 cache; [65536, 768] (a v7 0.1B head) streams from memory.
  for (const auto& [kind, out, in, max_M] : std::vector<std::tuple<QuantKind, int, int, size_t>>{
           {QuantKind::int8, 3072, 768, 64}, {QuantKind::q4, 3072, 768, 64},
           {QuantKind::int8, 65536, 768, 1}, {QuantKind::q4, 65536, 768, 1}}) {
    const rwkv::Linear L = random_quant_linear(kind, out, in, rwkv::default_quant_group(kind, in), rng);
    for (size_t M : {1, 2, 4, 8, 16, 64}) {
      if (M > max_M) break;
      const std::vector<float> X = random_inputs(M * in, rng);
      std::vector<float> Y(M * out);
      // The fastest of several runs: the machine is shared, the minimum is the least disturbed.
      auto time_us = [&](auto&& fn) {
        fn();
        double best = 1e30;
        for (int i = 0; i < (M >= 16 ? 5 : 30); ++i) {
          const auto t0 = std::chrono::steady_clock::now();
          fn();
          best = std::min(best, std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
        }
        return best;
      };
      const double ref = time_us([&] { rwkv::cpu::linear_rows_reference(L, 0, out, X.data(), in, M, Y.data(), out); });
      rwkv::Linear dense;
      dense.out = out;
      dense.in = in;
      dense.w = L.to_f32();
      const double fp32 = time_us([&] { rwkv::cpu::linear_rows_reference(dense, 0, out, X.data(), in, M, Y.data(), out); });
      std::printf("%s [%d, %d] M %2zu: fp32 %8.1f us, reference %8.1f us", rwkv::quant_kind_name(kind), out, in, M,
                  fp32, ref);
      for (QuantIsa isa : rwkv::cpu::supported_quant_isas()) {
        for (int fused_max : {0, 64}) {
          rwkv::cpu::LinearOptions opt;
          opt.isa = isa;
          opt.fused_max_inputs = fused_max;
          const double t = time_us([&] { rwkv::cpu::linear(pool, L, X.data(), in, M, Y.data(), out, opt); });
          std::printf("  %s/%s %8.1f", rwkv::cpu::quant_isa_name(isa), fused_max ? "fused" : "blas", t);
        }
      }
      std::printf("   (weights %.0f KiB)\n", L.q.bytes() / 1024.0);
    }
  }
}
