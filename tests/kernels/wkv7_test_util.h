// tests/kernels/wkv7_test_util.h: the inputs, CPU reference and kernel parameters of the RWKV-7
// time-mix core tests (test_wkv7.cpp: the sequential kernel; test_wkv7_chunked.cpp: the chunked
// one). The reference is runtime/cpu/time_mix_v7.cpp (docs/rwkv-math.md section 6.3).
#pragma once

#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "gpu_test_util.h"
#include "kernels/wkv7.cuh"
#include "runtime/cpu/cpu_layers.h"

namespace wkv7_test {

using gpu_test::DeviceBuffer;
using rwkv::DType;

struct Case {
  int H, N;
  std::vector<int> lens;  // tokens per sequence
  bool first_layer;
  DType out_t;
  // Where the kv block sits: 4 floats into a state of a multiple of 4 floats (every head 16-byte
  // aligned: the kernel's 16-byte state path) or 3 floats in (its 4-byte path).
  bool aligned = false;
};

struct Inputs {
  std::vector<float> r, k, v, w_lora, a_lora, v_lora, g, v_first;  // [rows, A]
  std::vector<float> w0, a0, v0, k_k, k_a, r_k, ln_w, ln_b;         // [A]
};

inline Inputs make_inputs(size_t rows, size_t A, std::mt19937& rng) {
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
inline std::vector<double> reference(const Case& c, const Inputs& in, gpu_test::RaggedBatch& batch, size_t kv_offset,
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

// The inputs in device memory.
struct DeviceInputs {
  DeviceBuffer r, k, v, w_lora, a_lora, v_lora, g, v_first, w0, a0, v0, k_k, k_a, r_k, ln_w, ln_b;
  explicit DeviceInputs(const Inputs& in)
      : r(dev(in.r)), k(dev(in.k)), v(dev(in.v)), w_lora(dev(in.w_lora)), a_lora(dev(in.a_lora)),
        v_lora(dev(in.v_lora)), g(dev(in.g)), v_first(dev(in.v_first)), w0(dev(in.w0)), a0(dev(in.a0)),
        v0(dev(in.v0)), k_k(dev(in.k_k)), k_a(dev(in.k_a)), r_k(dev(in.r_k)), ln_w(dev(in.ln_w)),
        ln_b(dev(in.ln_b)) {}
  static DeviceBuffer dev(const std::vector<float>& x) { return gpu_test::to_device(x); }
};

// The kernel's parameters for `batch`, whose row 0 is row `row0` of the inputs and of `out`.
inline rwkv_kernels::wkv7_params make_params(const DeviceInputs& d, const rwkv_kernels::ragged_batch& batch,
                                      size_t kv_offset, int H, int N, bool first_layer, size_t row0,
                                      const DeviceBuffer& out, DType out_t) {
  const size_t at = row0 * (size_t)H * N;
  rwkv_kernels::wkv7_params p;
  p.batch = batch;
  p.kv_offset = kv_offset;
  p.H = H;
  p.N = N;
  p.r = d.r.as<float>() + at;
  p.k = d.k.as<float>() + at;
  p.v = d.v.as<float>() + at;
  p.w_lora = d.w_lora.as<float>() + at;
  p.a_lora = d.a_lora.as<float>() + at;
  p.v_lora = first_layer ? nullptr : d.v_lora.as<float>() + at;
  p.g = d.g.as<float>() + at;
  p.v_first = d.v_first.as<float>() + at;
  p.first_layer = first_layer;
  p.w0 = d.w0.as<float>();
  p.a0 = d.a0.as<float>();
  p.v0 = first_layer ? nullptr : d.v0.as<float>();
  p.k_k = d.k_k.as<float>();
  p.k_a = d.k_a.as<float>();
  p.r_k = d.r_k.as<float>();
  p.ln_w = d.ln_w.as<float>();
  p.ln_b = d.ln_b.as<float>();
  p.out = static_cast<char*>(out.get()) + at * rwkv::dtype_size(out_t);
  p.out_dtype = out_t;
  return p;
}

// What both WKV7 entry points (wkv7_forward, wkv7_chunked_forward) refuse: a head size that is not
// built, a state that is neither fp32 nor bf16, a later layer without v_lora and v0.
inline void check_rejects(cudaError_t (*forward)(const rwkv_kernels::wkv7_params&, cudaStream_t)) {
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
  CHECK(forward(p, nullptr) == cudaErrorInvalidValue);  // N = 4 is not built
  p.N = 8;
  p.state_dtype = DType::f16;  // a state is fp32 or bf16
  CHECK(forward(p, nullptr) == cudaErrorInvalidValue);
  p.state_dtype = DType::f32;
  p.first_layer = false;  // a later layer needs v_lora and v0
  CHECK(forward(p, nullptr) == cudaErrorInvalidValue);
}

}  // namespace wkv7_test
