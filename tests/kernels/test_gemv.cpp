// Tests kernels/gemv.cu on its own against a CPU computation: the grouped products
// acc = W X^T (every task its own shape, strides and epilogue) in double precision from the same
// rounded inputs, then the epilogue with the CPU reference's functions (runtime/cpu/cpu_ops.h:
// sigmoidf, relu_sq; std::tanh), for every weight/input dtype pair the backend launches, M = 1,
// 3 and 16 rows, widths that take the 16-byte path and ones that do not, narrow and wide rows
// (thread groups of 1 to 256 threads), and every epilogue.
//
// Tolerance: an fp32 sum of K products is within K * 2^-24 * sum|w x| of the exact one (the
// classical bound gamma_K of recursive summation, each fma rounding once), plus 1e-6 abs +
// 4e-6 rel for the activation's fp32 evaluation (tanhf within 2 ulp, the fast exponential of the
// sigmoid within a few ulp), plus one rounding for 16-bit outputs.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "gpu_test_util.h"
#include "kernels/gemv.cuh"
#include "runtime/cpu/cpu_ops.h"

using gpu_test::DeviceBuffer;
using rwkv::DType;
using rwkv_kernels::gemv_epilogue;

namespace {

struct TaskShape {
  int N, K;
  gemv_epilogue epi;
  DType y_dtype;
  int x_pad = 0, y_pad = 0;  // ldx = K + x_pad, ldy = N + y_pad
};

// One task's host data and device buffers.
struct HostTask {
  TaskShape s;
  std::vector<float> W, X, Y0, aux, aux2, mu;  // already rounded to their device dtypes
  DeviceBuffer dW, dX, dY, dAux, dAux2, dMu;
};

double apply_epilogue(const HostTask& t, int m, int n, double acc) {
  const size_t at = (size_t)m * (t.s.N + t.s.y_pad) + n;
  switch (t.s.epi) {
    case gemv_epilogue::tanh: return std::tanh(acc);
    case gemv_epilogue::sigmoid: return rwkv::cpu::sigmoidf((float)acc);
    case gemv_epilogue::silu: return acc * rwkv::cpu::sigmoidf((float)acc);
    case gemv_epilogue::relu_sq: return rwkv::cpu::relu_sq((float)acc);
    case gemv_epilogue::add: return t.Y0[at] + acc;
    case gemv_epilogue::mul_add: return t.Y0[at] + t.aux[at] * acc;
    case gemv_epilogue::lerp: return t.aux[at] + (t.aux2[at] - t.aux[at]) * (t.mu[n] + acc);
    case gemv_epilogue::store: break;
  }
  return acc;
}

// The largest |d epilogue / d acc| over the relevant range, to carry the dot product's error.
double epilogue_gain(const HostTask& t, int m, int n, double acc) {
  const size_t at = (size_t)m * (t.s.N + t.s.y_pad) + n;
  switch (t.s.epi) {
    case gemv_epilogue::relu_sq: return 2.0 * std::fabs(acc) + 1.0;
    case gemv_epilogue::silu: return 1.2;
    case gemv_epilogue::mul_add: return std::fabs(t.aux[at]);
    case gemv_epilogue::lerp: return std::fabs(t.aux2[at] - t.aux[at]);
    default: return 1.0;
  }
}

void make_task(HostTask& t, int M, DType w_t, DType x_t, std::mt19937& rng) {
  const int ldx = t.s.K + t.s.x_pad, ldy = t.s.N + t.s.y_pad;
  t.W = gpu_test::random_floats(rng, (size_t)t.s.N * t.s.K, -0.5f, 0.5f, w_t);
  t.X = gpu_test::random_floats(rng, (size_t)M * ldx, -2.0f, 2.0f, x_t);
  t.Y0 = gpu_test::random_floats(rng, (size_t)M * ldy, -3.0f, 3.0f, t.s.y_dtype);
  t.aux = gpu_test::random_floats(rng, (size_t)M * ldy, -1.0f, 1.0f);
  t.aux2 = gpu_test::random_floats(rng, (size_t)M * ldy, -1.0f, 1.0f);
  t.mu = gpu_test::random_floats(rng, (size_t)t.s.N, 0.0f, 1.0f);
  t.dW = gpu_test::to_device(t.W, w_t);
  t.dX = gpu_test::to_device(t.X, x_t);
  t.dY = gpu_test::to_device(t.Y0, t.s.y_dtype);
  t.dAux = gpu_test::to_device(t.aux);
  t.dAux2 = gpu_test::to_device(t.aux2);
  t.dMu = gpu_test::to_device(t.mu);
}

void check_task(const HostTask& t, int M, DType w_t) {
  const int ldx = t.s.K + t.s.x_pad, ldy = t.s.N + t.s.y_pad;
  const std::vector<float> got = gpu_test::from_device(t.dY, t.s.y_dtype);
  size_t bad = 0;
  std::string first;
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < ldy; ++n) {
      const size_t at = (size_t)m * ldy + n;
      double want = t.Y0[at], tol = 0.0;  // padding columns stay untouched
      if (n < t.s.N) {
        double acc = 0.0, mag = 0.0;
        for (int k = 0; k < t.s.K; ++k) {
          const double p = (double)t.W[(size_t)n * t.s.K + k] * t.X[(size_t)m * ldx + k];
          acc += p;
          mag += std::fabs(p);
        }
        want = apply_epilogue(t, m, n, acc);
        const double dot_err = (t.s.K + 2) * std::ldexp(1.0, -24) * mag;
        tol = dot_err * epilogue_gain(t, m, n, acc) + 1e-6 + 4e-6 * std::fabs(want);
        tol += gpu_test::rounding_slack(t.s.y_dtype, std::fabs(want) + tol);
      }
      const double err = std::fabs((double)got[at] - want);
      if (!(err <= tol) && ++bad <= 4)
        first += "[" + std::to_string(m) + "," + std::to_string(n) + "] got " + std::to_string(got[at]) +
                 " want " + std::to_string(want) + "; ";
    }
  INFO("task N " << t.s.N << " K " << t.s.K << " epilogue " << (int)t.s.epi << " y "
                 << rwkv::dtype_name(t.s.y_dtype) << " w " << rwkv::dtype_name(w_t) << ": " << first);
  CHECK(bad == 0);
  CHECK(t.dY.guard_intact());
}

// One grouped launch of `shapes` over M rows; every task checked.
void run_group(const std::vector<TaskShape>& shapes, int M, DType w_t, DType x_t, uint32_t seed) {
  CAPTURE(seed, M, rwkv::dtype_name(w_t), rwkv::dtype_name(x_t), shapes.size());
  std::mt19937 rng(seed);
  std::vector<HostTask> tasks(shapes.size());
  rwkv_kernels::gemv_params p;
  p.M = M;
  p.n_tasks = (int)shapes.size();
  p.w_dtype = w_t;
  p.x_dtype = x_t;
  for (size_t i = 0; i < shapes.size(); ++i) {
    HostTask& t = tasks[i];
    t.s = shapes[i];
    make_task(t, M, w_t, x_t, rng);
    rwkv_kernels::gemv_task& tk = p.task[i];
    tk.W = t.dW.get();
    tk.X = t.dX.get();
    tk.Y = t.dY.get();
    tk.N = t.s.N;
    tk.K = t.s.K;
    tk.ldx = t.s.K + t.s.x_pad;
    tk.ldy = t.s.N + t.s.y_pad;
    tk.epilogue = t.s.epi;
    tk.y_dtype = t.s.y_dtype;
    tk.aux = t.dAux.as<float>();
    tk.aux2 = t.dAux2.as<float>();
    tk.mu = t.dMu.as<float>();
  }
  REQUIRE(rwkv_kernels::gemv(p, nullptr) == cudaSuccess);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  for (const HostTask& t : tasks) check_task(t, M, w_t);
}

const DType kPairs[][2] = {{DType::f32, DType::f32},   {DType::f16, DType::f16}, {DType::f16, DType::f32},
                           {DType::bf16, DType::bf16}, {DType::bf16, DType::f32}};

}  // namespace

TEST_CASE("gemv: every epilogue in one grouped launch, every dtype pair, M = 1, 3, 16",
          "[gpu][kernels][gemv]") {
  uint32_t seed = 1400;
  for (const auto& pair : kPairs) {
    const DType w_t = pair[0];
    const DType act_t = w_t == DType::f16 ? DType::f32 : w_t;  // relu^2 never into fp16
    const std::vector<TaskShape> group = {
        {40, 64, gemv_epilogue::store, DType::f32, 8, 3},
        {33, 64, gemv_epilogue::tanh, w_t},
        {17, 64, gemv_epilogue::sigmoid, w_t, 0, 5},
        {9, 32, gemv_epilogue::silu, w_t},
        {50, 48, gemv_epilogue::relu_sq, act_t},
        {64, 40, gemv_epilogue::add, DType::f32, 0, 4},
        {24, 64, gemv_epilogue::mul_add, DType::f32},
        {31, 24, gemv_epilogue::lerp, w_t},
    };
    for (int M : {1, 3, 16}) run_group(group, M, w_t, pair[1], ++seed);
  }
}

TEST_CASE("gemv: narrow and wide rows, widths off the 16-byte path, one task per launch",
          "[gpu][kernels][gemv]") {
  uint32_t seed = 1500;
  const std::vector<TaskShape> shapes = {
      {1, 8, gemv_epilogue::store, DType::f32},        // one row, one chunk: groups of 1 thread
      {300, 16, gemv_epilogue::store, DType::f32},     // a LoRA-out shape: many rows, tiny K
      {7, 1032, gemv_epilogue::add, DType::f32},       // groups of 64 threads (across warps)
      {5, 4096, gemv_epilogue::store, DType::f32},     // groups of 256 threads
      {70, 100, gemv_epilogue::tanh, DType::f32},      // K % 8 != 0: element loads
      {520, 64, gemv_epilogue::store, DType::f32, 1},  // ldx % 8 != 0: element loads
  };
  for (const auto& pair : kPairs)
    for (const TaskShape& s : shapes)
      for (int M : {1, 5}) run_group({s}, M, pair[0], pair[1], ++seed);
}

TEST_CASE("gemv: invalid parameters are refused before any launch", "[gpu][kernels][gemv]") {
  DeviceBuffer w(64 * 4), x(64 * 4), y(64 * 4);
  rwkv_kernels::gemv_params p;
  p.M = 1;
  p.n_tasks = 1;
  rwkv_kernels::gemv_task& tk = p.task[0];
  tk.W = w.get();
  tk.X = x.get();
  tk.Y = y.get();
  tk.N = 4;
  tk.K = 16;
  tk.ldx = 16;
  tk.ldy = 4;
  REQUIRE(rwkv_kernels::gemv(p, nullptr) == cudaSuccess);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  auto refused = [&](rwkv_kernels::gemv_params q) { return rwkv_kernels::gemv(q, nullptr) == cudaErrorInvalidValue; };
  rwkv_kernels::gemv_params q = p;
  q.M = 17;
  CHECK(refused(q));
  q = p;
  q.n_tasks = 0;
  CHECK(refused(q));
  q = p;
  q.w_dtype = DType::f16;
  q.x_dtype = DType::bf16;
  CHECK(refused(q));
  q = p;
  q.task[0].ldx = 8;
  CHECK(refused(q));
  q = p;
  q.task[0].epilogue = gemv_epilogue::relu_sq;
  q.task[0].y_dtype = DType::f16;
  CHECK(refused(q));
  q = p;
  q.task[0].epilogue = gemv_epilogue::add;
  q.task[0].y_dtype = DType::bf16;
  CHECK(refused(q));
  q = p;
  q.task[0].Y = x.get();  // aliases X
  CHECK(refused(q));
  q = p;
  q.task[0].epilogue = gemv_epilogue::lerp;  // no aux
  CHECK(refused(q));
  q = p;
  q.M = 0;
  CHECK(rwkv_kernels::gemv(q, nullptr) == cudaSuccess);
}
