// Tests kernels/wkv7.cu (the fused v7 time-mix core) on its own against the CPU reference of
// runtime/cpu/time_mix_v7.cpp (docs/rwkv-math.md section 6.3): wkv7_prepare (decay, key
// normalisation and replacement), wkv7_value_residual, wkv7_head (the delta-rule recurrence) and
// wkv7_output (GroupNorm, bonus, gate). Every head size the kernel is built for (8, 16, 32, 64),
// layer 0 (v_first written) and a later layer (v_first read), prefill (a ragged batch of sequences
// of 3, 1 and 4 tokens) and decode (three sequences of one token); the state at an offset that
// allows the kernel's 16-byte path and at one that does not; one head more than a 64-thread block
// holds (a second block with spare heads); eight sequences of different lengths in one launch;
// and one-token decode launches against one prefill launch (the same bits). A bf16 state
// (state_dtype bf16, the CUDA backend's --state-dtype bf16): the reference runs from the same bf16
// values, and each stored value must be its fp32 result rounded to nearest even.
//
// Tolerances: both sides compute in fp32 but sum in different orders (the kernel reduces the key
// norm and the GroupNorm statistics across threads, the reference in double) and the kernel's
// sigmoid uses the fast exponential; with inputs of magnitude <= 1 the outputs (of magnitude ~1)
// agree within 2e-5 and the states within 1e-5 (abs + rel); fp16/bf16 outputs additionally within
// one rounding. Layer 0's v_first is a copy of v, compared bit for bit.
#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

#include "bf16_state_util.h"
#include "gpu_test_util.h"
#include "kernels/wkv7.cuh"
#include "wkv7_test_util.h"

using gpu_test::DeviceBuffer;
using rwkv::DType;

namespace {

using wkv7_test::Case;
using wkv7_test::DeviceInputs;
using wkv7_test::Inputs;
using wkv7_test::make_inputs;
using wkv7_test::make_params;
using wkv7_test::reference;

void run_case(const Case& c, uint32_t seed) {
  CAPTURE(seed, c.H, c.N, c.lens, c.first_layer, rwkv::dtype_name(c.out_t), c.aligned);
  std::mt19937 rng(seed);
  const size_t A = (size_t)c.H * c.N, kv_offset = c.aligned ? 4 : 3;  // after some other state floats
  const size_t state_floats = kv_offset + A * c.N + (c.aligned ? 4 : 2);
  gpu_test::RaggedBatch batch(c.lens, state_floats, rng);
  for (int s = 0; s < batch.n_seq(); ++s) {
    const std::vector<float> init = gpu_test::random_floats(rng, state_floats, -1.0f, 1.0f);
    std::copy(init.begin(), init.end(), batch.state(s));
  }
  batch.upload();
  const size_t rows = (size_t)batch.n_rows();
  const Inputs in = make_inputs(rows, A, rng);
  const DeviceInputs d(in);
  DeviceBuffer dout(rows * A * rwkv::dtype_size(c.out_t));
  rwkv_kernels::wkv7_params p = make_params(d, batch.batch(), kv_offset, c.H, c.N, c.first_layer, 0, dout, c.out_t);
  REQUIRE(rwkv_kernels::wkv7_forward(p, nullptr) == cudaSuccess);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);

  std::vector<float> v_first = in.v_first;
  const std::vector<double> want = reference(c, in, batch, kv_offset, v_first);
  const std::vector<float> want_states = batch.states_in_order(state_floats);
  batch.download();
  const std::vector<float> got_states = batch.states_in_order(state_floats);

  const gpu_test::Comparison out_cmp =
      gpu_test::compare(gpu_test::from_device(dout, c.out_t), want, c.out_t, 2e-5, 2e-5);
  INFO("outputs: " << out_cmp.first << " worst " << out_cmp.worst);
  CHECK(out_cmp.bad == 0);
  const gpu_test::Comparison st_cmp = gpu_test::compare(
      got_states, std::vector<double>(want_states.begin(), want_states.end()), DType::f32, 1e-5, 1e-5);
  INFO("states: " << st_cmp.first << " worst " << st_cmp.worst);
  CHECK(st_cmp.bad == 0);
  const std::vector<float> got_v_first = gpu_test::from_device(d.v_first);
  CHECK(std::memcmp(got_v_first.data(), v_first.data(), v_first.size() * sizeof(float)) == 0);
  CHECK(dout.guard_intact());
  CHECK(d.v_first.guard_intact());
  CHECK(batch.guards_intact());
}

// A bf16 kv state (state_dtype bf16): the kernel loads bf16, computes in fp32 and rounds to nearest
// even on the store; the reference runs from the same bf16 values widened to fp32. The floats
// before and after the kv block stay untouched.
void run_case_bf16_state(const Case& c, uint32_t seed) {
  CAPTURE(seed, c.H, c.N, c.lens, c.first_layer, rwkv::dtype_name(c.out_t), c.aligned);
  std::mt19937 rng(seed);
  const size_t A = (size_t)c.H * c.N, kv_offset = c.aligned ? 4 : 3, numel = A * c.N;
  const size_t state_floats = kv_offset + numel + (c.aligned ? 4 : 2);
  const size_t packed = bf16_state::packed_floats(state_floats, numel);
  gpu_test::RaggedBatch batch(c.lens, packed, rng), ref_batch(c.lens, state_floats, rng);
  const std::vector<std::vector<float>> init =
      bf16_state::fill_states(batch, ref_batch, rng, state_floats, kv_offset, numel);
  batch.upload();
  const size_t rows = (size_t)batch.n_rows();
  const Inputs in = make_inputs(rows, A, rng);
  const DeviceInputs d(in);
  DeviceBuffer dout(rows * A * rwkv::dtype_size(c.out_t));
  rwkv_kernels::wkv7_params p = make_params(d, batch.batch(), kv_offset, c.H, c.N, c.first_layer, 0, dout, c.out_t);
  p.state_dtype = DType::bf16;
  REQUIRE(rwkv_kernels::wkv7_forward(p, nullptr) == cudaSuccess);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);

  std::vector<float> v_first = in.v_first;
  const std::vector<double> want = reference(c, in, ref_batch, kv_offset, v_first);
  batch.download();
  for (int s = 0; s < batch.n_seq(); ++s) {
    INFO("sequence " << s);
    const bf16_state::SequenceCheck st =
        bf16_state::check_sequence(batch.state(s), init[s], ref_batch.state(s), state_floats, kv_offset, numel);
    INFO("kv: " << st.kv.first << " (" << st.kv.checked << " of " << numel << " compared exactly)");
    CHECK(st.rest_unchanged);
    CHECK(st.kv.bad == 0);
    CHECK(st.kv.checked * 2 >= numel);  // most values are far from a rounding tie: the check has teeth
  }
  const gpu_test::Comparison out_cmp =
      gpu_test::compare(gpu_test::from_device(dout, c.out_t), want, c.out_t, 2e-5, 2e-5);
  INFO("outputs: " << out_cmp.first << " worst " << out_cmp.worst);
  CHECK(out_cmp.bad == 0);
  CHECK(std::memcmp(gpu_test::from_device(d.v_first).data(), v_first.data(), v_first.size() * sizeof(float)) == 0);
  CHECK(dout.guard_intact());
  CHECK(batch.guards_intact());
}

// One sequence of T tokens in one launch, then the same from the same initial state in T
// launches of one token: every token computes the same arithmetic whatever the batching, so the
// outputs, v_first and the final states must be the same bits.
void check_decode_matches_prefill(int H, int N, bool first_layer, bool aligned, int T, uint32_t seed) {
  CAPTURE(seed, H, N, first_layer, aligned, T);
  std::mt19937 rng(seed);
  const size_t A = (size_t)H * N, kv_offset = aligned ? 4 : 3, state_floats = kv_offset + A * N + 4;
  const std::vector<float> init = gpu_test::random_floats(rng, state_floats, -1.0f, 1.0f);
  const Inputs in = make_inputs((size_t)T, A, rng);
  std::vector<float> outs[2], states[2], v_firsts[2];
  for (int pass = 0; pass < 2; ++pass) {  // 0: prefill, 1: decode
    const DeviceInputs d(in);
    DeviceBuffer dout((size_t)T * A * sizeof(float));
    gpu_test::RaggedBatch prefill({T}, state_floats, rng), step({1}, state_floats, rng);
    gpu_test::RaggedBatch& batch = pass == 0 ? prefill : step;
    std::copy(init.begin(), init.end(), batch.state(0));
    batch.upload();
    for (int t = 0; t < (pass == 0 ? 1 : T); ++t)
      REQUIRE(rwkv_kernels::wkv7_forward(make_params(d, batch.batch(), kv_offset, H, N, first_layer, (size_t)t, dout,
                                                     DType::f32),
                                         nullptr) == cudaSuccess);
    REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
    batch.download();
    outs[pass] = gpu_test::from_device(dout);
    states[pass] = batch.states_in_order(state_floats);
    v_firsts[pass] = gpu_test::from_device(d.v_first);
  }
  CHECK(std::memcmp(outs[0].data(), outs[1].data(), outs[0].size() * sizeof(float)) == 0);
  CHECK(std::memcmp(states[0].data(), states[1].data(), states[0].size() * sizeof(float)) == 0);
  CHECK(std::memcmp(v_firsts[0].data(), v_firsts[1].data(), v_firsts[0].size() * sizeof(float)) == 0);
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

TEST_CASE("wkv7_forward: 16-byte state path, spare heads in the last block, many ragged sequences",
          "[gpu][kernels][wkv7]") {
  uint32_t seed = 750;
  for (bool first_layer : {true, false})
    for (int N : {8, 16, 32, 64}) {
      const int per_block = 64 / N;  // heads of one 64-thread block
      run_case({2, N, {3, 1, 4}, first_layer, DType::f32, true}, ++seed);
      run_case({per_block + 1, N, {2, 1}, first_layer, DType::f32, true}, ++seed);  // 2 blocks, spare heads
      run_case({per_block + 1, N, {2, 1}, first_layer, DType::f32, false}, ++seed);
    }
  // Eight sequences of different lengths, decode and prefill mixed in one launch; at offset 3 the
  // pool's slots leave some heads 16-byte aligned and others not.
  run_case({3, 16, {1, 7, 2, 1, 5, 3, 1, 4}, false, DType::f32, false}, ++seed);
  run_case({2, 64, {1, 7, 2, 1, 5, 3, 1, 4}, false, DType::f32, true}, ++seed);
}

TEST_CASE("wkv7_forward: one-token decode launches give the bits of one prefill launch", "[gpu][kernels][wkv7]") {
  uint32_t seed = 780;
  for (int N : {8, 16, 32, 64}) {
    check_decode_matches_prefill(64 / N + 1, N, true, true, 4, ++seed);
    check_decode_matches_prefill(2, N, false, false, 3, ++seed);
  }
}

TEST_CASE("wkv7_forward: fp16 and bf16 outputs", "[gpu][kernels][wkv7]") {
  uint32_t seed = 800;
  for (DType t : {DType::f16, DType::bf16}) run_case({3, 16, {2, 5}, false, t}, ++seed);
}

TEST_CASE("wkv7_forward: bf16 state (loaded to fp32, rounded to nearest even on the store)",
          "[gpu][kernels][wkv7]") {
  uint32_t seed = 820;
  for (bool first_layer : {true, false})
    for (int N : {8, 16, 32, 64}) {
      run_case_bf16_state({2, N, {3, 1, 4}, first_layer, DType::f32, true}, ++seed);   // prefill, 16-byte path
      run_case_bf16_state({2, N, {1, 1, 1}, first_layer, DType::f32, false}, ++seed);  // decode, 4-byte path
    }
  run_case_bf16_state({64 / 16 + 1, 16, {2, 1}, false, DType::bf16, true}, ++seed);  // spare heads
  run_case_bf16_state({2, 64, {1, 7, 2, 1, 5, 3, 1, 4}, false, DType::f16, false}, ++seed);
}

TEST_CASE("wkv7_forward: rejects an unsupported head size and missing pointers", "[gpu][kernels][wkv7]") {
  wkv7_test::check_rejects(rwkv_kernels::wkv7_forward);
}
