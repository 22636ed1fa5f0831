// tests/kernels/wkv5_test_util.h: what the tests of the RWKV-5/6 WKV kernels share
// (test_wkv5.cpp: the sequential kernel, test_wkv5_chunked.cpp: the chunked one): random inputs
// of the three forms (5.0: no gate, fixed decay; 5.1+: gate; v6: gate and per-token decay), the
// CPU reference of runtime/cpu/ (wkv5_head, group_norm_row, siluf; v6's decay as
// time_mix_v6.cpp computes it) and the kernels' parameters.
#pragma once

#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

#include "gpu_test_util.h"
#include "kernels/wkv5.cuh"
#include "runtime/cpu/cpu_layers.h"
#include "runtime/cpu/cpu_ops.h"

namespace wkv5_test {

using gpu_test::DeviceBuffer;
using rwkv::DType;

enum class Form { v5_0, v5_2, v6 };

struct Case {
  Form form;
  int H, N;
  std::vector<int> lens;  // tokens per sequence
  DType out_t;
  // Where the kv block sits: 4 floats into a state of a multiple of 4 floats (every head 16-byte
  // aligned: the kernel's 16-byte state path) or 5 floats in (its 4-byte path).
  bool aligned = false;
};

struct Inputs {
  std::vector<float> r, k, v, g, w_lora;  // [rows, A]
  std::vector<float> decay, u, ln_w, ln_b;  // [A]
};

inline Inputs make_inputs(const Case& c, size_t rows, std::mt19937& rng) {
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
inline std::vector<double> reference(const Case& c, const Inputs& in, gpu_test::RaggedBatch& batch, size_t kv_offset) {
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

// The inputs in device memory.
struct DeviceInputs {
  DeviceBuffer r, k, v, g, w_lora, decay, u, ln_w, ln_b;
  explicit DeviceInputs(const Inputs& in)
      : r(dev(in.r)), k(dev(in.k)), v(dev(in.v)), g(dev(in.g)), w_lora(dev(in.w_lora)), decay(dev(in.decay)),
        u(dev(in.u)), ln_w(dev(in.ln_w)), ln_b(dev(in.ln_b)) {}
  static DeviceBuffer dev(const std::vector<float>& x) { return gpu_test::to_device(x); }
};

// The kernel's parameters for `batch`, whose row 0 is row `row0` of the inputs and of `out`.
inline rwkv_kernels::wkv5_params make_params(const DeviceInputs& d, Form form, const rwkv_kernels::ragged_batch& batch,
                                      size_t kv_offset, int H, int N, size_t row0, const DeviceBuffer& out,
                                      DType out_t) {
  const size_t at = row0 * (size_t)H * N;
  rwkv_kernels::wkv5_params p;
  p.batch = batch;
  p.kv_offset = kv_offset;
  p.H = H;
  p.N = N;
  p.r = d.r.as<float>() + at;
  p.k = d.k.as<float>() + at;
  p.v = d.v.as<float>() + at;
  p.g = form == Form::v5_0 ? nullptr : d.g.as<float>() + at;
  p.decay = d.decay.as<float>();
  p.w_lora = form == Form::v6 ? d.w_lora.as<float>() + at : nullptr;
  p.u = d.u.as<float>();
  p.ln_w = d.ln_w.as<float>();
  p.ln_b = d.ln_b.as<float>();
  p.out = static_cast<char*>(out.get()) + at * rwkv::dtype_size(out_t);
  p.out_dtype = out_t;
  return p;
}

}  // namespace wkv5_test
