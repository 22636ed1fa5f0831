// Tests the quantized products of the GPU (docs/quantization.md): kernels/gemv.cu's quantized tasks
// (gemv_task::weights int8 / q4) and kernels/dequant.cu (the expansion the cuBLAS path multiplies),
// against the CPU's reference form of the same quantized matrix (runtime/quant/quant_format.h:
// quantize_matrix, then dequantize_matrix) and a double-precision product, for both kinds, groups
// 32, 64 and 128, M = 1..16, several epilogues, fp32 and bf16 inputs.
//
// Tolerance (the GEMV): per 16- or 32-value chunk the kernel sums q x in fp32, then adds
// scale * that (and min * sum x) to an fp32 accumulator; each of the K + 2 K / 16 + 2 roundings
// is at most 2^-24 of a partial sum bounded by mag = sum_k (|q s x| + |min x|), and the
// reference's fp32 dequantized weights add one rounding each (|w| <= |q s| + |min|): so
// (2 K + 8) 2^-24 mag, times the epilogue's gain, plus 1e-6 + 4e-6 |want| for the activation and
// one rounding for 16-bit outputs (as tests/kernels/test_gemv.cpp).
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

#include "gpu_test_util.h"
#include "kernels/dequant.cuh"
#include "kernels/gemv.cuh"
#include "runtime/core/half_float.h"
#include "runtime/cpu/cpu_ops.h"
#include "runtime/quant/quant_format.h"

using gpu_test::DeviceBuffer;
using rwkv::DType;
using rwkv::QuantKind;
using rwkv_kernels::gemv_epilogue;
using rwkv_kernels::gemv_weights;

namespace {

struct QuantShape {
  int N, K;
  gemv_epilogue epi;
  DType y_dtype;
};

struct QuantTask {
  QuantShape s;
  rwkv::QuantMatrix q;
  std::vector<float> W;  // dequantize_matrix(q): the CPU reference's matrix
  std::vector<float> X, Y0, aux, aux2, mu;
  DeviceBuffer dQ, dScale, dMin, dX, dY, dAux, dAux2, dMu;
};

gemv_weights kernel_kind(QuantKind k) { return k == QuantKind::int8 ? gemv_weights::int8 : gemv_weights::q4; }

DeviceBuffer bytes_to_device(const void* p, size_t n) {
  DeviceBuffer b(std::max<size_t>(n, 16));
  std::vector<uint8_t> host(static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n);
  b.upload(host);
  return b;
}

double apply_epilogue(const QuantTask& t, int m, int n, double acc) {
  const size_t at = (size_t)m * t.s.N + n;
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

double epilogue_gain(const QuantTask& t, int m, int n, double acc) {
  const size_t at = (size_t)m * t.s.N + n;
  switch (t.s.epi) {
    case gemv_epilogue::relu_sq: return 2.0 * std::fabs(acc) + 1.0;
    case gemv_epilogue::silu: return 1.2;
    case gemv_epilogue::mul_add: return std::fabs(t.aux[at]);
    case gemv_epilogue::lerp: return std::fabs(t.aux2[at] - t.aux[at]);
    default: return 1.0;
  }
}

void make_task(QuantTask& t, QuantKind kind, int group, int M, DType x_t, std::mt19937& rng) {
  // Rows with an offset (q4's min matters) and a few large weights (int8's scale).
  std::vector<float> w = gpu_test::random_floats(rng, (size_t)t.s.N * t.s.K, -0.5f, 0.7f);
  for (size_t i = 0; i < w.size(); i += 37) w[i] *= 4.0f;
  t.q = rwkv::quantize_matrix(kind, w.data(), t.s.N, t.s.K, group, "test matrix");
  t.W = rwkv::dequantize_matrix(t.q.view());
  t.X = gpu_test::random_floats(rng, (size_t)M * t.s.K, -2.0f, 2.0f, x_t);
  t.Y0 = gpu_test::random_floats(rng, (size_t)M * t.s.N, -3.0f, 3.0f, t.s.y_dtype);
  t.aux = gpu_test::random_floats(rng, (size_t)M * t.s.N, -1.0f, 1.0f);
  t.aux2 = gpu_test::random_floats(rng, (size_t)M * t.s.N, -1.0f, 1.0f);
  t.mu = gpu_test::random_floats(rng, (size_t)t.s.N, 0.0f, 1.0f);
  t.dQ = bytes_to_device(t.q.q.data(), t.q.q.size());
  t.dScale = bytes_to_device(t.q.scale.data(), t.q.scale.size() * 2);
  if (!t.q.min.empty()) t.dMin = bytes_to_device(t.q.min.data(), t.q.min.size() * 2);
  t.dX = gpu_test::to_device(t.X, x_t);
  t.dY = gpu_test::to_device(t.Y0, t.s.y_dtype);
  t.dAux = gpu_test::to_device(t.aux);
  t.dAux2 = gpu_test::to_device(t.aux2);
  t.dMu = gpu_test::to_device(t.mu);
}

// The bound of the header: mag = sum_k (|q s x| + |min x|), from the stored scales.
double dot_magnitude(const QuantTask& t, int m, int n) {
  const rwkv::QuantView v = t.q.view();
  double mag = 0.0;
  for (int k = 0; k < t.s.K; ++k) {
    const size_t g = (size_t)n * v.groups_per_row() + k / v.group;
    const double s = std::fabs((double)rwkv::f16_to_f32(v.scale[g]));
    const double mn = std::fabs((double)rwkv::f16_to_f32(v.min[g]));
    const double x = std::fabs((double)t.X[(size_t)m * t.s.K + k]);
    const double q_max = v.kind == rwkv::QuantKind::q4 ? 15.0 : 128.0;  // the largest |q| of the kind
    mag += (q_max * s + mn) * x;
  }
  return mag;
}

size_t check_task(const QuantTask& t, int M, std::string& first) {
  const std::vector<float> got = gpu_test::from_device(t.dY, t.s.y_dtype);
  size_t bad = 0;
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < t.s.N; ++n) {
      double acc = 0.0;
      for (int k = 0; k < t.s.K; ++k) acc += (double)t.W[(size_t)n * t.s.K + k] * t.X[(size_t)m * t.s.K + k];
      const double want = apply_epilogue(t, m, n, acc);
      double tol = (2.0 * t.s.K + 8) * std::ldexp(1.0, -24) * dot_magnitude(t, m, n) * epilogue_gain(t, m, n, acc) +
                   1e-6 + 4e-6 * std::fabs(want);
      tol += gpu_test::rounding_slack(t.s.y_dtype, std::fabs(want) + tol);
      const size_t at = (size_t)m * t.s.N + n;
      const double err = std::fabs((double)got[at] - want);
      if (!(err <= tol) && ++bad <= 4)
        first += "[" + std::to_string(m) + "," + std::to_string(n) + "] got " + std::to_string(got[at]) + " want " +
                 std::to_string(want) + "; ";
    }
  return bad;
}

// One grouped launch of `shapes` (quantized in `kind`, `group`) over M rows; every task checked.
void run_group(const std::vector<QuantShape>& shapes, QuantKind kind, int group, int M, DType w_t, DType x_t,
               uint32_t seed) {
  CAPTURE(seed, rwkv::quant_kind_name(kind), group, M, rwkv::dtype_name(w_t), rwkv::dtype_name(x_t));
  std::mt19937 rng(seed);
  std::vector<QuantTask> tasks(shapes.size());
  rwkv_kernels::gemv_params p;
  p.M = M;
  p.n_tasks = (int)shapes.size();
  p.w_dtype = w_t;
  p.x_dtype = x_t;
  for (size_t i = 0; i < shapes.size(); ++i) {
    QuantTask& t = tasks[i];
    t.s = shapes[i];
    make_task(t, kind, group, M, x_t, rng);
    rwkv_kernels::gemv_task& tk = p.task[i];
    tk.W = t.dQ.get();
    tk.X = t.dX.get();
    tk.Y = t.dY.get();
    tk.N = t.s.N;
    tk.K = t.s.K;
    tk.ldx = t.s.K;
    tk.ldy = t.s.N;
    tk.epilogue = t.s.epi;
    tk.y_dtype = t.s.y_dtype;
    tk.aux = t.dAux.as<float>();
    tk.aux2 = t.dAux2.as<float>();
    tk.mu = t.dMu.as<float>();
    tk.weights = kernel_kind(kind);
    tk.scale = t.dScale.as<uint16_t>();
    tk.min = t.q.min.empty() ? nullptr : t.dMin.as<uint16_t>();
    tk.group = group;
  }
  REQUIRE(rwkv_kernels::gemv(p, nullptr) == cudaSuccess);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  for (const QuantTask& t : tasks) {
    std::string first;
    const size_t bad = check_task(t, M, first);
    INFO("task N " << t.s.N << " K " << t.s.K << " epilogue " << (int)t.s.epi << ": " << first);
    CHECK(bad == 0);
    CHECK(t.dY.guard_intact());
  }
}

}  // namespace

TEST_CASE("gemv quant: int8 and q4, groups 32 / 64 / 128, M = 1..16, against the CPU's dequantized matrix",
          "[gpu][kernels][gemv][quant]") {
  uint32_t seed = 5100;
  for (QuantKind kind : {QuantKind::int8, QuantKind::q4})
    for (int group : {32, 64, 128}) {
      // A wide row (groups of 8+ threads), a narrow one (one chunk per thread group), the head-like store.
      const std::vector<QuantShape> shapes = {{37, 256, gemv_epilogue::store, DType::f32},
                                              {5, 128, gemv_epilogue::add, DType::f32}};
      for (int M = 1; M <= 16; ++M) run_group(shapes, kind, group, M, DType::bf16, DType::bf16, ++seed);
    }
}

TEST_CASE("gemv quant: every epilogue in one launch, fp32 and bf16 inputs, M = 1, 3, 16",
          "[gpu][kernels][gemv][quant]") {
  uint32_t seed = 5200;
  const DType pairs[][2] = {{DType::f32, DType::f32}, {DType::bf16, DType::bf16}, {DType::bf16, DType::f32}};
  for (QuantKind kind : {QuantKind::int8, QuantKind::q4})
    for (const auto& pair : pairs) {
      const DType w_t = pair[0];
      const std::vector<QuantShape> group = {
          {40, 128, gemv_epilogue::store, DType::f32}, {33, 64, gemv_epilogue::tanh, w_t},
          {17, 64, gemv_epilogue::sigmoid, w_t},       {9, 32, gemv_epilogue::silu, w_t},
          {50, 96, gemv_epilogue::relu_sq, w_t},       {64, 64, gemv_epilogue::add, DType::f32},
          {24, 128, gemv_epilogue::mul_add, DType::f32}, {31, 32, gemv_epilogue::lerp, w_t},
      };
      for (int M : {1, 3, 16}) run_group(group, kind, 32, M, w_t, pair[1], ++seed);
    }
}

TEST_CASE("gemv quant: launches mixing weight kinds or breaking the format are refused", "[gpu][kernels][gemv][quant]") {
  std::mt19937 rng(5300);
  QuantTask t;
  t.s = {8, 64, gemv_epilogue::store, DType::f32};
  make_task(t, QuantKind::q4, 32, 1, DType::f32, rng);
  rwkv_kernels::gemv_params p;
  p.M = 1;
  p.n_tasks = 1;
  rwkv_kernels::gemv_task& tk = p.task[0];
  tk.W = t.dQ.get();
  tk.X = t.dX.get();
  tk.Y = t.dY.get();
  tk.N = 8;
  tk.K = tk.ldx = 64;
  tk.ldy = 8;
  tk.weights = gemv_weights::q4;
  tk.scale = t.dScale.as<uint16_t>();
  tk.min = t.dMin.as<uint16_t>();
  tk.group = 32;
  REQUIRE(rwkv_kernels::gemv(p, nullptr) == cudaSuccess);
  auto refused = [&](auto change) {
    rwkv_kernels::gemv_params b = p;
    change(b);
    return rwkv_kernels::gemv(b, nullptr) == cudaErrorInvalidValue;
  };
  CHECK(refused([](auto& b) { b.task[0].min = nullptr; }));  // the offsets are needed
  CHECK(refused([](auto& b) { b.task[0].group = 48; }));     // not a multiple of 32
  CHECK(refused([](auto& b) { b.task[0].group = 128; }));    // does not divide K
  CHECK(refused([](auto& b) { b.task[0].ldx = 66; }));       // rows off the 16-byte loads
  CHECK(refused([&](auto& b) {  // a dense task beside a quantized one
    b.n_tasks = 2;
    b.task[1] = b.task[0];
    b.task[1].weights = gemv_weights::dense;
  }));
}

TEST_CASE("dequantize: int8 and q4 into fp32 and bf16, as the CPU's dequantize_matrix", "[gpu][kernels][quant]") {
  std::mt19937 rng(5400);
  for (QuantKind kind : {QuantKind::int8, QuantKind::q4})
    for (int group : {32, 64, 128})
      for (DType out_t : {DType::f32, DType::bf16}) {
        CAPTURE(rwkv::quant_kind_name(kind), group, rwkv::dtype_name(out_t));
        const int N = 19, K = 256;
        const std::vector<float> w = gpu_test::random_floats(rng, (size_t)N * K, -1.0f, 0.6f);
        const rwkv::QuantMatrix q = rwkv::quantize_matrix(kind, w.data(), N, K, group, "test matrix");
        const std::vector<float> want = rwkv::dequantize_matrix(q.view());
        DeviceBuffer dQ = bytes_to_device(q.q.data(), q.q.size());
        DeviceBuffer dS = bytes_to_device(q.scale.data(), q.scale.size() * 2);
        DeviceBuffer dM = q.min.empty() ? DeviceBuffer(16) : bytes_to_device(q.min.data(), q.min.size() * 2);
        DeviceBuffer out((size_t)N * K * rwkv::dtype_size(out_t));
        rwkv_kernels::dequant_params p;
        p.kind = kernel_kind(kind);
        p.q = dQ.get();
        p.scale = dS.as<uint16_t>();
        p.min = q.min.empty() ? nullptr : dM.as<uint16_t>();
        p.group = group;
        p.rows = N;
        p.in = K;
        p.out = out.get();
        p.out_dtype = out_t;
        REQUIRE(rwkv_kernels::dequantize(p, nullptr) == cudaSuccess);
        const std::vector<float> got = gpu_test::from_device(out, out_t);
        size_t differ = 0;
        for (size_t i = 0; i < want.size(); ++i) differ += got[i] != gpu_test::round_to(out_t, want[i]);
        CHECK(differ == 0);  // the same fp32 operation, then one rounding
        CHECK(out.guard_intact());
      }
}
