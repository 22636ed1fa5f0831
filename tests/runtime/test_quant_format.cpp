// tests/runtime/test_quant_format.cpp: the quantized formats of runtime/quant/quant_format.h
// (docs/quantization.md): the group rule, the byte counts, the quantizer's grid (every
// element within half a step of its weight, the group's extremes on the end levels), the
// q4 nibble order, and the refusals.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "runtime/core/error.h"
#include "runtime/core/half_float.h"
#include "runtime/quant/quant_format.h"

using Catch::Matchers::Contains;
using rwkv::QuantKind;

namespace {

// Weights of a few magnitudes, with one outlier row and a constant group.
std::vector<float> test_weights(int out, int in, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 0.05f);
  std::vector<float> w(static_cast<size_t>(out) * in);
  for (float& x : w) x = normal(rng);
  for (int c = 0; c < in; ++c) w[static_cast<size_t>(1) * in + c] *= 40.0f;  // row 1: large
  for (int c = 0; c < 32; ++c) w[static_cast<size_t>(2) * in + c] = 0.25f;  // row 2: a constant group
  w[static_cast<size_t>(3) * in + 5] = 3.0f;                                 // row 3: one outlier
  return w;
}

int stored_level(const rwkv::QuantMatrix& m, int r, int c) {
  const uint8_t* row = &m.q[static_cast<size_t>(r) * rwkv::quant_row_bytes(m.kind, m.in)];
  if (m.kind == QuantKind::int8) return static_cast<int8_t>(row[c]);
  return (c & 1) ? row[c / 2] >> 4 : row[c / 2] & 15;
}

}  // namespace

TEST_CASE("quant format: the group rule of docs/quantization.md", "[quant]") {
  // int8: the largest power of two <= 1024 leaving >= 4 groups a row; q4: <= 128 leaving >= 8.
  CHECK(rwkv::default_quant_group(QuantKind::int8, 4096) == 1024);
  CHECK(rwkv::default_quant_group(QuantKind::int8, 16384) == 1024);
  CHECK(rwkv::default_quant_group(QuantKind::int8, 2048) == 512);
  CHECK(rwkv::default_quant_group(QuantKind::int8, 256) == 64);
  CHECK(rwkv::default_quant_group(QuantKind::int8, 96) == 32);
  CHECK(rwkv::default_quant_group(QuantKind::int8, 64) == 32);
  CHECK(rwkv::default_quant_group(QuantKind::int8, 32) == 32);
  CHECK(rwkv::default_quant_group(QuantKind::q4, 4096) == 128);
  CHECK(rwkv::default_quant_group(QuantKind::q4, 512) == 64);
  CHECK(rwkv::default_quant_group(QuantKind::q4, 256) == 32);
  CHECK(rwkv::default_quant_group(QuantKind::q4, 64) == 32);
  for (QuantKind k : {QuantKind::int8, QuantKind::q4}) {
    CHECK(rwkv::default_quant_group(k, 48) == 0);
    CHECK(rwkv::default_quant_group(k, 0) == 0);
    CHECK(rwkv::default_quant_group(k, -64) == 0);
  }
  // Bytes: the packed values plus an fp16 scale and offset per group.
  CHECK(rwkv::quant_matrix_bytes(QuantKind::int8, 3, 4096, 1024) == 3u * 4096 + 3u * 4 * 4);
  CHECK(rwkv::quant_matrix_bytes(QuantKind::q4, 3, 4096, 128) == 3u * 2048 + 3u * 32 * 4);
}

TEST_CASE("quant format: every element within half a step, the extremes on the end levels", "[quant]") {
  std::mt19937 rng(11);
  const int out = 6, in = 256;
  const std::vector<float> w = test_weights(out, in, rng);
  for (QuantKind k : {QuantKind::int8, QuantKind::q4})
    for (int group : {32, 64, 128, 256}) {
      CAPTURE(rwkv::quant_kind_name(k), group);
      const rwkv::QuantMatrix m = rwkv::quantize_matrix(k, w.data(), out, in, group, "test");
      REQUIRE(m.bytes() == rwkv::quant_matrix_bytes(k, out, in, group));
      const std::vector<float> back = rwkv::dequantize_matrix(m.view());
      const float levels = k == QuantKind::int8 ? 255.0f : 15.0f;
      const int q_lo = k == QuantKind::int8 ? -128 : 0, q_hi = k == QuantKind::int8 ? 127 : 15;
      const int G = in / group;
      for (int r = 0; r < out; ++r)
        for (int g = 0; g < G; ++g) {
          const float* wg = &w[static_cast<size_t>(r) * in + static_cast<size_t>(g) * group];
          const auto [lo, hi] = std::minmax_element(wg, wg + group);
          const float d = rwkv::f16_to_f32(m.scale[static_cast<size_t>(r) * G + g]);
          const float mn = rwkv::f16_to_f32(m.min[static_cast<size_t>(r) * G + g]);
          // The step is (hi - lo) / levels up to fp16 rounding.
          CHECK(std::abs(d - (*hi - *lo) / levels) <= 1e-3f * (*hi - *lo) / levels + 1e-7f);
          // Half a step, plus the fp16 rounding of the offset and of the top of the grid.
          const float bound = 0.5f * d + (std::abs(mn) + levels * d) * 0x1p-11f + 1e-7f;
          for (int i = 0; i < group; ++i) {
            const int c = g * group + i;
            const float err = std::abs(back[static_cast<size_t>(r) * in + c] - wg[i]);
            if (err > bound) FAIL_CHECK("element [" << r << ", " << c << "] off by " << err << " > " << bound);
            const int q = stored_level(m, r, c);
            CHECK((q >= q_lo && q <= q_hi));
            if (*hi > *lo && wg[i] == *lo) CHECK(q == q_lo);
            if (*hi > *lo && wg[i] == *hi) CHECK(q >= q_hi - 1);  // fp16 d may end the grid a hair short
          }
          // A constant group is exact (d = 0, the offset is the value).
          if (*hi == *lo) CHECK(back[static_cast<size_t>(r) * in + static_cast<size_t>(g) * group] == *lo);
        }
    }
}

TEST_CASE("quant format: q4 packs element 2j in the low nibble, 2j + 1 in the high one", "[quant]") {
  // One group 0, 1, ..., 15, 15, 14, ...: d = 1, m = 0, so the levels are the values.
  std::vector<float> w(32);
  for (int i = 0; i < 32; ++i) w[i] = static_cast<float>(i < 16 ? i : 31 - i);
  const rwkv::QuantMatrix m = rwkv::quantize_matrix(QuantKind::q4, w.data(), 1, 32, 32, "nibbles");
  REQUIRE(m.q.size() == 16);
  CHECK(m.q[0] == 0x10);  // 0 low, 1 high
  CHECK(m.q[7] == 0xfe);  // 14 low, 15 high
  CHECK(m.q[8] == 0xef);  // 15 low, 14 high
  CHECK(rwkv::dequantize_matrix(m.view()) == w);
  for (int c = 0; c < 32; ++c) CHECK(m.view().at(0, c) == w[c]);
}

TEST_CASE("quant format: bad matrices are refused naming the matrix", "[quant]") {
  std::vector<float> w(64, 0.5f);
  auto refused = [&](QuantKind k, int out, int in, int group, const std::string& why) {
    CAPTURE(out, in, group);
    REQUIRE_THROWS_WITH(rwkv::quantize_matrix(k, w.data(), out, in, group, "blocks.3.att.key.weight"),
                        Contains("blocks.3.att.key.weight") && Contains(why));
  };
  refused(QuantKind::int8, 1, 48, 16, "multiple of 32");
  refused(QuantKind::int8, 1, 64, 48, "multiple of 32");
  refused(QuantKind::q4, 2, 32, 64, "multiple of 32");
  refused(QuantKind::none, 1, 64, 32, "no quantized format");
  w[40] = std::nanf("");
  refused(QuantKind::int8, 1, 64, 32, "non-finite weight at [0, 40]");
  w[40] = INFINITY;
  refused(QuantKind::q4, 2, 32, 32, "non-finite weight at [1, 8]");
  w[40] = 0.5f;
  w[3] = 1e9f;  // the step (1e9 - 0.5) / 255 does not fit fp16
  refused(QuantKind::int8, 1, 64, 32, "too large for an fp16 quantization scale");
}
