// Tests kernels/wkv5.cu (the fused v5/v6 time-mix core) on its own against the CPU reference of
// runtime/cpu/: wkv5_head (the recurrence, docs/rwkv-math.md sections 4.4 and 5.2), group_norm_row
// (GN_H, eps 64e-5) and siluf (the gate), with v6's per-token decay exp(-exp(time_decay + w_lora))
// as time_mix_v6.cpp computes it. Every head size the kernel is built for (8, 16, 32, 64), the
// three forms (5.0: no gate, fixed decay; 5.1+: gate; v6: gate and per-token decay), prefill (a
// ragged batch of sequences of 3, 1 and 4 tokens) and decode (three sequences of one token).
//
// Tolerances: both sides compute in fp32 but sum in different orders (the kernel reduces the
// GroupNorm statistics across threads, the reference in double) and the kernel's sigmoid uses the
// fast exponential; with inputs of magnitude <= 1 the outputs (of magnitude ~1) agree within 2e-5
// and the states within 1e-5 (abs + rel); fp16/bf16 outputs additionally within one rounding.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "gpu_test_util.h"
#include "kernels/wkv5.cuh"
#include "runtime/cpu/cpu_layers.h"
#include "runtime/cpu/cpu_ops.h"

using gpu_test::DeviceBuffer;
using rwkv::DType;

namespace {

enum class Form { v5_0, v5_2, v6 };

struct Case {
  Form form;
  int H, N;
  std::vector<int> lens;  // tokens per sequence
  DType out_t;
};

struct Inputs {
  std::vector<float> r, k, v, g, w_lora;  // [rows, A]
  std::vector<float> decay, u, ln_w, ln_b;  // [A]
};

Inputs make_inputs(const Case& c, size_t rows, std::mt19937& rng) {
  const size_t A = (size_t)c.H * c.N, n = rows * A;
  Inputs in;
  in.r = gpu_test::random_floats(rng, n, -1.0f, 1.0f);
  in.k = gpu_test::random_floats(rng, n, -1.0f, 1.0f);
  in.v = gpu_test::random_floats(rng, n, -1.0f, 1.0f);
  in.g = gpu_test::random_floats(rng, n, -2.0f, 2.0f);
  in.w_lora = gpu_test::random_floats(rng, n, -0.5f, 0.5f);
  // v5: the per-step factor itself; v6: time_decay, the factor being exp(-exp(decay + w_lora)).
  in.decay = c.form == Form::v6 ? gpu_test::random_floats(rng, A, -2.0f, 0.5f)
                                : gpu_test::random_floats(rng, A, 0.5f, 0.99f);
  in.u = gpu_test::random_floats(rng, A, -0.5f, 0.5f);
  in.ln_w = gpu_test::random_floats(rng, A, 0.5f, 1.5f);
  in.ln_b = gpu_test::random_floats(rng, A, -0.5f, 0.5f);
  return in;
}

// The CPU reference: outputs [rows, A]; advances the states in `batch` (host copies).
std::vector<double> reference(const Case& c, const Inputs& in, gpu_test::RaggedBatch& batch, size_t kv_offset) {
  const size_t A = (size_t)c.H * c.N, rows = (size_t)batch.n_rows();
  std::vector<float> w_rows;
  if (c.form == Form::v6) {  // as runtime/cpu/time_mix_v6.cpp
    w_rows.resize(rows * A);
    for (size_t j = 0; j < rows * A; ++j) w_rows[j] = std::exp(-std::exp(in.decay[j % A] + in.w_lora[j]));
  }
  std::vector<float> y(rows * A);
  for (int s = 0; s < batch.n_seq(); ++s)
    for (int h = 0; h < c.H; ++h) {
      float* S = batch.state(s) + kv_offset + (size_t)h * c.N * c.N;
      rwkv::cpu::wkv5_head(c.N, A, (size_t)batch.begin(s), (size_t)batch.begin(s + 1), h, in.r.data(), in.k.data(),
                           in.v.data(), c.form == Form::v6 ? w_rows.data() : nullptr,
                           c.form == Form::v6 ? nullptr : in.decay.data(), in.u.data(), S, y.data());
    }
  std::vector<float> o(rows * A);
  for (size_t m = 0; m < rows; ++m)
    rwkv::cpu::group_norm_row(y.data() + m * A, c.H, c.N, in.ln_w.data(), in.ln_b.data(), 64e-5f, o.data() + m * A);
  std::vector<double> out(o.begin(), o.end());
  if (c.form != Form::v5_0)
    for (size_t j = 0; j < out.size(); ++j) out[j] = (double)(o[j] * rwkv::cpu::siluf(in.g[j]));
  return out;
}

void run_case(const Case& c, uint32_t seed) {
  CAPTURE(seed, (int)c.form, c.H, c.N, c.lens, rwkv::dtype_name(c.out_t));
  std::mt19937 rng(seed);
  const size_t A = (size_t)c.H * c.N, kv_offset = 5;  // the kv block after some other state floats
  const size_t state_floats = kv_offset + A * c.N + 3;
  gpu_test::RaggedBatch batch(c.lens, state_floats, rng);
  for (int s = 0; s < batch.n_seq(); ++s) {
    const std::vector<float> init = gpu_test::random_floats(rng, state_floats, -1.0f, 1.0f);
    std::copy(init.begin(), init.end(), batch.state(s));
  }
  batch.upload();
  const size_t rows = (size_t)batch.n_rows();
  const Inputs in = make_inputs(c, rows, rng);
  const DeviceBuffer dr = gpu_test::to_device(in.r), dk = gpu_test::to_device(in.k), dv = gpu_test::to_device(in.v),
                     dg = gpu_test::to_device(in.g), dw_lora = gpu_test::to_device(in.w_lora),
                     ddecay = gpu_test::to_device(in.decay), du = gpu_test::to_device(in.u),
                     dln_w = gpu_test::to_device(in.ln_w), dln_b = gpu_test::to_device(in.ln_b);
  DeviceBuffer dout(rows * A * rwkv::dtype_size(c.out_t));

  rwkv_kernels::wkv5_params p;
  p.batch = batch.batch();
  p.kv_offset = kv_offset;
  p.H = c.H;
  p.N = c.N;
  p.r = dr.as<float>();
  p.k = dk.as<float>();
  p.v = dv.as<float>();
  p.g = c.form == Form::v5_0 ? nullptr : dg.as<float>();
  p.decay = ddecay.as<float>();
  p.w_lora = c.form == Form::v6 ? dw_lora.as<float>() : nullptr;
  p.u = du.as<float>();
  p.ln_w = dln_w.as<float>();
  p.ln_b = dln_b.as<float>();
  p.out = dout.get();
  p.out_dtype = c.out_t;
  REQUIRE(rwkv_kernels::wkv5_forward(p, nullptr) == cudaSuccess);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);

  const std::vector<float> got = gpu_test::from_device(dout, c.out_t);
  // The reference advances the host copies, which still hold the initial states.
  const std::vector<double> want = reference(c, in, batch, kv_offset);
  std::vector<double> want_states;
  for (int s = 0; s < batch.n_seq(); ++s)
    want_states.insert(want_states.end(), batch.state(s), batch.state(s) + state_floats);
  batch.download();
  std::vector<float> got_states;
  for (int s = 0; s < batch.n_seq(); ++s)
    got_states.insert(got_states.end(), batch.state(s), batch.state(s) + state_floats);

  const gpu_test::Comparison out_cmp = gpu_test::compare(got, want, c.out_t, 2e-5, 2e-5);
  INFO("outputs: " << out_cmp.first << " worst " << out_cmp.worst);
  CHECK(out_cmp.bad == 0);
  const gpu_test::Comparison st_cmp = gpu_test::compare(got_states, want_states, DType::f32, 1e-5, 1e-5);
  INFO("states: " << st_cmp.first << " worst " << st_cmp.worst);
  CHECK(st_cmp.bad == 0);
  CHECK(dout.guard_intact());
  CHECK(batch.guards_intact());
}

}  // namespace

TEST_CASE("wkv5_forward: v5.0, v5.2 and v6 against the CPU reference at every head size, prefill and decode",
          "[gpu][kernels][wkv5]") {
  uint32_t seed = 500;
  for (Form form : {Form::v5_0, Form::v5_2, Form::v6})
    for (int N : {8, 16, 32, 64}) {
      run_case({form, 2, N, {3, 1, 4}, DType::f32}, ++seed);  // prefill, ragged
      run_case({form, 2, N, {1, 1, 1}, DType::f32}, ++seed);  // decode
    }
}

TEST_CASE("wkv5_forward: fp16 and bf16 outputs", "[gpu][kernels][wkv5]") {
  uint32_t seed = 600;
  for (DType t : {DType::f16, DType::bf16})
    for (Form form : {Form::v5_2, Form::v6}) run_case({form, 3, 16, {2, 5}, t}, ++seed);
}

TEST_CASE("wkv5_forward: rejects an unsupported head size and missing pointers", "[gpu][kernels][wkv5]") {
  std::mt19937 rng(7);
  gpu_test::RaggedBatch batch({2}, 64, rng);
  const DeviceBuffer buf = gpu_test::to_device(std::vector<float>(64, 0.0f));
  rwkv_kernels::wkv5_params p;
  p.batch = batch.batch();
  p.H = 1;
  p.N = 4;
  p.r = p.k = p.v = p.decay = p.u = p.ln_w = p.ln_b = buf.as<float>();
  p.out = buf.get();
  CHECK(rwkv_kernels::wkv5_forward(p, nullptr) == cudaErrorInvalidValue);  // N = 4 is not built
  p.N = 8;
  p.u = nullptr;
  CHECK(rwkv_kernels::wkv5_forward(p, nullptr) == cudaErrorInvalidValue);
}
