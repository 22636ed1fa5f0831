// Tests kernels/wkv5.cu (the fused v5/v6 time-mix core) on its own against the CPU reference of
// runtime/cpu/: wkv5_head (the recurrence, docs/rwkv-math.md sections 4.4 and 5.2), group_norm_row
// (GN_H, eps 64e-5) and siluf (the gate), with v6's per-token decay exp(-exp(time_decay + w_lora))
// as time_mix_v6.cpp computes it. Every head size the kernel is built for (8, 16, 32, 64), the
// three forms (5.0: no gate, fixed decay; 5.1+: gate; v6: gate and per-token decay), prefill (a
// ragged batch of sequences of 3, 1 and 4 tokens) and decode (three sequences of one token); the
// state at an offset that allows the kernel's 16-byte path and at one that does not; one head more
// than a 64-thread block holds (a second block with spare heads); eight sequences of different
// lengths in one launch; one-token decode launches against one prefill launch (the same bits); and
// the v6 decode's decay LoRA computed in the kernel against the GEMV that computed it before (the
// same bits: kernels/common/gemv_dot.cuh repeats the GEMV's summation order).
// A bf16 state (state_dtype bf16, the CUDA backend's --state-dtype bf16): the reference runs from
// the same bf16 values, and each stored value must be its fp32 result rounded to nearest even.
//
// Tolerances: both sides compute in fp32 but sum in different orders (the kernel reduces the
// GroupNorm statistics across threads, the reference in double) and the kernel's sigmoid uses the
// fast exponential; with inputs of magnitude <= 1 the outputs (of magnitude ~1) agree within 2e-5
// and the states within 1e-5 (abs + rel); fp16/bf16 outputs additionally within one rounding.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <vector>

#include "bf16_state_util.h"
#include "gpu_test_util.h"
#include "wkv5_test_util.h"
#include "kernels/gemv.cuh"
#include "kernels/wkv5.cuh"
#include "runtime/cpu/cpu_layers.h"
#include "runtime/cpu/cpu_ops.h"

using gpu_test::DeviceBuffer;
using rwkv::DType;
using namespace wkv5_test;

namespace {

void run_case(const Case& c, uint32_t seed) {
  CAPTURE(seed, (int)c.form, c.H, c.N, c.lens, rwkv::dtype_name(c.out_t), c.aligned);
  std::mt19937 rng(seed);
  const size_t A = (size_t)c.H * c.N, kv_offset = c.aligned ? 4 : 5;  // after some other state floats
  const size_t state_floats = kv_offset + A * c.N + (c.aligned ? 4 : 3);
  gpu_test::RaggedBatch batch(c.lens, state_floats, rng);
  for (int s = 0; s < batch.n_seq(); ++s) {
    const std::vector<float> init = gpu_test::random_floats(rng, state_floats, -1.0f, 1.0f);
    std::copy(init.begin(), init.end(), batch.state(s));
  }
  batch.upload();
  const size_t rows = (size_t)batch.n_rows();
  const Inputs in = make_inputs(c, rows, rng);
  const DeviceInputs d(in);
  DeviceBuffer dout(rows * A * rwkv::dtype_size(c.out_t));
  const rwkv_kernels::wkv5_params p = make_params(d, c.form, batch.batch(), kv_offset, c.H, c.N, 0, dout, c.out_t);
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

// A bf16 kv state (state_dtype bf16): the kernel loads bf16, computes in fp32 and rounds to nearest
// even on the store; the reference runs from the same bf16 values widened to fp32. The floats
// before and after the kv block stay untouched.
void run_case_bf16_state(const Case& c, uint32_t seed) {
  CAPTURE(seed, (int)c.form, c.H, c.N, c.lens, rwkv::dtype_name(c.out_t), c.aligned);
  std::mt19937 rng(seed);
  const size_t A = (size_t)c.H * c.N, kv_offset = c.aligned ? 4 : 5, numel = A * c.N;
  const size_t state_floats = kv_offset + numel + (c.aligned ? 4 : 3);
  const size_t packed = bf16_state::packed_floats(state_floats, numel);
  gpu_test::RaggedBatch batch(c.lens, packed, rng), ref_batch(c.lens, state_floats, rng);
  const std::vector<std::vector<float>> init =
      bf16_state::fill_states(batch, ref_batch, rng, state_floats, kv_offset, numel);
  batch.upload();
  const size_t rows = (size_t)batch.n_rows();
  const Inputs in = make_inputs(c, rows, rng);
  const DeviceInputs d(in);
  DeviceBuffer dout(rows * A * rwkv::dtype_size(c.out_t));
  rwkv_kernels::wkv5_params p = make_params(d, c.form, batch.batch(), kv_offset, c.H, c.N, 0, dout, c.out_t);
  p.state_dtype = DType::bf16;
  REQUIRE(rwkv_kernels::wkv5_forward(p, nullptr) == cudaSuccess);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);

  const std::vector<double> want = reference(c, in, ref_batch, kv_offset);
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
  CHECK(dout.guard_intact());
  CHECK(batch.guards_intact());
}

// One sequence of T tokens in one launch, then the same from the same initial state in T
// launches of one token: every token computes the same arithmetic whatever the batching, so the
// outputs and the final states must be the same bits.
void check_decode_matches_prefill(Form form, int H, int N, bool aligned, int T, uint32_t seed) {
  CAPTURE(seed, (int)form, H, N, aligned, T);
  std::mt19937 rng(seed);
  const size_t A = (size_t)H * N, kv_offset = aligned ? 4 : 5, state_floats = kv_offset + A * N + 4;
  const std::vector<float> init = gpu_test::random_floats(rng, state_floats, -1.0f, 1.0f);
  const Inputs in = make_inputs({form, H, N, {T}, DType::f32}, (size_t)T, rng);
  const DeviceInputs d(in);
  std::vector<float> outs[2], states[2];
  for (int pass = 0; pass < 2; ++pass) {  // 0: prefill, 1: decode
    DeviceBuffer dout((size_t)T * A * sizeof(float));
    gpu_test::RaggedBatch prefill({T}, state_floats, rng), step({1}, state_floats, rng);
    gpu_test::RaggedBatch& batch = pass == 0 ? prefill : step;
    std::copy(init.begin(), init.end(), batch.state(0));
    batch.upload();
    for (int t = 0; t < (pass == 0 ? 1 : T); ++t)
      REQUIRE(rwkv_kernels::wkv5_forward(
                  make_params(d, form, batch.batch(), kv_offset, H, N, (size_t)t, dout, DType::f32), nullptr) ==
              cudaSuccess);
    REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
    batch.download();
    outs[pass] = gpu_test::from_device(dout);
    states[pass] = batch.states_in_order(state_floats);
  }
  CHECK(std::memcmp(outs[0].data(), outs[1].data(), outs[0].size() * sizeof(float)) == 0);
  CHECK(std::memcmp(states[0].data(), states[1].data(), states[0].size() * sizeof(float)) == 0);
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

TEST_CASE("wkv5_forward: 16-byte state path, spare heads in the last block, many ragged sequences",
          "[gpu][kernels][wkv5]") {
  uint32_t seed = 550;
  for (Form form : {Form::v5_0, Form::v6})
    for (int N : {8, 16, 32, 64}) {
      const int per_block = 64 / N;  // heads of one 64-thread block
      run_case({form, 2, N, {3, 1, 4}, DType::f32, true}, ++seed);
      run_case({form, per_block + 1, N, {2, 1}, DType::f32, true}, ++seed);  // 2 blocks, spare heads
      run_case({form, per_block + 1, N, {2, 1}, DType::f32, false}, ++seed);
    }
  // Eight sequences of different lengths, decode and prefill mixed in one launch; at offset 5 the
  // pool's slots leave some heads 16-byte aligned and others not.
  run_case({Form::v5_2, 3, 16, {1, 7, 2, 1, 5, 3, 1, 4}, DType::f32, false}, ++seed);
  run_case({Form::v6, 2, 64, {1, 7, 2, 1, 5, 3, 1, 4}, DType::f32, true}, ++seed);
}

TEST_CASE("wkv5_forward: one-token decode launches give the bits of one prefill launch", "[gpu][kernels][wkv5]") {
  uint32_t seed = 580;
  for (int N : {8, 16, 32, 64}) {
    check_decode_matches_prefill(Form::v6, 64 / N + 1, N, true, 4, ++seed);
    check_decode_matches_prefill(Form::v5_2, 2, N, false, 3, ++seed);
  }
}

TEST_CASE("wkv5_forward: fp16 and bf16 outputs", "[gpu][kernels][wkv5]") {
  uint32_t seed = 600;
  for (DType t : {DType::f16, DType::bf16})
    for (Form form : {Form::v5_2, Form::v6}) run_case({form, 3, 16, {2, 5}, t}, ++seed);
}

TEST_CASE("wkv5_forward: bf16 state (loaded to fp32, rounded to nearest even on the store)",
          "[gpu][kernels][wkv5]") {
  uint32_t seed = 620;
  for (Form form : {Form::v5_0, Form::v5_2, Form::v6})
    for (int N : {8, 16, 32, 64}) {
      run_case_bf16_state({form, 2, N, {3, 1, 4}, DType::f32, true}, ++seed);   // prefill, 16-byte path
      run_case_bf16_state({form, 2, N, {1, 1, 1}, DType::f32, false}, ++seed);  // decode, 4-byte path
    }
  run_case_bf16_state({Form::v6, 64 / 16 + 1, 16, {2, 1}, DType::bf16, true}, ++seed);  // spare heads
  run_case_bf16_state({Form::v5_2, 2, 64, {1, 7, 2, 1, 5, 3, 1, 4}, DType::f16, false}, ++seed);
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
  p.state_dtype = DType::f16;  // a state is fp32 or bf16
  CHECK(rwkv_kernels::wkv5_forward(p, nullptr) == cudaErrorInvalidValue);
  p.state_dtype = DType::f32;
  p.u = nullptr;
  CHECK(rwkv_kernels::wkv5_forward(p, nullptr) == cudaErrorInvalidValue);
}

namespace {

// The v6 decode's fused decay LoRA (wkv5_params::decay_w2): the same launch fed the GEMV's w_lora
// (kernels/gemv.cuh: lora_act decay_w2 into fp32, the unfused decode path) and fed lora_act and
// decay_w2 must give the same bits, outputs and states: the kernel sums in the GEMV's order.
void check_decay_lora_matches_gemv(int H, int N, const std::vector<int>& lens, int Dd, DType t, bool aligned,
                                   uint32_t seed) {
  CAPTURE(seed, H, N, lens, Dd, rwkv::dtype_name(t), aligned);
  std::mt19937 rng(seed);
  const size_t A = (size_t)H * N, kv_offset = aligned ? 4 : 5, state_floats = kv_offset + A * N + 4;
  gpu_test::RaggedBatch probe(lens, state_floats, rng);
  const size_t rows = (size_t)probe.n_rows();
  const Inputs in = make_inputs({Form::v6, H, N, lens, t}, rows, rng);
  const DeviceInputs d(in);
  const std::vector<float> act = gpu_test::random_floats(rng, rows * Dd, -1.0f, 1.0f, t);  // tanh outputs
  const std::vector<float> w2 = gpu_test::random_floats(rng, A * Dd, -0.5f, 0.5f, t);
  const DeviceBuffer dact = gpu_test::to_device(act, t), dw2 = gpu_test::to_device(w2, t);
  DeviceBuffer w_lora(rows * A * sizeof(float));
  std::vector<std::vector<float>> inits;
  for (int s = 0; s < (int)lens.size(); ++s) inits.push_back(gpu_test::random_floats(rng, state_floats, -1.0f, 1.0f));

  std::vector<float> outs[2], states[2];
  for (int pass = 0; pass < 2; ++pass) {  // 0: GEMV then WKV5 on its w_lora, 1: fused
    gpu_test::RaggedBatch batch(lens, state_floats, rng);
    for (int s = 0; s < batch.n_seq(); ++s) std::copy(inits[s].begin(), inits[s].end(), batch.state(s));
    batch.upload();
    DeviceBuffer dout(rows * A * rwkv::dtype_size(t));
    rwkv_kernels::wkv5_params p = make_params(d, Form::v6, batch.batch(), kv_offset, H, N, 0, dout, t);
    if (pass == 0) {
      rwkv_kernels::gemv_params g;
      g.M = (int)rows;
      g.n_tasks = 1;
      g.w_dtype = g.x_dtype = t;
      rwkv_kernels::gemv_task& tk = g.task[0];
      tk.W = dw2.get();
      tk.X = dact.get();
      tk.Y = w_lora.get();
      tk.N = (int)A;
      tk.K = tk.ldx = Dd;
      tk.ldy = (int)A;
      REQUIRE(rwkv_kernels::gemv(g, nullptr) == cudaSuccess);
      p.w_lora = w_lora.as<float>();
    } else {
      p.w_lora = nullptr;
      p.lora_act = dact.get();
      p.decay_w2 = dw2.get();
      p.Dd = Dd;
    }
    REQUIRE(rwkv_kernels::wkv5_forward(p, nullptr) == cudaSuccess);
    REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
    batch.download();
    outs[pass] = gpu_test::from_device(dout, t);
    states[pass] = batch.states_in_order(state_floats);
    CHECK(dout.guard_intact());
    CHECK(batch.guards_intact());
  }
  CHECK(std::memcmp(outs[0].data(), outs[1].data(), outs[0].size() * sizeof(float)) == 0);
  CHECK(std::memcmp(states[0].data(), states[1].data(), states[0].size() * sizeof(float)) == 0);
}

}  // namespace

TEST_CASE("wkv5_forward: the decay LoRA computed in the kernel gives the bits of the GEMV path",
          "[gpu][kernels][wkv5]") {
  uint32_t seed = 650;
  for (DType t : {DType::f32, DType::bf16, DType::f16})
    for (int N : {8, 16, 32, 64}) {
      check_decay_lora_matches_gemv(2, N, {1, 1, 1}, 64, t, true, ++seed);          // decode
      check_decay_lora_matches_gemv(64 / N + 1, N, {3, 1, 4}, 32, t, false, ++seed);  // ragged, spare heads
    }
  // 16 rows (the most a launch takes), one sequence of 16 and 16 of one; LoRA widths whose GEMV
  // groups have 1, 2, 8 and 16 threads, and one off the 16-byte path (36 % 8 != 0).
  check_decay_lora_matches_gemv(2, 16, std::vector<int>(16, 1), 128, DType::bf16, true, ++seed);
  check_decay_lora_matches_gemv(1, 64, {16}, 256, DType::f32, true, ++seed);
  check_decay_lora_matches_gemv(3, 8, {2, 5}, 8, DType::f32, false, ++seed);
  check_decay_lora_matches_gemv(3, 8, {2, 5}, 16, DType::bf16, true, ++seed);
  check_decay_lora_matches_gemv(2, 32, {1, 2}, 36, DType::f16, true, ++seed);
  check_decay_lora_matches_gemv(2, 32, {1, 2}, 36, DType::f32, true, ++seed);
}

TEST_CASE("wkv5_forward: the decay LoRA mode refuses w_lora as well, no activations, more than 16 rows",
          "[gpu][kernels][wkv5]") {
  std::mt19937 rng(8);
  gpu_test::RaggedBatch batch({2}, 64, rng), big({10, 7}, 64, rng);
  const DeviceBuffer buf = gpu_test::to_device(std::vector<float>(64, 0.0f));
  rwkv_kernels::wkv5_params p;
  p.batch = batch.batch();
  p.H = 1;
  p.N = 8;
  p.r = p.k = p.v = p.decay = p.u = p.ln_w = p.ln_b = buf.as<float>();
  p.out = buf.get();
  p.decay_w2 = p.lora_act = buf.get();
  p.Dd = 8;
  p.w_lora = buf.as<float>();
  CHECK(rwkv_kernels::wkv5_forward(p, nullptr) == cudaErrorInvalidValue);  // both forms of w_lora
  p.w_lora = nullptr;
  p.lora_act = nullptr;
  CHECK(rwkv_kernels::wkv5_forward(p, nullptr) == cudaErrorInvalidValue);
  p.lora_act = buf.get();
  p.Dd = 0;
  CHECK(rwkv_kernels::wkv5_forward(p, nullptr) == cudaErrorInvalidValue);
  p.Dd = 8;
  p.batch = big.batch();  // 17 rows
  CHECK(rwkv_kernels::wkv5_forward(p, nullptr) == cudaErrorInvalidValue);
}
