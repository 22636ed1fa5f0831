// Tests that kernels/group_norm.cu computes GN_H (rwkv-spec.md section 1: H contiguous groups of N,
// biased variance, eps 64e-5, per-channel affine) of an fp32 WKV output, optionally times a gate,
// for every weight/output dtype, against a double-precision reference.
//
// Tolerances: fp32 output within 1e-5 abs + 1e-5 rel; fp16/bf16 outputs additionally within one
// rounding (the kernel rounds once, after the gate).
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "gpu_test_util.h"
#include "kernels/group_norm.cuh"

using gpu_test::DeviceBuffer;
using rwkv::DType;

namespace {

enum class Gate { none, separate, in_place };

struct Case {
  int rows, H, N;
  DType w_t, out_t;
  Gate gate;
};

void run_case(const Case& k, uint32_t seed) {
  CAPTURE(seed, k.rows, k.H, k.N, rwkv::dtype_name(k.w_t), rwkv::dtype_name(k.out_t), (int)k.gate);
  std::mt19937 rng(seed);
  const int A = k.H * k.N;
  const size_t n = (size_t)k.rows * A;
  std::vector<float> y = gpu_test::random_floats(rng, n, -3.0f, 3.0f);
  // Different offsets and scales per group, as real heads have.
  for (size_t g = 0; g < (size_t)k.rows * k.H; ++g)
    for (int j = 0; j < k.N; ++j) y[g * k.N + j] = y[g * k.N + j] * (0.25f + (float)(g % 4)) + (float)(g % 5) - 2.0f;
  const std::vector<float> w = gpu_test::random_floats(rng, A, 0.5f, 1.5f, k.w_t);
  const std::vector<float> b = gpu_test::random_floats(rng, A, -0.5f, 0.5f, k.w_t);
  const std::vector<float> gate = gpu_test::random_floats(rng, n, -1.0f, 1.0f, k.out_t);

  const size_t es = rwkv::dtype_size(k.out_t);
  DeviceBuffer dy(n * 4), dw(A * rwkv::dtype_size(k.w_t)), db(A * rwkv::dtype_size(k.w_t)), dout(n * es),
      dgate(n * es);
  dy.upload(gpu_test::encode(DType::f32, y));
  dw.upload(gpu_test::encode(k.w_t, w));
  db.upload(gpu_test::encode(k.w_t, b));
  dgate.upload(gpu_test::encode(k.out_t, gate));
  if (k.gate == Gate::in_place) dout.upload(gpu_test::encode(k.out_t, gate));

  rwkv_kernels::group_norm_params p;
  p.y = dy.as<float>();
  p.weight = dw.get();
  p.bias = db.get();
  p.w_dtype = k.w_t;
  p.gate = k.gate == Gate::none ? nullptr : k.gate == Gate::separate ? dgate.get() : dout.get();
  p.out = dout.get();
  p.out_dtype = k.out_t;
  p.rows = k.rows;
  p.H = k.H;
  p.N = k.N;
  REQUIRE(rwkv_kernels::group_norm(p, nullptr) == cudaSuccess);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);

  std::vector<double> ref(n);
  for (size_t g = 0; g < (size_t)k.rows * k.H; ++g) {
    double mean = 0.0, var = 0.0;
    for (int j = 0; j < k.N; ++j) mean += y[g * k.N + j];
    mean /= k.N;
    for (int j = 0; j < k.N; ++j) var += (y[g * k.N + j] - mean) * (y[g * k.N + j] - mean);
    var /= k.N;
    const double rstd = 1.0 / std::sqrt(var + 64e-5);
    const int h = (int)(g % k.H);
    for (int j = 0; j < k.N; ++j) {
      const size_t i = g * k.N + j;
      double o = (y[i] - mean) * rstd * w[h * k.N + j] + b[h * k.N + j];
      if (k.gate != Gate::none) o *= gate[i];
      ref[i] = o;
    }
  }
  const gpu_test::Comparison cmp = gpu_test::compare(gpu_test::decode(k.out_t, dout.download()), ref, k.out_t,
                                                     1e-5, 1e-5);
  INFO(cmp.first);
  CAPTURE(cmp.worst);
  CHECK(cmp.nonfinite == 0);
  CHECK(cmp.bad == 0);
  CHECK(dout.guard_intact());
  CHECK(dy.guard_intact());
}

}  // namespace

TEST_CASE("group_norm: every weight/output dtype, with and without a gate", "[kernels][group_norm]") {
  const DType types[] = {DType::f32, DType::f16, DType::bf16};
  uint32_t seed = 9100;
  int i = 0;
  for (DType wt : types)
    for (DType ot : types)
      for (Gate g : {Gate::none, Gate::separate, Gate::in_place}) {
        // N = 64 (every released model) takes the 16-byte path; rows*H not a multiple of the 16
        // groups a block holds.
        run_case({3 + i % 4, 12, 64, wt, ot, g}, seed++);
        ++i;
      }
}

TEST_CASE("group_norm: head sizes off the vector width and the team size", "[kernels][group_norm]") {
  uint32_t seed = 9300;
  struct Shape {
    int rows, H, N;
  };
  // N = 7, 33, 100: scalar path (team of 8 or 32 lanes, several chunks per lane for 100);
  // N = 8, 256, 200: vector path with teams of 1, 32 and 32 lanes; N = 1: a group of one (y == b).
  for (const Shape& s : {Shape{5, 3, 7}, Shape{2, 5, 33}, Shape{3, 2, 100}, Shape{7, 3, 8}, Shape{2, 2, 256},
                         Shape{3, 5, 200}, Shape{4, 3, 1}})
    for (DType ot : {DType::f32, DType::bf16}) run_case({s.rows, s.H, s.N, DType::f32, ot, Gate::separate}, seed++);
}

TEST_CASE("group_norm: rejects bad shapes and an output overlapping y or shifted over the gate",
          "[kernels][group_norm]") {
  DeviceBuffer dy(4 * 64 * 4), dw(64 * 4), db(64 * 4), dout(4 * 64 * 4 + 64), dgate(4 * 64 * 4);
  rwkv_kernels::group_norm_params p;
  p.y = dy.as<float>();
  p.weight = dw.get();
  p.bias = db.get();
  p.out = dout.get();
  p.rows = 4;
  p.H = 2;
  p.N = 32;
  CHECK(rwkv_kernels::group_norm(p, nullptr) == cudaSuccess);
  rwkv_kernels::group_norm_params q = p;
  q.N = 0;
  CHECK(rwkv_kernels::group_norm(q, nullptr) == cudaErrorInvalidValue);
  q = p;
  q.out = dy.as<float>() + 1;
  CHECK(rwkv_kernels::group_norm(q, nullptr) == cudaErrorInvalidValue);
  q = p;
  q.gate = dout.as<char>() + 16;  // overlaps out, but not the same buffer
  CHECK(rwkv_kernels::group_norm(q, nullptr) == cudaErrorInvalidValue);
  q = p;
  q.gate = dout.get();  // in place is allowed
  CHECK(rwkv_kernels::group_norm(q, nullptr) == cudaSuccess);
  q = p;
  q.bias = nullptr;
  CHECK(rwkv_kernels::group_norm(q, nullptr) == cudaErrorInvalidValue);
}
