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
// The chunked form (wkv4_forward_chunked, prefill) runs on the same inputs as the sequential
// kernel, from the same states, and must match both it and the CPU reference within the same
// bounds: prompts of 1, L-1, L, L+1 and 3L+5 tokens for the default L = 32 and for small L (many
// blocks, sequences starting and ending inside blocks, a block of one row), ragged batches,
// non-zero start states, strong decays with large keys (no overflow, no NaN) and weak decays
// over long prompts (where the exponent offsets pp drift most between the two forms).
//
// Tolerances: the same fp32 formula on both sides, except the kernel's sigmoid uses the fast
// exponential and the GPU's expf may differ from the host's by an ulp or two: outputs (|wkv| <= 1)
// within 1e-5 and states within 1e-5 (abs + rel); fp16/bf16 outputs additionally within one rounding.
#include <catch2/catch.hpp>

#include <algorithm>
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

namespace {

// One launch of the chunked form against the sequential kernel and the CPU reference, from the
// same states (fresh for sequence 1, random otherwise) and inputs.
struct ChunkCase {
  int A;
  std::vector<int> lens;
  int chunk_rows = rwkv_kernels::kWkv4ChunkRows;
  DType out_t = DType::f32;
  bool aligned = true;
  float w_lo = -2.0f, w_hi = -0.1f;  // w = -exp(time_decay)
  float k_lo = -2.0f, k_hi = 2.0f;
};

// Outputs (fp32 values of out_t) and every sequence's state after one launch.
struct Wkv4Result {
  std::vector<float> out, states;
};

class Wkv4Problem {
 public:
  Wkv4Problem(const ChunkCase& c, uint32_t seed)
      : c_(c), rng_(seed), o_((size_t)c.A, c.aligned), batch_(c.lens, o_.floats, rng_) {
    init_states(batch_, (size_t)c.A, o_, rng_);
    for (int s = 0; s < batch_.n_seq(); ++s) initial_.emplace_back(batch_.state(s), batch_.state(s) + o_.floats);
    const size_t n = (size_t)batch_.n_rows() * (size_t)c.A;
    r_ = gpu_test::random_floats(rng_, n, -3.0f, 3.0f);
    k_ = gpu_test::random_floats(rng_, n, c.k_lo, c.k_hi);
    v_ = gpu_test::random_floats(rng_, n, -1.0f, 1.0f);
    w_ = gpu_test::random_floats(rng_, (size_t)c.A, c.w_lo, c.w_hi);
    u_ = gpu_test::random_floats(rng_, (size_t)c.A, -1.0f, 1.0f);
    dr_ = gpu_test::to_device(r_);
    dk_ = gpu_test::to_device(k_);
    dv_ = gpu_test::to_device(v_);
    dw_ = gpu_test::to_device(w_);
    du_ = gpu_test::to_device(u_);
  }

  rwkv_kernels::wkv4_params params(const DeviceBuffer& out) const {
    rwkv_kernels::wkv4_params p;
    p.batch = batch_.batch();
    p.aa_offset = o_.aa;
    p.bb_offset = o_.bb;
    p.pp_offset = o_.pp;
    p.A = c_.A;
    p.r = dr_.as<float>();
    p.k = dk_.as<float>();
    p.v = dv_.as<float>();
    p.w = dw_.as<float>();
    p.u = du_.as<float>();
    p.out = out.get();
    p.out_dtype = c_.out_t;
    return p;
  }

  // One launch from the initial states.
  Wkv4Result run(bool chunked) {
    restore_states();
    batch_.upload();
    DeviceBuffer out(rows_x_A() * rwkv::dtype_size(c_.out_t));
    rwkv_kernels::wkv4_params p = params(out);
    DeviceBuffer scratch;
    if (chunked) {
      p.chunk_rows = c_.chunk_rows;
      p.chunk_state_floats = rwkv_kernels::wkv4_chunk_state_floats(batch_.n_rows(), c_.A, c_.chunk_rows);
      scratch = DeviceBuffer(std::max<size_t>(1, p.chunk_state_floats) * sizeof(float));
      p.chunk_state = scratch.as<float>();
      REQUIRE(rwkv_kernels::wkv4_forward_chunked(p, nullptr) == cudaSuccess);
    } else {
      REQUIRE(rwkv_kernels::wkv4_forward(p, nullptr) == cudaSuccess);
    }
    REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
    CHECK(out.guard_intact());
    if (chunked) CHECK(scratch.guard_intact());
    batch_.download();
    CHECK(batch_.guards_intact());
    return {gpu_test::from_device(out, c_.out_t), batch_.states_in_order(o_.floats)};
  }

  // The CPU reference (docs/rwkv-math.md section 3.3) from the initial states, in fp64 for the
  // comparison; outputs before their rounding to out_t.
  Wkv4Result reference() {
    restore_states();
    const size_t A = (size_t)c_.A, n = rows_x_A();
    std::vector<float> y(n);
    for (int s = 0; s < batch_.n_seq(); ++s) {
      float* st = batch_.state(s);
      rwkv::cpu::wkv4_channels(A, (size_t)batch_.begin(s), (size_t)batch_.begin(s + 1), 0, A, k_.data(), v_.data(),
                               w_.data(), u_.data(), st + o_.aa, st + o_.bb, st + o_.pp, y.data());
    }
    Wkv4Result want{std::vector<float>(n), batch_.states_in_order(o_.floats)};
    for (size_t j = 0; j < n; ++j) want.out[j] = y[j] * rwkv::cpu::sigmoidf(r_[j]);
    return want;
  }

  DType out_dtype() const { return c_.out_t; }

 private:
  size_t rows_x_A() const { return (size_t)batch_.n_rows() * (size_t)c_.A; }
  void restore_states() {
    for (int s = 0; s < batch_.n_seq(); ++s) std::copy(initial_[s].begin(), initial_[s].end(), batch_.state(s));
  }

  ChunkCase c_;
  std::mt19937 rng_;
  Offsets o_;
  gpu_test::RaggedBatch batch_;
  std::vector<std::vector<float>> initial_;
  std::vector<float> r_, k_, v_, w_, u_;
  DeviceBuffer dr_, dk_, dv_, dw_, du_;
};

void check_close(const char* what, const std::vector<float>& got, const std::vector<float>& want, DType t) {
  const gpu_test::Comparison cmp =
      gpu_test::compare(got, std::vector<double>(want.begin(), want.end()), t, 1e-5, 1e-5);
  INFO(what << ": " << cmp.first << " worst " << cmp.worst);
  CHECK(cmp.nonfinite == 0);
  CHECK(cmp.bad == 0);
}

void run_chunked_case(const ChunkCase& c, uint32_t seed) {
  CAPTURE(seed, c.A, c.lens, c.chunk_rows, rwkv::dtype_name(c.out_t), c.aligned, c.w_lo, c.w_hi, c.k_lo, c.k_hi);
  Wkv4Problem prob(c, seed);
  const Wkv4Result sequential = prob.run(false);
  const Wkv4Result chunked = prob.run(true);
  const Wkv4Result want = prob.reference();
  check_close("chunked vs sequential outputs", chunked.out, sequential.out, c.out_t);
  check_close("chunked vs sequential states", chunked.states, sequential.states, DType::f32);
  check_close("chunked vs reference outputs", chunked.out, want.out, c.out_t);
  check_close("chunked vs reference states", chunked.states, want.states, DType::f32);
}

constexpr int kL = rwkv_kernels::kWkv4ChunkRows;

}  // namespace

TEST_CASE("wkv4_forward_chunked: one prompt of 1, L-1, L, L+1, 3L+5 tokens from a non-zero state",
          "[gpu][kernels][wkv4]") {
  uint32_t seed = 500;
  for (int T : {1, kL - 1, kL, kL + 1, 3 * kL + 5}) {
    run_chunked_case({64, {T}}, ++seed);
    run_chunked_case({129, {T}, kL, DType::f32, false}, ++seed);  // 4-byte path, a partial group
  }
}

TEST_CASE("wkv4_forward_chunked: ragged batches, blocks across sequence boundaries", "[gpu][kernels][wkv4]") {
  uint32_t seed = 520;
  const std::vector<int> ragged = {3 * kL + 5, 1, kL, 7, kL + 1, 2, 2 * kL - 1};
  run_chunked_case({64, ragged}, ++seed);
  run_chunked_case({260, ragged}, ++seed);  // a second group of channel blocks
  run_chunked_case({96, ragged, kL, DType::f32, false}, ++seed);
  // Small blocks: sequences start, end and pass through many of them; L = 1 makes every row a block.
  for (int L : {1, 2, 3, 5, 8}) {
    run_chunked_case({32, {1, 7, 2, 1, 5, 3, 1, 4, 13}, L}, ++seed);
    run_chunked_case({33, {9, 1, 6, 2, 11}, L, DType::f32, false}, ++seed);
  }
  for (DType t : {DType::f16, DType::bf16}) run_chunked_case({48, ragged, 8, t}, ++seed);
}

TEST_CASE("wkv4_forward_chunked: strong decays with large keys, weak decays over long prompts",
          "[gpu][kernels][wkv4]") {
  uint32_t seed = 560;
  const std::vector<int> lens = {3 * kL + 5, kL + 1, 1};
  for (int L : {kL, 5}) {
    ChunkCase strong{64, lens, L};
    strong.w_lo = -60.0f;  // time_decay up to about 4
    strong.w_hi = -5.0f;
    strong.k_lo = -100.0f;  // e^k alone overflows fp32 above 88.7
    strong.k_hi = 100.0f;
    run_chunked_case(strong, ++seed);
    ChunkCase weak{64, lens, L};
    weak.w_lo = -1e-2f;
    weak.w_hi = -1e-5f;
    run_chunked_case(weak, ++seed);
  }
}

TEST_CASE("wkv4_forward_chunked: rejects a small scratch, no row_seq, a bad block size", "[gpu][kernels][wkv4]") {
  std::mt19937 rng(9);
  gpu_test::RaggedBatch batch({40, 3}, 64, rng);
  const DeviceBuffer buf = gpu_test::to_device(std::vector<float>(64 * 43, 0.0f));
  const size_t need = rwkv_kernels::wkv4_chunk_state_floats(43, 8, kL);
  REQUIRE(need == 2 * 6 * 8);
  const DeviceBuffer scratch(need * sizeof(float));
  rwkv_kernels::wkv4_params p;
  p.batch = batch.batch();
  p.A = 8;
  p.r = p.k = p.v = p.w = p.u = buf.as<float>();
  p.out = buf.get();
  p.chunk_state = scratch.as<float>();
  p.chunk_state_floats = need - 1;
  CHECK(rwkv_kernels::wkv4_forward_chunked(p, nullptr) == cudaErrorInvalidValue);
  p.chunk_state_floats = need;
  p.chunk_rows = 0;
  CHECK(rwkv_kernels::wkv4_forward_chunked(p, nullptr) == cudaErrorInvalidValue);
  p.chunk_rows = kL;
  p.batch.row_seq = nullptr;
  CHECK(rwkv_kernels::wkv4_forward_chunked(p, nullptr) == cudaErrorInvalidValue);
  p.batch = batch.batch();
  p.chunk_state = nullptr;
  CHECK(rwkv_kernels::wkv4_forward_chunked(p, nullptr) == cudaErrorInvalidValue);
}
