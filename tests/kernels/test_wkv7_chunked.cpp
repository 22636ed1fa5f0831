// Tests kernels/wkv7_chunked.cu (the chunked RWKV-7 time-mix core for prefill) against the CPU
// reference of runtime/cpu/time_mix_v7.cpp (docs/rwkv-math.md section 6.3) and against the
// sequential kernel (kernels/wkv7.cu) on the same inputs: every head size built (8, 16, 32, 64),
// layer 0 (v_first written) and later layers (v_first read), ragged batches whose sequences end
// at every chunk position that matters (1, L - 1, L, L + 1, 3L + 5 tokens with L =
// kWkv7ChunkTokens: a partial chunk only, a full one, one more, several), non-zero start states
// at a 16-byte and a 4-byte aligned offset, fp16/bf16 outputs and bf16 state slots; pass 2
// (N = 32, 64) in each of its block shapes, a block per head, split and (N = 64) quarter
// (wkv7_chunk_carry_slices); the
// tensor-core operands in three bf16 parts (fp32-accurate) and in two (wkv7_params::split_parts,
// the runs with 16-bit activations).
//
// N = 32, 64 exercise the tensor-core path (mma.cuh, emulated bit for bit), N = 8, 16 the fp32 one.
//
// Tolerances: the chunked kernel computes to fp32 accuracy like the sequential one (its tensor-core
// products on operands split in three bf16 parts) but sums in another order (the chunk's products,
// the decays as exponentials of cumulative log decays); the same
// bounds as test_wkv7.cpp hold: outputs within 2e-5 and states within 1e-5 (abs + rel) of the
// reference and of the sequential kernel; fp16/bf16 outputs additionally within one rounding.
// Two-part operands (about 2^-16 relative a product, kernels/common/mma_split.cuh): outputs and
// states within 2^-13 (abs + rel) of the reference, a quarter of one fp16 rounding of the outputs
// (2^-11) and a sixteenth of a bf16 one, which the runs taking them round their outputs to.
// Layer 0's v_first is a copy of v, compared bit for bit.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <vector>

#include "bf16_state_util.h"
#include "gpu_test_util.h"
#include "kernels/wkv7_chunked.cuh"
#include "wkv7_test_util.h"

using gpu_test::DeviceBuffer;
using rwkv::DType;
using wkv7_test::Case;
using wkv7_test::DeviceInputs;
using wkv7_test::Inputs;

namespace {

constexpr int L = rwkv_kernels::kWkv7ChunkTokens;
using Forward = cudaError_t (*)(const rwkv_kernels::wkv7_params&, cudaStream_t);

struct Result {
  std::vector<float> out;      // [rows, A] widened from out_t
  std::vector<float> states;   // the states after the launch, in sequence order
  std::vector<float> v_first;  // [rows, A]
};

// The chunked kernels' scratch for `rows` rows of c's shape (one float when none is needed: N = 8, 16).
DeviceBuffer chunk_scratch(size_t rows, const Case& c) {
  return DeviceBuffer(std::max<size_t>(1, rwkv_kernels::wkv7_chunked_scratch_floats((int)rows, c.H, c.N)) *
                      sizeof(float));
}

// One launch of `forward` over c's sequences from the states `init` (one per sequence).
Result run_kernel(Forward forward, const Case& c, const Inputs& in, const std::vector<std::vector<float>>& init,
                  size_t state_floats, size_t kv_offset, std::mt19937& rng, int carry_split_slots = -1,
                  int split_parts = rwkv_kernels::kSplitFp32) {
  gpu_test::RaggedBatch batch(c.lens, state_floats, rng);
  for (int s = 0; s < batch.n_seq(); ++s) std::copy(init[s].begin(), init[s].end(), batch.state(s));
  batch.upload();
  const size_t rows = (size_t)batch.n_rows(), A = (size_t)c.H * c.N;
  const DeviceInputs d(in);
  DeviceBuffer dout(rows * A * rwkv::dtype_size(c.out_t));
  const DeviceBuffer scratch = chunk_scratch(rows, c);  // the sequential kernel does not read it
  rwkv_kernels::wkv7_params p =
      wkv7_test::make_params(d, batch.batch(), kv_offset, c.H, c.N, c.first_layer, 0, dout, c.out_t);
  p.chunk_scratch = scratch.as<float>();
  p.carry_split_slots = carry_split_slots;
  p.split_parts = split_parts;
  REQUIRE(forward(p, nullptr) == cudaSuccess);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  batch.download();
  CHECK(dout.guard_intact());
  CHECK(scratch.guard_intact());
  CHECK(d.v_first.guard_intact());
  CHECK(batch.guards_intact());
  return {gpu_test::from_device(dout, c.out_t), batch.states_in_order(state_floats),
          gpu_test::from_device(d.v_first)};
}

void check_close(const std::vector<float>& got, const std::vector<float>& want, DType t, double tol,
                 const char* what) {
  const gpu_test::Comparison cmp = gpu_test::compare(got, std::vector<double>(want.begin(), want.end()), t, tol, tol);
  INFO(what << ": " << cmp.first << " worst " << cmp.worst);
  CHECK(cmp.bad == 0);
}

// wkv7_params::carry_split_slots that makes pass 2 cut its keys as far as it can at every test
// shape (quarter at N = 64, split at N = 32).
constexpr int kSplitAlways = 1 << 20;

// carry_split_slots for each of pass 2's shapes at c: whole (0), split (room for the split blocks,
// not for the quarter ones: N = 64) and as far as it goes (quarter at N = 64, split at N = 32).
std::vector<int> carry_shapes(const Case& c) {
  if (c.N != 64) return {0, kSplitAlways};
  const int split = c.H * (int)c.lens.size() * 2;
  REQUIRE(rwkv_kernels::wkv7_chunk_carry_slices(c.H, (int)c.lens.size(), c.N, split) == 2);
  REQUIRE(rwkv_kernels::wkv7_chunk_carry_slices(c.H, (int)c.lens.size(), c.N, kSplitAlways) == 4);
  return {0, split, kSplitAlways};
}

// One run of the chunked kernel against the reference (want, want_states, v_first) and the
// sequential kernel.
void check_against(const Case& c, const Result& chunked, const Result& sequential, const std::vector<double>& want,
                   const std::vector<float>& want_states, const std::vector<float>& v_first) {
  const gpu_test::Comparison out_cmp = gpu_test::compare(chunked.out, want, c.out_t, 2e-5, 2e-5);
  INFO("outputs against the reference: " << out_cmp.first << " worst " << out_cmp.worst);
  CHECK(out_cmp.bad == 0);
  check_close(chunked.states, want_states, DType::f32, 1e-5, "states against the reference");
  // (fp16/bf16 outputs: both sides are rounded, one rounding apart at a tie; the reference bounds each.)
  if (c.out_t == DType::f32) check_close(chunked.out, sequential.out, c.out_t, 2e-5, "outputs against the sequential kernel");
  check_close(chunked.states, sequential.states, DType::f32, 1e-5, "states against the sequential kernel");
  CHECK(std::memcmp(chunked.v_first.data(), v_first.data(), v_first.size() * sizeof(float)) == 0);
}

// A case's start states and inputs (random from rng), and the CPU reference's outputs, states
// and v_first from them.
struct Fixture {
  size_t kv_offset = 0, state_floats = 0;
  std::vector<std::vector<float>> init;  // one start state per sequence
  Inputs in;
  std::vector<double> want;
  std::vector<float> want_states, v_first;
};

Fixture make_fixture(const Case& c, std::mt19937& rng) {
  Fixture f;
  const size_t A = (size_t)c.H * c.N;
  f.kv_offset = c.aligned ? 4 : 3;
  f.state_floats = f.kv_offset + A * c.N + (c.aligned ? 4 : 2);
  for (size_t s = 0; s < c.lens.size(); ++s)
    f.init.push_back(gpu_test::random_floats(rng, f.state_floats, -1.0f, 1.0f));
  size_t rows = 0;
  for (int n : c.lens) rows += (size_t)n;
  f.in = wkv7_test::make_inputs(rows, A, rng);
  gpu_test::RaggedBatch ref(c.lens, f.state_floats, rng);
  for (int s = 0; s < ref.n_seq(); ++s) std::copy(f.init[s].begin(), f.init[s].end(), ref.state(s));
  f.v_first = f.in.v_first;
  f.want = wkv7_test::reference(c, f.in, ref, f.kv_offset, f.v_first);
  f.want_states = ref.states_in_order(f.state_floats);
  return f;
}

// The chunked kernel against the CPU reference and against the sequential kernel.
void check_chunked(const Case& c, uint32_t seed) {
  CAPTURE(seed, c.H, c.N, c.lens, c.first_layer, rwkv::dtype_name(c.out_t), c.aligned);
  std::mt19937 rng(seed);
  const Fixture f = make_fixture(c, rng);
  const Result sequential = run_kernel(rwkv_kernels::wkv7_forward, c, f.in, f.init, f.state_floats, f.kv_offset, rng);
  // Pass 2 in each block shape (N = 32, 64): a block per head, split, quarter (N = 64).
  for (int slots : carry_shapes(c)) {
    INFO("carry_split_slots " << slots);
    const Result chunked =
        run_kernel(rwkv_kernels::wkv7_chunked_forward, c, f.in, f.init, f.state_floats, f.kv_offset, rng, slots);
    check_against(c, chunked, sequential, f.want, f.want_states, f.v_first);
  }
}

// Two-part operands against the reference, in every pass-2 shape; and not the three-part results'
// bits (the parameter reaches the kernels: their states differ somewhere).
void check_chunked_two_parts(const Case& c, uint32_t seed) {
  CAPTURE(seed, c.H, c.N, c.lens, c.first_layer, rwkv::dtype_name(c.out_t), c.aligned);
  std::mt19937 rng(seed);
  const Fixture f = make_fixture(c, rng);
  constexpr double kTwoPartTol = 1.0 / 8192;  // 2^-13
  for (int slots : carry_shapes(c)) {
    INFO("carry_split_slots " << slots);
    const Result three = run_kernel(rwkv_kernels::wkv7_chunked_forward, c, f.in, f.init, f.state_floats, f.kv_offset,
                                    rng, slots, rwkv_kernels::kSplitFp32);
    const Result two = run_kernel(rwkv_kernels::wkv7_chunked_forward, c, f.in, f.init, f.state_floats, f.kv_offset,
                                  rng, slots, rwkv_kernels::kSplitBf16Run);
    const gpu_test::Comparison out_cmp = gpu_test::compare(two.out, f.want, c.out_t, kTwoPartTol, kTwoPartTol);
    INFO("outputs against the reference: " << out_cmp.first << " worst " << out_cmp.worst);
    CHECK(out_cmp.bad == 0);
    check_close(two.states, f.want_states, DType::f32, kTwoPartTol, "states against the reference");
    CHECK(std::memcmp(two.v_first.data(), f.v_first.data(), f.v_first.size() * sizeof(float)) == 0);
    CHECK(std::memcmp(two.states.data(), three.states.data(), two.states.size() * sizeof(float)) != 0);
  }
}

// A bf16 kv state: loaded to fp32, rounded to nearest even once on the store (per launch, not
// per chunk); the reference runs from the same bf16 values widened to fp32.
void check_chunked_bf16_state(const Case& c, uint32_t seed, int carry_split_slots) {
  CAPTURE(seed, c.H, c.N, c.lens, c.first_layer, rwkv::dtype_name(c.out_t), c.aligned, carry_split_slots);
  std::mt19937 rng(seed);
  const size_t A = (size_t)c.H * c.N, kv_offset = c.aligned ? 4 : 3, numel = A * c.N;
  const size_t state_floats = kv_offset + numel + (c.aligned ? 4 : 2);
  gpu_test::RaggedBatch batch(c.lens, bf16_state::packed_floats(state_floats, numel), rng),
      ref(c.lens, state_floats, rng);
  const std::vector<std::vector<float>> init = bf16_state::fill_states(batch, ref, rng, state_floats, kv_offset, numel);
  batch.upload();
  const size_t rows = (size_t)batch.n_rows();
  const Inputs in = wkv7_test::make_inputs(rows, A, rng);
  const DeviceInputs d(in);
  DeviceBuffer dout(rows * A * rwkv::dtype_size(c.out_t));
  rwkv_kernels::wkv7_params p =
      wkv7_test::make_params(d, batch.batch(), kv_offset, c.H, c.N, c.first_layer, 0, dout, c.out_t);
  p.state_dtype = DType::bf16;
  const DeviceBuffer scratch = chunk_scratch(rows, c);
  p.chunk_scratch = scratch.as<float>();
  p.carry_split_slots = carry_split_slots;
  REQUIRE(rwkv_kernels::wkv7_chunked_forward(p, nullptr) == cudaSuccess);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  batch.download();

  std::vector<float> v_first = in.v_first;
  const std::vector<double> want = wkv7_test::reference(c, in, ref, kv_offset, v_first);
  for (int s = 0; s < batch.n_seq(); ++s) {
    INFO("sequence " << s);
    const bf16_state::SequenceCheck st =
        bf16_state::check_sequence(batch.state(s), init[s], ref.state(s), state_floats, kv_offset, numel);
    INFO("kv: " << st.kv.first << " (" << st.kv.checked << " of " << numel << " compared exactly)");
    CHECK(st.rest_unchanged);
    CHECK(st.kv.bad == 0);
    CHECK(st.kv.checked * 2 >= numel);  // most values are far from a rounding tie: the check has teeth
  }
  const gpu_test::Comparison out_cmp = gpu_test::compare(gpu_test::from_device(dout, c.out_t), want, c.out_t, 2e-5, 2e-5);
  INFO("outputs: " << out_cmp.first << " worst " << out_cmp.worst);
  CHECK(out_cmp.bad == 0);
  CHECK(std::memcmp(gpu_test::from_device(d.v_first).data(), v_first.data(), v_first.size() * sizeof(float)) == 0);
  CHECK(dout.guard_intact());
  CHECK(batch.guards_intact());
}

// Sequences ending at every chunk position that matters, in one ragged launch.
const std::vector<int> kChunkEdges = {1, L - 1, L, L + 1, 3 * L + 5};

}  // namespace

TEST_CASE("wkv7_chunked_forward: against the reference and the sequential kernel at every head size",
          "[gpu][kernels][wkv7]") {
  uint32_t seed = 900;
  for (bool first_layer : {true, false})
    for (int N : {8, 16, 32, 64}) {
      check_chunked({2, N, kChunkEdges, first_layer, DType::f32, true}, ++seed);
      check_chunked({2, N, {L + 3, 2}, first_layer, DType::f32, false}, ++seed);  // 4-byte state path
    }
}

TEST_CASE("wkv7_chunked_forward: one long sequence over many chunks, and single-token sequences",
          "[gpu][kernels][wkv7]") {
  uint32_t seed = 930;
  check_chunked({2, 64, {7 * L + 9}, false, DType::f32, true}, ++seed);
  check_chunked({3, 16, {1, 1, 1}, false, DType::f32, false}, ++seed);
}

TEST_CASE("wkv7_chunked_forward: fp16 and bf16 outputs", "[gpu][kernels][wkv7]") {
  uint32_t seed = 950;
  for (DType t : {DType::f16, DType::bf16}) check_chunked({2, 32, {L + 1, 5}, false, t, true}, ++seed);
}

TEST_CASE("wkv7_chunked_forward: two-part operands (runs with 16-bit activations) within 2^-13 of the reference",
          "[gpu][kernels][wkv7]") {
  uint32_t seed = 960;
  for (bool first_layer : {true, false}) {
    check_chunked_two_parts({2, 64, kChunkEdges, first_layer, DType::bf16, true}, ++seed);
    check_chunked_two_parts({2, 32, {L + 3, 2}, first_layer, DType::f16, false}, ++seed);
  }
  check_chunked_two_parts({2, 64, {7 * L + 9}, false, DType::f32, true}, ++seed);  // the raw error, many chunks
}

TEST_CASE("wkv7_chunked_forward: bf16 state (loaded to fp32, rounded to nearest even on the store)",
          "[gpu][kernels][wkv7]") {
  uint32_t seed = 970;
  for (bool first_layer : {true, false})
    for (int N : {16, 64})
      for (int shape = 0; shape < 3; ++shape)  // pass 2 in each block shape (N = 64)
        for (const Case& c : {Case{2, N, kChunkEdges, first_layer, DType::f32, true},
                              Case{2, N, {L + 2, 1}, first_layer, DType::f32, false}}) {
          const std::vector<int> slots = carry_shapes(c);
          if (shape < (int)slots.size()) check_chunked_bf16_state(c, ++seed, slots[(size_t)shape]);
      }
}

TEST_CASE("wkv7_chunked_forward: rejects an unsupported head size and missing pointers", "[gpu][kernels][wkv7]") {
  wkv7_test::check_rejects(rwkv_kernels::wkv7_chunked_forward);
  // N = 32, 64 run in three passes through p.chunk_scratch: without it, refused.
  std::mt19937 rng(3);
  const Case c{1, 32, {L + 3}, true, DType::f32, true};
  gpu_test::RaggedBatch batch(c.lens, 4 + 32 * 32, rng);
  batch.upload();
  const Inputs in = wkv7_test::make_inputs(L + 3, 32, rng);
  const DeviceInputs d(in);
  DeviceBuffer dout((L + 3) * 32 * sizeof(float));
  rwkv_kernels::wkv7_params p = wkv7_test::make_params(d, batch.batch(), 4, 1, 32, true, 0, dout, DType::f32);
  CHECK(rwkv_kernels::wkv7_chunked_forward(p, nullptr) == cudaErrorInvalidValue);
  DeviceBuffer scratch(rwkv_kernels::wkv7_chunked_scratch_floats(L + 3, 1, 32) * sizeof(float));
  p.chunk_scratch = scratch.as<float>();
  for (int parts : {0, 1, 4}) {  // the operands' parts: 2 or 3
    p.split_parts = parts;
    CHECK(rwkv_kernels::wkv7_chunked_forward(p, nullptr) == cudaErrorInvalidValue);
  }
  p.split_parts = rwkv_kernels::kSplitBf16Run;  // with everything else valid, accepted
  CHECK(rwkv_kernels::wkv7_chunked_forward(p, nullptr) == cudaSuccess);
  CHECK(cudaDeviceSynchronize() == cudaSuccess);
  CHECK(rwkv_kernels::wkv7_chunked_scratch_floats(L + 3, 1, 32) == (size_t)(L + 3) * (9 * 32 + 1));
  CHECK(rwkv_kernels::wkv7_chunked_scratch_floats(L + 3, 2, 16) == 0);
}

TEST_CASE("wkv7_chunk_carry_slices: cut the keys as far as the blocks fit the device at once",
          "[gpu][kernels][wkv7]") {
  using rwkv_kernels::wkv7_chunk_carry_slices;
  // 7.2B at B = 1 (64 heads of 64: 256 quarter blocks) on 132 SMs x 2: quarter; at B = 4: whole.
  CHECK(wkv7_chunk_carry_slices(64, 1, 64, 264) == 4);
  CHECK(wkv7_chunk_carry_slices(64, 2, 64, 264) == 2);  // 512 quarter blocks do not fit, 256 split ones do
  CHECK(wkv7_chunk_carry_slices(64, 4, 64, 264) == 1);
  CHECK(wkv7_chunk_carry_slices(32, 2, 64, 264) == 4);  // 1.5B at B = 2: 256 quarter blocks
  CHECK(wkv7_chunk_carry_slices(32, 4, 64, 264) == 2);  // 1.5B at B = 4: 256 split blocks
  CHECK(wkv7_chunk_carry_slices(8, 3, 32, 24) == 2);    // N = 32: one split block per head, no quarter
  CHECK(wkv7_chunk_carry_slices(8, 3, 32, 1 << 20) == 2);
  CHECK(wkv7_chunk_carry_slices(8, 4, 32, 24) == 1);
  CHECK(wkv7_chunk_carry_slices(2, 1, 64, 0) == 1);  // 0 slots: never cut
  CHECK(wkv7_chunk_carry_slices(2, 1, 16, 1 << 20) == 1);  // N = 8, 16 have no pass 2
  CHECK(wkv7_chunk_carry_slices(2, 1, 8, 1 << 20) == 1);
}
