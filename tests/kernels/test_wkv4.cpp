// Tests kernels/wkv4.cu (the v4 WKV with its receptance gate) on its own against the CPU reference
// of runtime/cpu/time_mix_v4.cpp (docs/rwkv-math.md section 3.3): wkv4_channels (pip's
// max-exponent recurrence) times sigmoidf(r). The kernel is per channel (no head size; a thread
// owns four channels, a block 256): the widths are the attention widths of 8, 16, 32 and 64
// channels per head for one and two heads, 129 (a partial group of four, the 4-byte path), 256
// and 260 (a second block), each in prefill (a ragged batch of sequences of 3, 1 and 4 tokens)
// and decode (three sequences of one token), with the state at offsets that allow the 16-byte
// path and at ones that do not, and eight sequences of different lengths in one launch. One
// sequence starts from the initial state (pp = -1e30), the others from random states.
//
// Tolerances: the same fp32 formula on both sides, except the kernel's sigmoid uses the fast
// exponential and the GPU's expf may differ from the host's by an ulp or two: outputs (|wkv| <= 1)
// within 1e-5 and states within 1e-5 (abs + rel); fp16/bf16 outputs additionally within one rounding.
#include <catch2/catch.hpp>

#include <vector>

#include "gpu_test_util.h"
#include "kernels/wkv4.cuh"
#include "runtime/cpu/cpu_layers.h"
#include "runtime/cpu/cpu_ops.h"

using gpu_test::DeviceBuffer;
using rwkv::DType;

namespace {

struct Case {
  int A;
  std::vector<int> lens;  // tokens per sequence
  DType out_t;
  bool aligned = false;  // the layout below with 4-float pads (the kernel's 16-byte path when A % 4 == 0)
};

// State layout of the test: [pad 2][aa A][bb A][pp A][pad 1], like a layer's slice of a v4 state;
// aligned: [pad 4][aa A][bb A][pp A][pad 4].
struct Offsets {
  size_t aa, bb, pp, floats;
  Offsets(size_t A, bool aligned)
      : aa(aligned ? 4 : 2), bb(aa + A), pp(aa + 2 * A), floats(aa + 3 * A + (aligned ? 4 : 1)) {}
};

void init_states(gpu_test::RaggedBatch& batch, size_t A, const Offsets& o, std::mt19937& rng) {
  for (int s = 0; s < batch.n_seq(); ++s) {
    float* st = batch.state(s);
    const std::vector<float> aa = gpu_test::random_floats(rng, A, -1.0f, 1.0f);
    const std::vector<float> bb = gpu_test::random_floats(rng, A, 0.5f, 2.0f);
    const std::vector<float> pp = gpu_test::random_floats(rng, A, -1.0f, 1.0f);
    for (size_t c = 0; c < A; ++c) {
      const bool fresh = s == 1;  // the initial state of a new sequence
      st[o.aa + c] = fresh ? 0.0f : aa[c];
      st[o.bb + c] = fresh ? 0.0f : bb[c];
      st[o.pp + c] = fresh ? -1e30f : pp[c];
    }
  }
}

void run_case(const Case& c, uint32_t seed) {
  CAPTURE(seed, c.A, c.lens, rwkv::dtype_name(c.out_t), c.aligned);
  std::mt19937 rng(seed);
  const size_t A = (size_t)c.A;
  const Offsets o(A, c.aligned);
  gpu_test::RaggedBatch batch(c.lens, o.floats, rng);
  init_states(batch, A, o, rng);
  batch.upload();
  const size_t rows = (size_t)batch.n_rows(), n = rows * A;
  const std::vector<float> r = gpu_test::random_floats(rng, n, -3.0f, 3.0f);
  const std::vector<float> k = gpu_test::random_floats(rng, n, -2.0f, 2.0f);
  const std::vector<float> v = gpu_test::random_floats(rng, n, -1.0f, 1.0f);
  const std::vector<float> w = gpu_test::random_floats(rng, A, -2.0f, -0.1f);  // -exp(time_decay)
  const std::vector<float> u = gpu_test::random_floats(rng, A, -1.0f, 1.0f);   // time_first
  const DeviceBuffer dr = gpu_test::to_device(r), dk = gpu_test::to_device(k), dv = gpu_test::to_device(v),
                     dw = gpu_test::to_device(w), du = gpu_test::to_device(u);
  DeviceBuffer dout(n * rwkv::dtype_size(c.out_t));

  rwkv_kernels::wkv4_params p;
  p.batch = batch.batch();
  p.aa_offset = o.aa;
  p.bb_offset = o.bb;
  p.pp_offset = o.pp;
  p.A = c.A;
  p.r = dr.as<float>();
  p.k = dk.as<float>();
  p.v = dv.as<float>();
  p.w = dw.as<float>();
  p.u = du.as<float>();
  p.out = dout.get();
  p.out_dtype = c.out_t;
  REQUIRE(rwkv_kernels::wkv4_forward(p, nullptr) == cudaSuccess);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);

  // Reference on the host copies of the states (still the initial ones).
  std::vector<float> y(n);
  for (int s = 0; s < batch.n_seq(); ++s) {
    float* st = batch.state(s);
    rwkv::cpu::wkv4_channels(A, (size_t)batch.begin(s), (size_t)batch.begin(s + 1), 0, A, k.data(), v.data(), w.data(),
                             u.data(), st + o.aa, st + o.bb, st + o.pp, y.data());
  }
  std::vector<double> want(n);
  for (size_t j = 0; j < n; ++j) want[j] = (double)(y[j] * rwkv::cpu::sigmoidf(r[j]));
  const std::vector<float> want_states = batch.states_in_order(o.floats);
  batch.download();
  const std::vector<float> got_states = batch.states_in_order(o.floats);

  const gpu_test::Comparison out_cmp = gpu_test::compare(gpu_test::from_device(dout, c.out_t), want, c.out_t, 1e-5, 1e-5);
  INFO("outputs: " << out_cmp.first << " worst " << out_cmp.worst);
  CHECK(out_cmp.bad == 0);
  const gpu_test::Comparison st_cmp = gpu_test::compare(
      got_states, std::vector<double>(want_states.begin(), want_states.end()), DType::f32, 1e-5, 1e-5);
  INFO("states: " << st_cmp.first << " worst " << st_cmp.worst);
  CHECK(st_cmp.bad == 0);
  CHECK(dout.guard_intact());
  CHECK(batch.guards_intact());
}

}  // namespace

TEST_CASE("wkv4_forward: against the CPU reference, widths of every head size, prefill and decode", "[gpu][kernels][wkv4]") {
  uint32_t seed = 400;
  for (int A : {8, 16, 32, 64, 128, 129}) {
    run_case({A, {3, 1, 4}, DType::f32}, ++seed);  // prefill, ragged
    run_case({A, {1, 1, 1}, DType::f32}, ++seed);  // decode
  }
}

TEST_CASE("wkv4_forward: 16-byte path, partial blocks and many ragged sequences", "[gpu][kernels][wkv4]") {
  uint32_t seed = 420;
  for (int A : {8, 16, 64, 256, 260, 129}) {  // 260: a second block with one group; 129: 4-byte path
    run_case({A, {3, 1, 4}, DType::f32, true}, ++seed);
    run_case({A, {1, 1, 1}, DType::f32, true}, ++seed);
  }
  run_case({96, {1, 7, 2, 1, 5, 3, 1, 4}, DType::f32, true}, ++seed);
  run_case({96, {1, 7, 2, 1, 5, 3, 1, 4}, DType::f32, false}, ++seed);
  for (DType t : {DType::f16, DType::bf16}) run_case({48, {2, 5}, t, true}, ++seed);
}

TEST_CASE("wkv4_forward: fp16 and bf16 outputs", "[gpu][kernels][wkv4]") {
  uint32_t seed = 450;
  for (DType t : {DType::f16, DType::bf16}) run_case({48, {2, 5}, t}, ++seed);
}

TEST_CASE("wkv4_forward: rejects a bad width and missing pointers", "[gpu][kernels][wkv4]") {
  std::mt19937 rng(7);
  gpu_test::RaggedBatch batch({2}, 64, rng);
  const DeviceBuffer buf = gpu_test::to_device(std::vector<float>(64, 0.0f));
  rwkv_kernels::wkv4_params p;
  p.batch = batch.batch();
  p.A = 0;
  p.r = p.k = p.v = p.w = p.u = buf.as<float>();
  p.out = buf.get();
  CHECK(rwkv_kernels::wkv4_forward(p, nullptr) == cudaErrorInvalidValue);
  p.A = 8;
  p.w = nullptr;
  CHECK(rwkv_kernels::wkv4_forward(p, nullptr) == cudaErrorInvalidValue);
}
