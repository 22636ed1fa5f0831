// Tests kernels/activation.cu on its own against the CPU reference functions of runtime/cpu/cpu_ops.h
// and the time mixes that use them (docs/rwkv-math.md sections 3.4, 5.2, 6.3): activation() by
// column segments (tanh as std::tanh, sigmoid as cpu::sigmoidf, relu^2 as cpu::relu_sq, identity),
// in the layouts the backend launches (the v7 LoRA middles [tanh | id | id | sigmoid] with and
// without the v segment, v6's tanh, the channel mix's relu^2) and widths past the 256-thread block,
// through both the 8-element vector path and the element path (segments not 8 wide, an input only
// 4-byte aligned); gate_mul() (cpu::sigmoidf(r) * v, the v4-v6 channel-mix gate) at sizes around
// the block, vector (4) and element paths. Each in prefill form (several rows) and decode form (one
// row), every output dtype.
//
// Tolerances: one fp32 function of one input; the GPU's tanhf is within 2 ulp and its fast
// exponential (used by the sigmoid) within a few ulp for |x| <= 4, so outputs agree within
// 1e-6 abs + 4e-6 rel; fp16/bf16 outputs additionally within one rounding. Identity and relu^2 are
// the same fp32 operations on both sides.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "gpu_test_util.h"
#include "kernels/activation.cuh"
#include "runtime/cpu/cpu_ops.h"

using gpu_test::DeviceBuffer;
using rwkv::DType;
using rwkv_kernels::act_kind;

namespace {

struct Segment {
  int width;
  act_kind act;
};

double reference_act(act_kind a, float x) {
  switch (a) {
    case act_kind::tanh: return std::tanh(x);
    case act_kind::sigmoid: return rwkv::cpu::sigmoidf(x);
    case act_kind::relu_sq: return rwkv::cpu::relu_sq(x);
    case act_kind::identity: break;
  }
  return x;
}

// `in_offset` floats into its buffer: 1 leaves the input 4-byte aligned only (the scalar path).
void run_activation(const std::vector<Segment>& segs, int rows, DType out_t, uint32_t seed, int in_offset = 0) {
  CAPTURE(seed, rows, segs.size(), rwkv::dtype_name(out_t), in_offset);
  std::mt19937 rng(seed);
  int width = 0;
  for (const Segment& s : segs) width += s.width;
  const size_t n = (size_t)rows * width;
  std::vector<float> in_buffer = gpu_test::random_floats(rng, n + (size_t)in_offset, -4.0f, 4.0f);
  const std::vector<float> in(in_buffer.begin() + in_offset, in_buffer.end());
  const DeviceBuffer din = gpu_test::to_device(in_buffer);
  DeviceBuffer dout(n * rwkv::dtype_size(out_t));

  rwkv_kernels::activation_params p;
  p.in = din.as<float>() + in_offset;
  p.out = dout.get();
  p.out_dtype = out_t;
  p.rows = rows;
  p.width = width;
  p.n_seg = (int)segs.size();
  for (size_t i = 0; i < segs.size(); ++i) {
    p.seg_width[i] = segs[i].width;
    p.seg_act[i] = segs[i].act;
  }
  REQUIRE(rwkv_kernels::activation(p, nullptr) == cudaSuccess);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);

  std::vector<double> want(n);
  for (int r = 0; r < rows; ++r) {
    int col = 0;
    for (const Segment& s : segs)
      for (int c = 0; c < s.width; ++c, ++col) {
        const size_t at = (size_t)r * width + col;
        want[at] = reference_act(s.act, in[at]);
      }
  }
  const gpu_test::Comparison cmp = gpu_test::compare(gpu_test::from_device(dout, out_t), want, out_t, 1e-6, 4e-6);
  INFO(cmp.first << " worst " << cmp.worst);
  CHECK(cmp.bad == 0);
  CHECK(dout.guard_intact());
}

// gate_mul (accumulate false) or its residual form, out += gate (true, out starting at x).
void run_gate_mul(size_t n, uint32_t seed, bool accumulate = false) {
  CAPTURE(seed, n, accumulate);
  std::mt19937 rng(seed);
  const std::vector<float> r = gpu_test::random_floats(rng, n, -4.0f, 4.0f);
  const std::vector<float> v = gpu_test::random_floats(rng, n, -2.0f, 2.0f);
  const std::vector<float> x = gpu_test::random_floats(rng, n, -3.0f, 3.0f);
  const DeviceBuffer dr = gpu_test::to_device(r), dv = gpu_test::to_device(v);
  DeviceBuffer dout = accumulate ? gpu_test::to_device(x) : DeviceBuffer(n * sizeof(float));
  REQUIRE(rwkv_kernels::gate_mul(dr.as<float>(), dv.as<float>(), dout.as<float>(), n, nullptr, accumulate) ==
          cudaSuccess);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  std::vector<double> want(n);
  for (size_t i = 0; i < n; ++i) {
    const float gate = rwkv::cpu::sigmoidf(r[i]) * v[i];  // as cpu channel_mix
    want[i] = accumulate ? (double)(x[i] + gate) : (double)gate;
  }
  const gpu_test::Comparison cmp = gpu_test::compare(gpu_test::from_device(dout), want, DType::f32, 1e-6, 4e-6);
  INFO(cmp.first << " worst " << cmp.worst);
  CHECK(cmp.bad == 0);
  CHECK(dout.guard_intact());
}

}  // namespace

TEST_CASE("activation: the backend's segment layouts against the CPU functions, prefill and decode rows",
          "[gpu][kernels][activation]") {
  const std::vector<std::vector<Segment>> layouts = {
      // v7 LoRA middles, later layers (w, a, v, g) and layer 0 (no v).
      {{24, act_kind::tanh}, {16, act_kind::identity}, {16, act_kind::identity}, {40, act_kind::sigmoid}},
      {{24, act_kind::tanh}, {16, act_kind::identity}, {40, act_kind::sigmoid}},
      {{160, act_kind::tanh}},      // v6 maa_w1 (5 x 32)
      {{300, act_kind::relu_sq}},   // channel-mix key, past one block
      // Every kind, segments straddling block boundaries.
      {{200, act_kind::sigmoid}, {130, act_kind::relu_sq}, {190, act_kind::identity}, {7, act_kind::tanh}},
      // The vector path (every segment a multiple of 8 wide) past one block's 2048 columns, and
      // a width of 8s whose segments are not (the element path).
      {{2056, act_kind::relu_sq}},
      {{12, act_kind::tanh}, {20, act_kind::sigmoid}},
  };
  uint32_t seed = 900;
  for (const auto& segs : layouts)
    for (DType t : {DType::f32, DType::f16, DType::bf16}) {
      run_activation(segs, 5, t, ++seed);  // prefill: several rows
      run_activation(segs, 1, t, ++seed);  // decode: one row
    }
  // A vectorizable layout whose input is only 4-byte aligned: the element path.
  run_activation({{24, act_kind::tanh}, {16, act_kind::identity}, {40, act_kind::sigmoid}}, 3, DType::bf16, ++seed, 1);
}

TEST_CASE("gate_mul: sigmoid(r) * v against the CPU function, sizes around the block", "[gpu][kernels][activation]") {
  uint32_t seed = 950;
  // Multiples of 4 take the vector path (1,200: past one block's 1,024), the others the element path.
  for (size_t n : {size_t(1), size_t(64), size_t(255), size_t(256), size_t(257), size_t(5 * 96), size_t(1200)}) {
    run_gate_mul(n, ++seed);
    run_gate_mul(n, ++seed, true);  // the prefill rounds' form: added into the residual stream
  }
}

TEST_CASE("activation and gate_mul: invalid parameters give cudaErrorInvalidValue", "[gpu][kernels][activation]") {
  const DeviceBuffer buf = gpu_test::to_device(std::vector<float>(16, 0.0f));
  rwkv_kernels::activation_params p;
  p.in = buf.as<float>();
  p.out = buf.get();
  p.rows = 1;
  p.width = 16;
  p.seg_width[0] = 8;  // segments must cover the row
  CHECK(rwkv_kernels::activation(p, nullptr) == cudaErrorInvalidValue);
  p.seg_width[0] = 16;
  p.n_seg = 0;
  CHECK(rwkv_kernels::activation(p, nullptr) == cudaErrorInvalidValue);
  p.n_seg = 1;
  CHECK(rwkv_kernels::activation(p, nullptr) == cudaSuccess);
  CHECK(rwkv_kernels::gate_mul(nullptr, buf.as<float>(), buf.as<float>(), 4, nullptr) == cudaErrorInvalidValue);
  CHECK(rwkv_kernels::gate_mul(nullptr, nullptr, nullptr, 0, nullptr) == cudaSuccess);
  // The output may not overlap an input (with accumulate it is read as well).
  CHECK(rwkv_kernels::gate_mul(buf.as<float>(), buf.as<float>() + 8, buf.as<float>() + 2, 4, nullptr, true) ==
        cudaErrorInvalidValue);
  CHECK(cudaDeviceSynchronize() == cudaSuccess);
}
