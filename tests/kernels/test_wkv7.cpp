// Tests kernels/wkv7.cu (the fused v7 time-mix core) on its own against the CPU reference of
// runtime/cpu/time_mix_v7.cpp (docs/rwkv-math.md section 6.3): wkv7_prepare (decay, key
// normalisation and replacement), wkv7_value_residual, wkv7_head (the delta-rule recurrence) and
// wkv7_output (GroupNorm, bonus, gate). Every head size the kernel is built for (8, 16, 32, 64),
// layer 0 (v_first written) and a later layer (v_first read), prefill (a ragged batch of sequences
// of 3, 1 and 4 tokens) and decode (three sequences of one token).
//
// Tolerances: both sides compute in fp32 but sum in different orders (the kernel reduces the key
// norm and the GroupNorm statistics across threads, the reference in double) and the kernel's
// sigmoid uses the fast exponential; with inputs of magnitude <= 1 the outputs (of magnitude ~1)
// agree within 2e-5 and the states within 1e-5 (abs + rel); fp16/bf16 outputs additionally within
// one rounding. Layer 0's v_first is a copy of v, compared bit for bit.
#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

#include "gpu_test_util.h"
#include "kernels/wkv7.cuh"
#include "runtime/cpu/cpu_layers.h"

using gpu_test::DeviceBuffer;
using rwkv::DType;

namespace {

struct Case {
  int H, N;
  std::vector<int> lens;  // tokens per sequence
  bool first_layer;
  DType out_t;
};

struct Inputs {
  std::vector<float> r, k, v, w_lora, a_lora, v_lora, g, v_first;  // [rows, A]
  std::vector<float> w0, a0, v0, k_k, k_a, r_k, ln_w, ln_b;         // [A]
};

Inputs make_inputs(size_t rows, size_t A, std::mt19937& rng) {
  const size_t n = rows * A;
  Inputs in;
  auto rand = [&](size_t count, float lo, float hi) { return gpu_test::random_floats(rng, count, lo, hi); };
  in.r = rand(n, -1.0f, 1.0f);
  in.k = rand(n, -1.0f, 1.0f);
  in.v = rand(n, -1.0f, 1.0f);
  in.w_lora = rand(n, -1.0f, 1.0f);
  in.a_lora = rand(n, -1.0f, 1.0f);
  in.v_lora = rand(n, -1.0f, 1.0f);
  in.g = rand(n, -1.0f, 1.0f);
  in.v_first = rand(n, -1.0f, 1.0f);
  in.w0 = rand(A, -1.0f, 1.0f);
  in.a0 = rand(A, -1.0f, 1.0f);
  in.v0 = rand(A, -1.0f, 1.0f);
  in.k_k = rand(A, 0.5f, 1.5f);
  in.k_a = rand(A, 0.0f, 1.0f);
  in.r_k = rand(A, -0.5f, 0.5f);
  in.ln_w = rand(A, 0.5f, 1.5f);
  in.ln_b = rand(A, -0.5f, 0.5f);
  return in;
}

// The CPU reference: outputs [rows, A]; advances the states in `batch` (host copies, holding the
// initial states) and, in layer 0, sets v_first.
std::vector<double> reference(const Case& c, const Inputs& in, gpu_test::RaggedBatch& batch, size_t kv_offset,
                              std::vector<float>& v_first) {
  const size_t A = (size_t)c.H * c.N, rows = (size_t)batch.n_rows();
  std::vector<float> k = in.k, v = in.v, w = in.w_lora, alpha = in.a_lora, kk(rows * A);
  rwkv::cpu::wkv7_prepare(rows, c.H, c.N, in.a0.data(), in.k_k.data(), in.k_a.data(), in.w0.data(), k.data(),
                          w.data(), alpha.data(), kk.data());
  if (c.first_layer)
    v_first = v;
  else
    rwkv::cpu::wkv7_value_residual(rows, A, in.v0.data(), in.v_lora.data(), v_first.data(), v.data());
  std::vector<float> y(rows * A), o(rows * A);
  for (int s = 0; s < batch.n_seq(); ++s)
    for (int h = 0; h < c.H; ++h) {
      float* S = batch.state(s) + kv_offset + (size_t)h * c.N * c.N;
      rwkv::cpu::wkv7_head(c.N, A, (size_t)batch.begin(s), (size_t)batch.begin(s + 1), h, in.r.data(), w.data(),
                           k.data(), v.data(), kk.data(), alpha.data(), S, y.data());
    }
  rwkv::cpu::wkv7_output(rows, c.H, c.N, y.data(), in.r.data(), k.data(), v.data(), in.r_k.data(), in.ln_w.data(),
                         in.ln_b.data(), in.g.data(), o.data());
  return std::vector<double>(o.begin(), o.end());
}

std::vector<float> all_states(gpu_test::RaggedBatch& batch, size_t state_floats) {
  std::vector<float> out;
  for (int s = 0; s < batch.n_seq(); ++s) out.insert(out.end(), batch.state(s), batch.state(s) + state_floats);
  return out;
}

void run_case(const Case& c, uint32_t seed) {
  CAPTURE(seed, c.H, c.N, c.lens, c.first_layer, rwkv::dtype_name(c.out_t));
  std::mt19937 rng(seed);
  const size_t A = (size_t)c.H * c.N, kv_offset = 3;  // the kv block after some other state floats
  const size_t state_floats = kv_offset + A * c.N + 2;
  gpu_test::RaggedBatch batch(c.lens, state_floats, rng);
  for (int s = 0; s < batch.n_seq(); ++s) {
    const std::vector<float> init = gpu_test::random_floats(rng, state_floats, -1.0f, 1.0f);
    std::copy(init.begin(), init.end(), batch.state(s));
  }
  batch.upload();
  const size_t rows = (size_t)batch.n_rows();
  const Inputs in = make_inputs(rows, A, rng);
  auto dev = [](const std::vector<float>& v) { return gpu_test::to_device(v); };
  const DeviceBuffer dr = dev(in.r), dk = dev(in.k), dv = dev(in.v), dw_lora = dev(in.w_lora),
                     da_lora = dev(in.a_lora), dv_lora = dev(in.v_lora), dg = dev(in.g), dw0 = dev(in.w0),
                     da0 = dev(in.a0), dv0 = dev(in.v0), dk_k = dev(in.k_k), dk_a = dev(in.k_a), dr_k = dev(in.r_k),
                     dln_w = dev(in.ln_w), dln_b = dev(in.ln_b);
  DeviceBuffer dv_first = dev(in.v_first);
  DeviceBuffer dout(rows * A * rwkv::dtype_size(c.out_t));

  rwkv_kernels::wkv7_params p;
  p.batch = batch.batch();
  p.kv_offset = kv_offset;
  p.H = c.H;
  p.N = c.N;
  p.r = dr.as<float>();
  p.k = dk.as<float>();
  p.v = dv.as<float>();
  p.w_lora = dw_lora.as<float>();
  p.a_lora = da_lora.as<float>();
  p.v_lora = c.first_layer ? nullptr : dv_lora.as<float>();
  p.g = dg.as<float>();
  p.v_first = dv_first.as<float>();
  p.first_layer = c.first_layer;
  p.w0 = dw0.as<float>();
  p.a0 = da0.as<float>();
  p.v0 = c.first_layer ? nullptr : dv0.as<float>();
  p.k_k = dk_k.as<float>();
  p.k_a = dk_a.as<float>();
  p.r_k = dr_k.as<float>();
  p.ln_w = dln_w.as<float>();
  p.ln_b = dln_b.as<float>();
  p.out = dout.get();
  p.out_dtype = c.out_t;
  REQUIRE(rwkv_kernels::wkv7_forward(p, nullptr) == cudaSuccess);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);

  std::vector<float> v_first = in.v_first;
  const std::vector<double> want = reference(c, in, batch, kv_offset, v_first);
  const std::vector<float> want_states = all_states(batch, state_floats);
  batch.download();
  const std::vector<float> got_states = all_states(batch, state_floats);

  const gpu_test::Comparison out_cmp =
      gpu_test::compare(gpu_test::from_device(dout, c.out_t), want, c.out_t, 2e-5, 2e-5);
  INFO("outputs: " << out_cmp.first << " worst " << out_cmp.worst);
  CHECK(out_cmp.bad == 0);
  const gpu_test::Comparison st_cmp = gpu_test::compare(
      got_states, std::vector<double>(want_states.begin(), want_states.end()), DType::f32, 1e-5, 1e-5);
  INFO("states: " << st_cmp.first << " worst " << st_cmp.worst);
  CHECK(st_cmp.bad == 0);
  const std::vector<float> got_v_first = gpu_test::from_device(dv_first);
  CHECK(std::memcmp(got_v_first.data(), v_first.data(), v_first.size() * sizeof(float)) == 0);
  CHECK(dout.guard_intact());
  CHECK(dv_first.guard_intact());
  CHECK(batch.guards_intact());
}

}  // namespace

TEST_CASE("wkv7_forward: against the CPU reference at every head size, layer 0 and later, prefill and decode",
          "[gpu][kernels][wkv7]") {
  uint32_t seed = 700;
  for (bool first_layer : {true, false})
    for (int N : {8, 16, 32, 64}) {
      run_case({2, N, {3, 1, 4}, first_layer, DType::f32}, ++seed);  // prefill, ragged
      run_case({2, N, {1, 1, 1}, first_layer, DType::f32}, ++seed);  // decode
    }
}

TEST_CASE("wkv7_forward: fp16 and bf16 outputs", "[gpu][kernels][wkv7]") {
  uint32_t seed = 800;
  for (DType t : {DType::f16, DType::bf16}) run_case({3, 16, {2, 5}, false, t}, ++seed);
}

TEST_CASE("wkv7_forward: rejects an unsupported head size and missing pointers", "[gpu][kernels][wkv7]") {
  std::mt19937 rng(7);
  gpu_test::RaggedBatch batch({2}, 64, rng);
  const DeviceBuffer buf = gpu_test::to_device(std::vector<float>(64, 0.0f));
  float* f = buf.as<float>();
  rwkv_kernels::wkv7_params p;
  p.batch = batch.batch();
  p.H = 1;
  p.N = 4;
  p.r = p.k = p.v = p.w_lora = p.a_lora = p.g = p.w0 = p.a0 = p.k_k = p.k_a = p.r_k = p.ln_w = p.ln_b = f;
  p.v_first = f;
  p.first_layer = true;
  p.out = buf.get();
  CHECK(rwkv_kernels::wkv7_forward(p, nullptr) == cudaErrorInvalidValue);  // N = 4 is not built
  p.N = 8;
  p.first_layer = false;  // a later layer needs v_lora and v0
  CHECK(rwkv_kernels::wkv7_forward(p, nullptr) == cudaErrorInvalidValue);
}
