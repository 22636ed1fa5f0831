// Tests kernels/wkv5_chunked.cu (the chunked RWKV-5/6 WKV of a prefill, on tensor cores) against
// the CPU reference of runtime/cpu/ (tests/kernels/wkv5_test_util.h) and against the sequential
// kernel (kernels/wkv5.cu): every head size (8, 16, 32, 64), the three forms, ragged batches whose
// sequences end at the chunk's awkward places (1, 31, 32, 33 tokens, several chunks, from random
// non-zero states), fp16/bf16 outputs, a bf16 state, decays strong enough to underflow (v6 factors
// exp(-exp(6)), and v5 factors of 0) with no NaN, and the parameters it refuses.
//
// Tolerances: the chunked form reorders the fp32 sums, replaces products of decays by exponentials
// of their summed logarithms (each cumulative log decay carries about one ulp of its magnitude,
// |b| <= 32 * 3 here: ~1e-5 relative on a factor) and runs its products on split bf16 operands
// (about 2^-27 relative per product, kernels/common/mma_split.cuh); outputs pass the GroupNorm, which
// divides by the head's deviation. So outputs are held to 1e-4 (abs + rel) and states to 3e-5,
// against the reference and against the sequential kernel (measured worst on these cases with an
// earlier two-part split, 2^-17 per product, fp32: outputs 4.6e-5, states 1.8e-5). Two-part
// operands (wkv5_params::split_parts = 2, the runs with 16-bit activations): outputs and states
// within 2^-13, a quarter of one fp16 rounding of the outputs (2^-11), as tests/kernels/
// test_wkv7_chunked.cpp holds them.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <vector>

#include "bf16_state_util.h"
#include "gpu_test_util.h"
#include "kernels/wkv5_chunked.cuh"
#include "wkv5_test_util.h"

using gpu_test::DeviceBuffer;
using rwkv::DType;
using namespace wkv5_test;

namespace {

constexpr double kOutTol = 1e-4, kStateTol = 3e-5, kTwoPartTol = 1.0 / 8192;

// Inputs of a case with the decays made strong: v6 time_decay up to 6 (log factors to -exp(6.5)),
// v5 some factors exactly 0.
Inputs strong_decays(Inputs in, Form form, std::mt19937& rng) {
  std::uniform_real_distribution<float> d(-1.0f, 6.0f);
  for (size_t i = 0; i < in.decay.size(); ++i) {
    if (form == Form::v6)
      in.decay[i] = d(rng);
    else if (i % 3 == 0)
      in.decay[i] = 0.0f;
  }
  return in;
}

struct Result {
  std::vector<float> out, states;  // outputs [rows, A] (as fp32), final states in sequence order
};

// Runs the chunked kernel (chunked) or the sequential one from the same states and inputs.
Result run_kernel(const Case& c, const Inputs& in, const std::vector<std::vector<float>>& init, size_t floats,
                  size_t kv_offset, DType state_t, bool chunked, int split_parts = rwkv_kernels::kSplitFp32) {
  std::mt19937 unused(0);
  gpu_test::RaggedBatch batch(c.lens, init[0].size(), unused);
  for (int s = 0; s < batch.n_seq(); ++s) std::copy(init[(size_t)s].begin(), init[(size_t)s].end(), batch.state(s));
  batch.upload();
  const size_t rows = (size_t)batch.n_rows(), A = (size_t)c.H * c.N;
  const DeviceInputs d(in);
  DeviceBuffer dout(rows * A * rwkv::dtype_size(c.out_t)), y(rows * A * sizeof(float));
  rwkv_kernels::wkv5_params p = make_params(d, c.form, batch.batch(), kv_offset, c.H, c.N, 0, dout, c.out_t);
  p.state_dtype = state_t;
  p.split_parts = split_parts;
  REQUIRE((chunked ? rwkv_kernels::wkv5_chunked_forward(p, y.as<float>(), nullptr)
                   : rwkv_kernels::wkv5_forward(p, nullptr)) == cudaSuccess);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  batch.download();
  CHECK(dout.guard_intact());
  CHECK(y.guard_intact());
  CHECK(batch.guards_intact());
  Result r{gpu_test::from_device(dout, c.out_t), {}};
  for (int s = 0; s < batch.n_seq(); ++s) {
    const float* st = batch.state(s);
    const std::vector<float> full =
        state_t == DType::bf16 ? bf16_state::unpack(st, floats, kv_offset, A * c.N) : std::vector<float>(st, st + floats);
    r.states.insert(r.states.end(), full.begin(), full.end());
  }
  return r;
}

void check_close(const char* what, const std::vector<float>& got, const std::vector<double>& want, DType t,
                 double tol) {
  const gpu_test::Comparison cmp = gpu_test::compare(got, want, t, tol, tol);
  INFO(what << ": " << cmp.first);
  UNSCOPED_INFO(what << " worst |diff| / tolerance " << cmp.worst);
  CHECK(cmp.bad == 0);
  CHECK(cmp.nonfinite == 0);
}

// Chunked against the CPU reference and against the sequential kernel; with two-part operands
// (split_parts 2) against the reference within kTwoPartTol, and not the three-part states' bits.
void run_case(const Case& c, uint32_t seed, DType state_t = DType::f32, bool strong = false,
              int split_parts = rwkv_kernels::kSplitFp32) {
  CAPTURE(seed, (int)c.form, c.H, c.N, c.lens, rwkv::dtype_name(c.out_t), rwkv::dtype_name(state_t), strong,
          split_parts);
  const bool two_parts = split_parts == rwkv_kernels::kSplitBf16Run;
  const double out_tol = two_parts ? kTwoPartTol : kOutTol, state_tol = two_parts ? kTwoPartTol : kStateTol;
  std::mt19937 rng(seed);
  const size_t A = (size_t)c.H * c.N, numel = A * c.N, kv_offset = 4, floats = kv_offset + numel + 4;
  std::vector<std::vector<float>> init, device_init;
  for (size_t s = 0; s < c.lens.size(); ++s) {
    std::vector<float> st = gpu_test::random_floats(rng, floats, -1.0f, 1.0f);
    if (state_t == DType::bf16) bf16_state::round_kv(st.data(), kv_offset, numel);
    device_init.push_back(state_t == DType::bf16 ? bf16_state::pack(st.data(), floats, kv_offset, numel) : st);
    init.push_back(st);
  }
  size_t rows = 0;
  for (int n : c.lens) rows += (size_t)n;
  Inputs in = make_inputs(c, rows, rng);
  if (strong) in = strong_decays(in, c.form, rng);

  const Result chunked = run_kernel(c, in, device_init, floats, kv_offset, state_t, true, split_parts);
  const Result seq = run_kernel(c, in, device_init, floats, kv_offset, state_t, false);
  if (two_parts) {
    const Result three = run_kernel(c, in, device_init, floats, kv_offset, state_t, true);
    CHECK(std::memcmp(chunked.states.data(), three.states.data(), three.states.size() * sizeof(float)) != 0);
  }
  gpu_test::RaggedBatch ref_batch(c.lens, floats, rng);
  for (size_t s = 0; s < init.size(); ++s) std::copy(init[s].begin(), init[s].end(), ref_batch.state((int)s));
  const std::vector<double> want = reference(c, in, ref_batch, kv_offset);

  check_close("outputs vs reference", chunked.out, want, c.out_t, out_tol);
  if (c.out_t == DType::f32)  // (16-bit outputs: both sides rounded; the reference check covers them)
    check_close("outputs vs sequential kernel", chunked.out, std::vector<double>(seq.out.begin(), seq.out.end()),
                c.out_t, out_tol);
  const std::vector<float> ref_states = ref_batch.states_in_order(floats);
  if (state_t == DType::f32) {
    check_close("states vs reference", chunked.states, std::vector<double>(ref_states.begin(), ref_states.end()),
                DType::f32, state_tol);
    return;
  }
  for (size_t s = 0; s < init.size(); ++s) {  // bf16: the reference rounded to nearest even
    INFO("sequence " << s);
    const auto at = [&](const std::vector<float>& v) {
      return std::vector<float>(v.begin() + long(s * floats + kv_offset), v.begin() + long(s * floats + kv_offset + numel));
    };
    const bf16_state::Check kv = bf16_state::check_rounded(at(chunked.states), at(ref_states), state_tol, state_tol);
    INFO("kv: " << kv.first);
    CHECK(kv.bad == 0);
    CHECK(kv.checked * 2 >= numel);
  }
}

const std::vector<int> kAwkward = {1, 31, 32, 33, 101};  // around the 32-token chunk

TEST_CASE("wkv5_chunked_forward: v5.0, v5.2 and v6 at every head size against the reference and the sequential "
          "kernel, sequences ending around chunk boundaries",
          "[gpu][kernels][wkv5_chunked]") {
  uint32_t seed = 500;
  for (Form form : {Form::v5_0, Form::v5_2, Form::v6})
    for (int N : {8, 16, 32, 64}) run_case({form, N == 64 ? 1 : 2, N, kAwkward, DType::f32}, seed++);
}

TEST_CASE("wkv5_chunked_forward: one long sequence of many chunks, and a ragged batch of eight",
          "[gpu][kernels][wkv5_chunked]") {
  run_case({Form::v6, 1, 64, {300}, DType::f32}, 601);
  run_case({Form::v5_2, 2, 32, {7, 64, 65, 2, 96, 1, 40, 33}, DType::f32}, 602);
}

TEST_CASE("wkv5_chunked_forward: fp16 and bf16 outputs, bf16 state", "[gpu][kernels][wkv5_chunked]") {
  run_case({Form::v6, 2, 32, {33, 70}, DType::f16}, 611);
  run_case({Form::v5_2, 1, 64, {33, 70}, DType::bf16}, 612);
  run_case({Form::v6, 1, 64, {1, 45, 64}, DType::f32}, 613, DType::bf16);
  run_case({Form::v5_2, 2, 16, {1, 45, 64}, DType::f32}, 614, DType::bf16);
}

TEST_CASE("wkv5_chunked_forward: two-part operands (runs with 16-bit activations) within 2^-13 of the reference",
          "[gpu][kernels][wkv5_chunked]") {
  run_case({Form::v6, 1, 64, {1, 45, 300}, DType::bf16}, 631, DType::f32, false, rwkv_kernels::kSplitBf16Run);
  run_case({Form::v5_2, 2, 32, {33, 70}, DType::f16}, 632, DType::f32, false, rwkv_kernels::kSplitBf16Run);
  run_case({Form::v5_0, 2, 16, kAwkward, DType::f32}, 633, DType::f32, false, rwkv_kernels::kSplitBf16Run);
  run_case({Form::v6, 1, 64, {70}, DType::f32}, 634, DType::bf16, true, rwkv_kernels::kSplitBf16Run);
}

TEST_CASE("wkv5_chunked_forward: decays that underflow give finite results equal to the reference",
          "[gpu][kernels][wkv5_chunked]") {
  run_case({Form::v6, 1, 64, {70}, DType::f32}, 621, DType::f32, true);
  run_case({Form::v5_2, 2, 32, {70}, DType::f32}, 622, DType::f32, true);
}

TEST_CASE("wkv5_chunked_forward: refuses the decode mode, a missing scratch, an unsupported head size, a split "
          "of other than 2 or 3 parts",
          "[gpu][kernels][wkv5_chunked]") {
  std::mt19937 rng(7);
  const Case c{Form::v5_2, 1, 16, {3}, DType::f32};
  gpu_test::RaggedBatch batch(c.lens, 4 + 256 + 4, rng);
  batch.upload();
  const Inputs in = make_inputs(c, 3, rng);
  const DeviceInputs d(in);
  DeviceBuffer dout(3 * 16 * sizeof(float)), y(3 * 16 * sizeof(float));
  const rwkv_kernels::wkv5_params good = make_params(d, c.form, batch.batch(), 4, 1, 16, 0, dout, DType::f32);
  REQUIRE(rwkv_kernels::wkv5_chunked_forward(good, y.as<float>(), nullptr) == cudaSuccess);
  CHECK(rwkv_kernels::wkv5_chunked_forward(good, nullptr, nullptr) == cudaErrorInvalidValue);
  rwkv_kernels::wkv5_params p = good;
  p.N = 24;
  CHECK(rwkv_kernels::wkv5_chunked_forward(p, y.as<float>(), nullptr) == cudaErrorInvalidValue);
  p = good;
  p.decay_w2 = d.w_lora.get();
  p.lora_act = d.w_lora.get();
  p.Dd = 4;
  CHECK(rwkv_kernels::wkv5_chunked_forward(p, y.as<float>(), nullptr) == cudaErrorInvalidValue);
  p = good;
  p.r = nullptr;
  CHECK(rwkv_kernels::wkv5_chunked_forward(p, y.as<float>(), nullptr) == cudaErrorInvalidValue);
  for (int parts : {0, 1, 4}) {  // the operands' parts: 2 or 3
    p = good;
    p.split_parts = parts;
    CHECK(rwkv_kernels::wkv5_chunked_forward(p, y.as<float>(), nullptr) == cudaErrorInvalidValue);
  }
  p.split_parts = rwkv_kernels::kSplitBf16Run;
  CHECK(rwkv_kernels::wkv5_chunked_forward(p, y.as<float>(), nullptr) == cudaSuccess);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
}

}  // namespace
