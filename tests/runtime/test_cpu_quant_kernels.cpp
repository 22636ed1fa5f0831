// tests/runtime/test_cpu_quant_kernels.cpp: the fast quantized products of
// runtime/cpu/quant_kernels.h (every instruction-set variant this CPU runs,
// through cpu::linear with the variant forced) against the plain product
// cpu::linear_rows_reference, on random int8 and q4 matrices.
//
// Bound: both sides multiply the same fp32 weights (the kernels expand each
// weight to exactly QuantView::dequantize_row's value; checked bit for bit
// below) by the same inputs and differ only in the order of the fp32 sums
// (cpu_product_check.h). The one exception, the AVX-512 int8 product at few
// inputs, multiplies the inputs rounded to int16 (round_inputs_int16, tested
// on its own below): it is checked against the exact product with those
// rounded inputs (check_rounded_int8).
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <tuple>
#include <vector>

#include "cpu_product_check.h"
#include "runtime/core/half_float.h"
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

// The AVX-512 int8 product computes W x~, x~ = the inputs as round_inputs_int16
// rounds them (xs_b * xi_c): checked against that product in double, within
// gamma_{K+8} sum_c (|q_c| d_g + |m_g|) |x~_c|. Its roundings: one fp32 product
// d_g * xs_b per block, the block's integer sum and its conversion exact, one
// product and one fp32 sum per block and lane, the groups' sums of x~ for the
// offsets, and 5 sums across lanes: fewer than K + 8 in all.
void check_rounded_int8(const rwkv::Linear& L, const std::vector<float>& X, size_t ldx, size_t M,
                        const std::vector<float>& Y, size_t ldy, float pad) {
  const rwkv::QuantView q = L.q.view();
  const int K = L.in, G = q.groups_per_row();
  const size_t row_bytes = rwkv::quant_row_bytes(q.kind, K);
  const double g = cpu_product_check::gamma_n(K + 8);
  std::vector<int16_t> xi(static_cast<size_t>(K));
  std::vector<float> xs(static_cast<size_t>(K / 32));
  int bad = 0;
  for (size_t m = 0; m < M; ++m) {
    REQUIRE(rwkv::cpu::round_inputs_int16(X.data() + m * ldx, K, xi.data(), xs.data()));
    for (size_t r = 0; r < ldy; ++r) {
      const float got = Y[m * ldy + r];
      if (r >= static_cast<size_t>(L.out)) {
        if (got != pad && bad++ < 5) FAIL_CHECK("padding overwritten at m " << m << " r " << r);
        continue;
      }
      double exact = 0.0, magnitude = 0.0;
      for (int c = 0; c < K; ++c) {
        const size_t gi = r * static_cast<size_t>(G) + static_cast<size_t>(c / q.group);
        const double d = rwkv::f16_to_f32(q.scale[gi]), mn = rwkv::f16_to_f32(q.min[gi]);
        const double qc = static_cast<int8_t>(q.q[r * row_bytes + static_cast<size_t>(c)]);
        const double xc = static_cast<double>(xs[static_cast<size_t>(c / 32)]) * xi[static_cast<size_t>(c)];
        exact += (qc * d + mn) * xc;
        magnitude += (std::fabs(qc) * std::fabs(d) + std::fabs(mn)) * std::fabs(xc);
      }
      const double err = std::fabs(double(got) - exact);
      if (!(err <= g * magnitude) && bad++ < 5)
        FAIL_CHECK("m " << m << " r " << r << ": " << got << " vs exact " << exact << ", bound " << g * magnitude);
    }
  }
  CHECK(bad == 0);
}

// Whether cpu::linear with these options takes the AVX-512 int8 product on
// rounded inputs: up to the fused crossover, and above it with AVX-512 VNNI.
bool rounds_inputs(QuantKind kind, const rwkv::cpu::LinearOptions& opt, size_t M) {
  const size_t most = opt.fused_max_inputs >= 0 ? static_cast<size_t>(opt.fused_max_inputs)
                                                : rwkv::cpu::quant_fused_max_inputs(opt.isa, kind);
  if (kind != QuantKind::int8 || opt.isa != QuantIsa::avx512) return false;
  if (!opt.int8_rounded_inputs) return false;
  return M <= most || rwkv::cpu::int8_rounded_gemm_supported(opt.isa);
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
            // dequantize + BLAS (fp32 inputs), the many-input int8 product (VNNI) or BLAS, the fused
            // kernels on fp32 inputs, the fused kernels, the default
            for (auto [fused_max, rounded] : {std::pair{0, false}, std::pair{0, true}, std::pair{64, false},
                                              std::pair{64, true}, std::pair{-1, true}}) {
              for (auto& pool : pools) {
                INFO(rwkv::quant_kind_name(kind) << " group " << group << " [" << out << ", " << in << "] M " << M
                                                 << " " << rwkv::cpu::quant_isa_name(isa) << " fused_max "
                                                 << fused_max << " int8 rounded " << rounded << " threads " << pool->size());
                rwkv::cpu::LinearOptions opt;
                opt.isa = isa;
                opt.fused_max_inputs = fused_max;
                opt.int8_rounded_inputs = rounded;
                opt.min_macs_per_thread = 1;  // split whenever there are 16 rows per thread
                std::vector<float> Y(M * ldy, pad);
                rwkv::cpu::linear(*pool, L, X.data(), ldx, M, Y.data(), ldy, opt);
                if (rounds_inputs(kind, opt, M))
                  check_rounded_int8(L, X, ldx, M, Y, ldy, pad);
                else
                  check_against_reference(L, X, ldx, M, Y, ldy, pad);
              }
            }
          }
        }
      }
    }
  }
}

TEST_CASE("cpu int8 product on rounded inputs: groups that fill, split and span the 16-block chunks",
          "[cpu][quant]") {
  if (!rwkv::cpu::quant_isa_supported(QuantIsa::avx512)) {
    WARN("no AVX-512 (F, BW, VL) here: the int8 product on rounded inputs is not run");
    return;
  }
  std::mt19937 rng(4321);
  rwkv::cpu::ThreadPool pool(2);
  const float pad = -777.0f;
  // (group, in): 32 blocks per chunk of 16 with a partial last chunk; a group of 3 blocks
  // (scales per block filled one by one); 16 and 32 blocks per group (one scale per chunk).
  for (const auto& [group, in] : std::vector<std::pair<int, int>>{{32, 32 * 40}, {96, 96 * 5}, {512, 1024}, {1024, 2048}}) {
    const rwkv::Linear L = random_quant_linear(QuantKind::int8, 37, in, group, rng);
    const size_t ldx = static_cast<size_t>(in) + 1, ldy = 40;
    for (size_t M : {size_t{1}, size_t{3}, size_t{6}, size_t{33}, size_t{50}}) {  // 33, 50: the many-input product
      INFO("group " << group << " in " << in << " M " << M);
      std::vector<float> X = random_inputs(M * ldx, rng);
      for (size_t c = 0; c < static_cast<size_t>(in); c += 97) X[c] *= 300.0f;  // outliers in some blocks
      std::fill(X.begin() + 64, X.begin() + 96, 0.0f);                          // a block of zeros
      rwkv::cpu::LinearOptions opt;
      opt.isa = QuantIsa::avx512;
      opt.min_macs_per_thread = 1;
      std::vector<float> Y(M * ldy, pad);
      rwkv::cpu::linear(pool, L, X.data(), ldx, M, Y.data(), ldy, opt);
      check_rounded_int8(L, X, ldx, M, Y, ldy, pad);
    }
  }
}

TEST_CASE("cpu int8 product at many inputs: panels of rows, row tiles and input vectors with remainders",
          "[cpu][quant]") {
  if (!rwkv::cpu::int8_rounded_gemm_supported(QuantIsa::avx512)) {
    WARN("no AVX-512 VNNI here: the int8 product at many inputs is not run");
    return;
  }
  std::mt19937 rng(99);
  std::vector<std::unique_ptr<rwkv::cpu::ThreadPool>> pools;
  for (int n = 1; n <= 3; ++n) pools.push_back(std::make_unique<rwkv::cpu::ThreadPool>(n));
  const float pad = 31.0f;
  // Rows: one, less than a tile (6), a tile, a panel (48) and either side of it, several panels.
  for (int out : {1, 5, 6, 47, 48, 49, 101, 160}) {
    const rwkv::Linear L = random_quant_linear(QuantKind::int8, out, 256, 64, rng);
    const size_t ldx = 259, ldy = static_cast<size_t>(out) + 2;
    // Inputs: one vector and a part, two, two and one, several.
    for (size_t M : {size_t{17}, size_t{32}, size_t{33}, size_t{48}, size_t{100}}) {
      const std::vector<float> X = random_inputs(M * ldx, rng);
      for (auto& pool : pools) {
        INFO("[" << out << ", 256] M " << M << " threads " << pool->size());
        rwkv::cpu::LinearOptions opt;
        opt.isa = QuantIsa::avx512;
        opt.min_macs_per_thread = 1;
        std::vector<float> Y(M * ldy, pad);
        rwkv::cpu::linear(*pool, L, X.data(), ldx, M, Y.data(), ldy, opt);
        check_rounded_int8(L, X, ldx, M, Y, ldy, pad);
      }
    }
  }
}

TEST_CASE("the packed inputs of the int8 product at many inputs are round_inputs_int16's, bit for bit",
          "[cpu][quant]") {
  if (!rwkv::cpu::int8_rounded_gemm_supported(QuantIsa::avx512)) {
    WARN("no AVX-512 VNNI here: the packing is not run");
    return;
  }
  std::mt19937 rng(3);
  const int in = 192, group = 64, M = 21, m_pad = 32, blocks = in / 32, groups = in / group;
  const size_t ldx = 200;
  std::vector<float> X = random_inputs(static_cast<size_t>(M) * ldx, rng);
  // Ties: the block's largest is 32767 steps, so x = k + 0.5 steps lands half-way.
  for (int c = 0; c < 32; ++c) X[ldx + static_cast<size_t>(c)] = (c == 0 ? 32767.0f : static_cast<float>(c % 7) - 2.5f);
  std::fill(X.begin() + 2 * ldx, X.begin() + 2 * ldx + 32, 0.0f);  // a block of zeros
  X[3 * ldx + 40] = 1e30f;                                         // an outlier
  std::vector<int32_t> xp(static_cast<size_t>(in / 2 * m_pad), -1);
  std::vector<float> xs_t(static_cast<size_t>(blocks * m_pad), -1.0f), xg_t(static_cast<size_t>(groups * m_pad), -1.0f);
  rwkv::cpu::quant_isa::PackTask k;
  k.x = X.data();
  k.ldx = ldx;
  k.M = M;
  k.in = in;
  k.group = group;
  k.m_pad = m_pad;
  k.xp = xp.data();
  k.xs_t = xs_t.data();
  k.xg_t = xg_t.data();
  for (int chunk = 0; chunk < m_pad / 16; ++chunk) REQUIRE(rwkv::cpu::quant_isa::pack_inputs_vnni(k, chunk));
  std::vector<int16_t> xi(in);
  std::vector<float> xs(blocks);
  for (int m = 0; m < m_pad; ++m) {
    INFO("input " << m);
    if (m < M) {
      REQUIRE(rwkv::cpu::round_inputs_int16(X.data() + static_cast<size_t>(m) * ldx, in, xi.data(), xs.data()));
    } else {  // past M: zeros
      std::fill(xi.begin(), xi.end(), int16_t{0});
      std::fill(xs.begin(), xs.end(), 0.0f);
    }
    for (int p = 0; p < in / 2; ++p) {
      const int32_t v = xp[static_cast<size_t>(p * m_pad + m)];
      CHECK(static_cast<int16_t>(v & 0xFFFF) == xi[static_cast<size_t>(2 * p)]);
      CHECK(static_cast<int16_t>(v >> 16) == xi[static_cast<size_t>(2 * p + 1)]);
    }
    for (int b = 0; b < blocks; ++b) CHECK(xs_t[static_cast<size_t>(b * m_pad + m)] == xs[static_cast<size_t>(b)]);
    // The group sums: one fp32 product and one sum per block (the blocks' integer sums are exact).
    for (int g = 0; g < groups; ++g) {
      double sum = 0.0, magnitude = 0.0;
      for (int b = g * group / 32; b < (g + 1) * group / 32; ++b) {
        double block = 0.0;
        for (int c = 32 * b; c < 32 * b + 32; ++c) block += xi[static_cast<size_t>(c)];
        sum += double(xs[static_cast<size_t>(b)]) * block;
        magnitude += std::fabs(double(xs[static_cast<size_t>(b)]) * block);
      }
      const double got = xg_t[static_cast<size_t>(g * m_pad + m)];
      CHECK(std::fabs(got - sum) <= cpu_product_check::gamma_n(2 * group / 32) * magnitude);
    }
  }
  // A NaN or an inf refuses its chunk.
  X[5 * ldx + 7] = std::numeric_limits<float>::quiet_NaN();
  CHECK_FALSE(rwkv::cpu::quant_isa::pack_inputs_vnni(k, 0));
  X[5 * ldx + 7] = 0.0f;
  X[20 * ldx + 100] = -std::numeric_limits<float>::infinity();
  CHECK(rwkv::cpu::quant_isa::pack_inputs_vnni(k, 0));
  CHECK_FALSE(rwkv::cpu::quant_isa::pack_inputs_vnni(k, 1));
}

TEST_CASE("cpu int8 product with a non-finite input multiplies the fp32 inputs instead", "[cpu][quant]") {
  std::mt19937 rng(77);
  rwkv::cpu::ThreadPool pool(1);
  const rwkv::Linear L = random_quant_linear(QuantKind::int8, 21, 128, 32, rng);
  const size_t ldx = 128, ldy = 21;
  for (size_t M : {size_t{3}, size_t{40}}) {  // the fused product, the one at many inputs
    for (QuantIsa isa : rwkv::cpu::supported_quant_isas()) {
      INFO(rwkv::cpu::quant_isa_name(isa) << " M " << M);
      std::vector<float> X = random_inputs(M * ldx, rng);
      X[ldx + 40] = std::numeric_limits<float>::quiet_NaN();  // input row 1
      rwkv::cpu::LinearOptions opt;
      opt.isa = isa;
      std::vector<float> Y(M * ldy, 0.0f);
      rwkv::cpu::linear(pool, L, X.data(), ldx, M, Y.data(), ldy, opt);
      for (size_t r = 0; r < ldy; ++r) CHECK(std::isnan(Y[ldy + r]));
      // Rows 0 and 2 as the fp32 product gives them (to summation order): not rounded.
      std::vector<float> ref(M * ldy);
      rwkv::cpu::linear_rows_reference(L, 0, L.out, X.data(), ldx, M, ref.data(), ldy);
      const std::vector<float> w = L.to_f32();
      for (size_t m : {size_t{0}, size_t{2}}) {
        for (size_t r = 0; r < ldy; ++r) {
          double abs_sum = 0.0;
          for (size_t c = 0; c < ldx; ++c) abs_sum += std::fabs(double(w[r * ldx + c]) * X[m * ldx + c]);
          CHECK(std::fabs(double(Y[m * ldy + r]) - ref[m * ldy + r]) <= 2.0 * cpu_product_check::gamma_n(128) * abs_sum);
        }
      }
    }
  }
}

TEST_CASE("round_inputs_int16: one scale per 32 inputs, to nearest even, within half a step", "[cpu][quant]") {
  std::mt19937 rng(5);
  std::vector<int16_t> xi(96);
  std::vector<float> xs(3);
  // Random blocks, one with an outlier: every input within 0.51 of a step of its rounding, the
  // largest |x| on +-32767 exactly.
  std::vector<float> x = random_inputs(96, rng);
  x[70] = -2500.0f;
  REQUIRE(rwkv::cpu::round_inputs_int16(x.data(), 96, xi.data(), xs.data()));
  for (int b = 0; b < 3; ++b) {
    float largest = 0.0f;
    for (int c = 32 * b; c < 32 * b + 32; ++c) largest = std::max(largest, std::fabs(x[static_cast<size_t>(c)]));
    CHECK(xs[static_cast<size_t>(b)] == largest / 32767.0f);
    for (int c = 32 * b; c < 32 * b + 32; ++c) {
      const size_t i = static_cast<size_t>(c);
      CHECK(std::fabs(double(xs[static_cast<size_t>(b)]) * xi[i] - x[i]) <= 0.51 * xs[static_cast<size_t>(b)]);
      if (std::fabs(x[i]) == largest) CHECK(std::abs(int(xi[i])) == 32767);
    }
  }
  CHECK(xi[70] == -32767);
  // Scale 1 (largest |x| 32767): halves go to the even neighbour; a block of zeros has scale 0.
  std::vector<float> ties(64, 0.0f);
  ties[0] = 32767.0f;
  ties[1] = 2.5f;
  ties[2] = 3.5f;
  ties[3] = -2.5f;
  ties[4] = -0.5f;
  ties[5] = 1.25f;
  REQUIRE(rwkv::cpu::round_inputs_int16(ties.data(), 64, xi.data(), xs.data()));
  CHECK(xs[0] == 1.0f);
  CHECK(std::vector<int>(xi.begin(), xi.begin() + 6) == std::vector<int>{32767, 2, 4, -2, 0, 1});
  CHECK(xs[1] == 0.0f);
  CHECK(std::all_of(xi.begin() + 32, xi.begin() + 64, [](int16_t v) { return v == 0; }));
  // Refused: a non-finite input, or a block so small that its scale would not be a normal float.
  for (float bad : {std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                    std::numeric_limits<float>::quiet_NaN(), 1e-38f}) {
    std::vector<float> y = random_inputs(64, rng);
    if (bad == 1e-38f) std::fill(y.begin() + 32, y.end(), 0.0f);
    y[40] = bad;
    INFO("bad value " << bad);
    CHECK_FALSE(rwkv::cpu::round_inputs_int16(y.data(), 64, xi.data(), xs.data()));
  }
  // Large but finite inputs round like any others.
  std::vector<float> big(32, 1e37f);
  big[3] = -3e38f;
  REQUIRE(rwkv::cpu::round_inputs_int16(big.data(), 32, xi.data(), xs.data()));
  CHECK(xi[3] == -32767);
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
           {QuantKind::int8, 3072, 768, 512}, {QuantKind::q4, 3072, 768, 64},
           {QuantKind::int8, 65536, 768, 1}, {QuantKind::q4, 65536, 768, 1}}) {
    const rwkv::Linear L = random_quant_linear(kind, out, in, rwkv::default_quant_group(kind, in), rng);
    for (size_t M : {1, 2, 4, 8, 16, 64, 512}) {
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
      const std::vector<float> f32 = L.to_f32();
      dense.w.assign(f32.begin(), f32.end());
      const double fp32 = time_us([&] { rwkv::cpu::linear_rows_reference(dense, 0, out, X.data(), in, M, Y.data(), out); });
      std::printf("%s [%d, %d] M %2zu: fp32 %8.1f us, reference %8.1f us", rwkv::quant_kind_name(kind), out, in, M,
                  fp32, ref);
      for (QuantIsa isa : rwkv::cpu::supported_quant_isas()) {
        // dequantize + BLAS, the int8 product at many inputs (AVX-512 VNNI), the fused kernels
        for (auto [fused_max, rounded, name] : {std::tuple{0, false, "blas"}, std::tuple{0, true, "vnni"},
                                                std::tuple{64, true, "fused"}}) {
          const bool vnni = fused_max == 0 && rounded;
          if (vnni && !(kind == QuantKind::int8 && rwkv::cpu::int8_rounded_gemm_supported(isa))) continue;
          rwkv::cpu::LinearOptions opt;
          opt.isa = isa;
          opt.fused_max_inputs = fused_max;
          opt.int8_rounded_inputs = rounded;
          const double t = time_us([&] { rwkv::cpu::linear(pool, L, X.data(), in, M, Y.data(), out, opt); });
          std::printf("  %s/%s %8.1f", rwkv::cpu::quant_isa_name(isa), name, t);
        }
      }
      std::printf("   (weights %.0f KiB)\n", L.q.bytes() / 1024.0);
    }
  }
}
