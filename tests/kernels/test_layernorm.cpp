// Tests that kernels/layernorm.cu (residual add + LayerNorm) matches a double-precision LayerNorm
// (docs/rwkv-math.md section 1: biased variance, eps 1e-5) for every delta/weight/output dtype.
//
// Tolerances: the residual x + delta is exact (one fp32 addition, compared bit for bit); y in fp32
// within 1e-5 abs + 1e-5 rel of the double reference; fp16/bf16 y additionally within one rounding.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "gpu_test_util.h"
#include "kernels/layernorm.cuh"

using gpu_test::DeviceBuffer;
using rwkv::DType;

namespace {

struct Case {
  int rows, C;
  bool has_delta;
  DType delta_t, w_t, y_t;
  int misalign;  // element offset of every pointer inside its allocation (1 forces scalar access)
};

void run_case(const Case& k, uint32_t seed) {
  CAPTURE(seed, k.rows, k.C, k.has_delta, rwkv::dtype_name(k.delta_t), rwkv::dtype_name(k.w_t),
          rwkv::dtype_name(k.y_t), k.misalign);
  std::mt19937 rng(seed);
  const size_t n = (size_t)k.rows * k.C;
  // A per-row offset keeps the mean away from zero, as in a real residual stream.
  std::vector<float> x = gpu_test::random_floats(rng, n, -2.0f, 2.0f);
  for (int r = 0; r < k.rows; ++r)
    for (int c = 0; c < k.C; ++c) x[(size_t)r * k.C + c] += 0.5f * (float)(r % 3);
  const std::vector<float> delta = gpu_test::random_floats(rng, n, -1.0f, 1.0f, k.delta_t);
  const std::vector<float> w = gpu_test::random_floats(rng, k.C, 0.5f, 1.5f, k.w_t);
  const std::vector<float> b = gpu_test::random_floats(rng, k.C, -0.5f, 0.5f, k.w_t);

  const size_t off = (size_t)k.misalign;
  auto padded = [&](DType t, const std::vector<float>& v) {
    std::vector<float> p(off, 0.0f);
    p.insert(p.end(), v.begin(), v.end());
    return gpu_test::encode(t, p);
  };
  DeviceBuffer dx((n + off) * 4), dd((n + off) * rwkv::dtype_size(k.delta_t)),
      dw((k.C + off) * rwkv::dtype_size(k.w_t)), db((k.C + off) * rwkv::dtype_size(k.w_t)),
      dy((n + off) * rwkv::dtype_size(k.y_t));
  dx.upload(padded(DType::f32, x));
  dd.upload(padded(k.delta_t, delta));
  dw.upload(padded(k.w_t, w));
  db.upload(padded(k.w_t, b));

  rwkv_kernels::layernorm_params p;
  p.x = dx.as<float>() + off;
  p.delta = k.has_delta ? static_cast<const char*>(dd.get()) + off * rwkv::dtype_size(k.delta_t) : nullptr;
  p.delta_dtype = k.delta_t;
  p.weight = static_cast<const char*>(dw.get()) + off * rwkv::dtype_size(k.w_t);
  p.bias = static_cast<const char*>(db.get()) + off * rwkv::dtype_size(k.w_t);
  p.w_dtype = k.w_t;
  p.y = static_cast<char*>(dy.get()) + off * rwkv::dtype_size(k.y_t);
  p.y_dtype = k.y_t;
  p.rows = k.rows;
  p.C = k.C;
  REQUIRE(rwkv_kernels::layernorm_residual(p, nullptr) == cudaSuccess);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);

  std::vector<float> x_got = gpu_test::decode(DType::f32, dx.download());
  x_got.erase(x_got.begin(), x_got.begin() + off);
  std::vector<float> y_got = gpu_test::decode(k.y_t, dy.download());
  y_got.erase(y_got.begin(), y_got.begin() + off);
  CHECK(dx.guard_intact());
  CHECK(dy.guard_intact());

  // Reference: residual in fp32 (exact check), LayerNorm in double.
  std::vector<double> y_ref(n);
  size_t x_bad = 0;
  for (int r = 0; r < k.rows; ++r) {
    const size_t r0 = (size_t)r * k.C;
    std::vector<float> xr(k.C);
    for (int c = 0; c < k.C; ++c) xr[c] = k.has_delta ? x[r0 + c] + delta[r0 + c] : x[r0 + c];
    for (int c = 0; c < k.C; ++c)
      if (!(x_got[r0 + c] == xr[c])) ++x_bad;
    double mean = 0.0, var = 0.0;
    for (int c = 0; c < k.C; ++c) mean += xr[c];
    mean /= k.C;
    for (int c = 0; c < k.C; ++c) var += (xr[c] - mean) * (xr[c] - mean);
    var /= k.C;
    const double rstd = 1.0 / std::sqrt(var + 1e-5);
    for (int c = 0; c < k.C; ++c) y_ref[r0 + c] = (xr[c] - mean) * rstd * w[c] + b[c];
  }
  CHECK(x_bad == 0);
  const gpu_test::Comparison cmp = gpu_test::compare(y_got, y_ref, k.y_t, 1e-5, 1e-5);
  INFO(cmp.first);
  CAPTURE(cmp.worst);
  CHECK(cmp.nonfinite == 0);
  CHECK(cmp.bad == 0);
}

}  // namespace

TEST_CASE("layernorm_residual: every delta/weight/output dtype, sizes off the block size", "[gpu][kernels][layernorm]") {
  const DType types[] = {DType::f32, DType::f16, DType::bf16};
  // C = 200, 768, 1000 take the 16-byte path (C % 8 == 0); 77 and 1001 the scalar path.
  const int Cs[] = {200, 768, 1000, 77, 1001};
  uint32_t seed = 7100;
  int i = 0;
  for (DType dt : types)
    for (DType wt : types)
      for (DType yt : types) {
        for (int C : Cs) {
          run_case({3 + i % 3, C, true, dt, wt, yt, 0}, seed++);
          ++i;
        }
      }
}

TEST_CASE("layernorm_residual: without delta, misaligned pointers, one channel, 8192 channels",
          "[gpu][kernels][layernorm]") {
  uint32_t seed = 7300;
  for (DType yt : {DType::f32, DType::f16, DType::bf16}) {
    run_case({4, 768, false, DType::f32, DType::f32, yt, 0}, seed++);
    run_case({2, 768, true, DType::bf16, DType::f16, yt, 1}, seed++);   // 768 % 8 == 0 but unaligned
    run_case({5, 1, true, DType::f16, DType::bf16, yt, 0}, seed++);     // var 0: y == b
    run_case({1, 8192, true, DType::f32, DType::bf16, yt, 0}, seed++);  // several chunks per thread
  }
}

TEST_CASE("layernorm_residual: rejects bad shapes and overlapping output", "[gpu][kernels][layernorm]") {
  DeviceBuffer dx(64 * 4), dw(8 * 4), db(8 * 4), dy(64 * 4);
  rwkv_kernels::layernorm_params p;
  p.x = dx.as<float>();
  p.weight = dw.get();
  p.bias = db.get();
  p.y = dy.get();
  p.rows = 8;
  p.C = 8;
  CHECK(rwkv_kernels::layernorm_residual(p, nullptr) == cudaSuccess);
  rwkv_kernels::layernorm_params q = p;
  q.C = 0;
  CHECK(rwkv_kernels::layernorm_residual(q, nullptr) == cudaErrorInvalidValue);
  q = p;
  q.y = dx.as<float>() + 4;  // overlaps x
  CHECK(rwkv_kernels::layernorm_residual(q, nullptr) == cudaErrorInvalidValue);
  q = p;
  q.weight = nullptr;
  CHECK(rwkv_kernels::layernorm_residual(q, nullptr) == cudaErrorInvalidValue);
  q = p;
  q.rows = 0;
  CHECK(rwkv_kernels::layernorm_residual(q, nullptr) == cudaSuccess);
}
