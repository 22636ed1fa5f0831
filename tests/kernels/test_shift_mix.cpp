// Tests that kernels/shift_mix.cu computes the token-shift mixes of docs/rwkv-math.md sections 1.1, 5.2
// and 10.5 over ragged batches (the previous row of a sequence's first row is its stored state), and
// that shift_store copies each sequence's last row into its state and writes nothing else.
//
// The reference is a plain CPU token shift in double precision on the same fp32 inputs. Inputs are
// bounded (cur, state in [-1, 1), mu in [0, 1), delta in [-0.25, 0.25)), so every intermediate of the
// kernel's fp32 formula stays below 4 and its four roundings (or fewer, fused) add at most ~5e-7:
// fp32 outputs must be within 1e-6 of the reference, fp16/bf16 outputs within that plus one rounding.
// The state pool, the inputs and all padding are compared bit for bit; shift_store is a copy, also
// compared bit for bit.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <vector>

#include "gpu_test_util.h"
#include "kernels/shift_mix.cuh"

using gpu_test::DeviceBuffer;
using rwkv::DType;

namespace {

template <class T>
std::vector<uint8_t> raw_bytes(const std::vector<T>& v) {
  std::vector<uint8_t> b(v.size() * sizeof(T));
  if (!b.empty()) std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// A ragged batch in device memory: sequence s owns rows start[s] .. start[s+1]-1 and a state of
// state_floats floats at pool float index state_at[s]. States sit in shuffled slots of one pool (so
// their addresses are not in sequence order) and odd sequences start one float after a 16-byte
// boundary, so one batch exercises both the 16-byte and the scalar state accesses.
struct TestBatch {
  std::vector<int> start, row_seq;
  std::vector<size_t> state_at;
  std::vector<float> pool0;  // the pool's initial contents
  DeviceBuffer d_start, d_row_seq, d_states, d_pool;
  rwkv_kernels::ragged_batch rb;

  int n_seq() const { return (int)state_at.size(); }
  int n_rows() const { return start.back(); }
  const float* state(int s) const { return pool0.data() + state_at[(size_t)s]; }
};

TestBatch make_batch(const std::vector<int>& lens, size_t state_floats, std::mt19937& rng) {
  TestBatch b;
  const size_t n_seq = lens.size();
  b.start.push_back(0);
  for (size_t s = 0; s < n_seq; ++s) {
    b.start.push_back(b.start.back() + lens[s]);
    for (int t = 0; t < lens[s]; ++t) b.row_seq.push_back((int)s);
  }
  std::vector<size_t> slot(n_seq);
  std::iota(slot.begin(), slot.end(), 0);
  std::shuffle(slot.begin(), slot.end(), rng);
  const size_t stride = (state_floats + 8 + 3) / 4 * 4;  // slots keep 16-byte alignment
  for (size_t s = 0; s < n_seq; ++s) b.state_at.push_back(slot[s] * stride + (s % 2));
  b.pool0 = gpu_test::random_floats(rng, n_seq * stride + 4, -1.0f, 1.0f);

  b.d_start = DeviceBuffer(b.start.size() * sizeof(int));
  b.d_start.upload(raw_bytes(b.start));
  b.d_row_seq = DeviceBuffer(std::max<size_t>(1, b.row_seq.size()) * sizeof(int));
  b.d_row_seq.upload(raw_bytes(b.row_seq));
  b.d_pool = DeviceBuffer(b.pool0.size() * 4);
  b.d_pool.upload(gpu_test::encode(DType::f32, b.pool0));
  std::vector<float*> ptrs;
  for (size_t s = 0; s < n_seq; ++s) ptrs.push_back(b.d_pool.as<float>() + b.state_at[s]);
  b.d_states = DeviceBuffer(std::max<size_t>(1, n_seq) * sizeof(float*));
  b.d_states.upload(raw_bytes(ptrs));

  b.rb.seq_start = b.d_start.as<int>();
  b.rb.row_seq = b.d_row_seq.as<int>();
  b.rb.state = b.d_states.as<float* const>();
  b.rb.n_seq = (int)n_seq;
  b.rb.n_rows = b.start.back();
  return b;
}

// Counts elements of `got` that differ bitwise from `want` (NaN payloads included).
size_t bit_diffs(const std::vector<float>& got, const std::vector<float>& want) {
  size_t d = got.size() == want.size() ? 0 : 1;
  for (size_t i = 0; i < got.size() && i < want.size(); ++i)
    if (std::memcmp(&got[i], &want[i], 4) != 0) ++d;
  return d;
}

std::vector<float> download_f32(const DeviceBuffer& b) { return gpu_test::decode(DType::f32, b.download()); }

struct MixCase {
  std::vector<int> lens;  // rows per sequence
  int C, K;
  bool prev_weighted, with_delta;
  DType out_t;
  size_t state_offset;  // floats from a state's start to the mixed row
  int misalign;         // element offset of cur, delta, mu and outputs in their buffers (1: scalar path)
};

void run_mix(const MixCase& k, uint32_t seed) {
  CAPTURE(seed, k.lens, k.C, k.K, k.prev_weighted, k.with_delta, rwkv::dtype_name(k.out_t), k.state_offset,
          k.misalign);
  std::mt19937 rng(seed);
  TestBatch b = make_batch(k.lens, k.state_offset + (size_t)k.C, rng);
  const int rows = b.n_rows(), C = k.C, K = k.K;
  const size_t n = (size_t)rows * C, off = (size_t)k.misalign;
  const std::vector<float> cur = gpu_test::random_floats(rng, n, -1.0f, 1.0f);
  const std::vector<float> delta = gpu_test::random_floats(rng, (size_t)K * n, -0.25f, 0.25f);
  std::vector<std::vector<float>> mu(K);
  for (auto& m : mu) m = gpu_test::random_floats(rng, C, 0.0f, 1.0f);

  auto padded = [&](const std::vector<float>& v) {
    std::vector<float> p(off, 0.0f);
    p.insert(p.end(), v.begin(), v.end());
    return p;
  };
  const std::vector<float> cur_p = padded(cur), delta_p = padded(delta);
  DeviceBuffer dcur(cur_p.size() * 4), ddelta(delta_p.size() * 4);
  dcur.upload(gpu_test::encode(DType::f32, cur_p));
  ddelta.upload(gpu_test::encode(DType::f32, delta_p));
  std::vector<DeviceBuffer> dmu, dout;
  const size_t es = rwkv::dtype_size(k.out_t);
  rwkv_kernels::shift_mix_params p;
  for (int z = 0; z < K; ++z) {
    dmu.emplace_back((C + off) * 4);
    dmu.back().upload(gpu_test::encode(DType::f32, padded(mu[z])));
    dout.emplace_back((n + off) * es);  // starts as 0xFF bytes: NaN wherever nothing is written
    p.mu[z] = dmu.back().as<float>() + off;
    p.out[z] = static_cast<char*>(dout.back().get()) + off * es;
  }
  p.batch = b.rb;
  p.state_offset = k.state_offset;
  p.cur = dcur.as<float>() + off;
  p.C = C;
  p.n_out = K;
  p.delta = k.with_delta ? ddelta.as<float>() + off : nullptr;
  p.prev_weighted = k.prev_weighted;
  p.out_dtype = k.out_t;
  REQUIRE(rwkv_kernels::shift_mix(p, nullptr) == cudaSuccess);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);

  // Inputs and states are read only.
  CHECK(bit_diffs(download_f32(b.d_pool), b.pool0) == 0);
  CHECK(bit_diffs(download_f32(dcur), cur_p) == 0);
  CHECK(b.d_pool.guard_intact());
  CHECK(dcur.guard_intact());

  for (int z = 0; z < K; ++z) {
    CAPTURE(z);
    std::vector<double> ref(n);
    for (int s = 0; s < b.n_seq(); ++s)
      for (int r = b.start[s]; r < b.start[s + 1]; ++r)
        for (int c = 0; c < C; ++c) {
          const size_t i = (size_t)r * C + c;
          const double x = cur[i];
          const double prev = r == b.start[s] ? b.state(s)[k.state_offset + c] : cur[i - C];
          const double m = (double)mu[z][c] + (k.with_delta ? (double)delta[(size_t)z * n + i] : 0.0);
          ref[i] = k.prev_weighted ? x + (prev - x) * m : x * m + prev * (1.0 - m);
        }
    const std::vector<uint8_t> bytes = dout[z].download();
    CHECK(std::all_of(bytes.begin(), bytes.begin() + off * es, [](uint8_t v) { return v == 0xFF; }));
    const std::vector<float> got =
        gpu_test::decode(k.out_t, std::vector<uint8_t>(bytes.begin() + off * es, bytes.end()));
    const gpu_test::Comparison cmp = gpu_test::compare(got, ref, k.out_t, 1e-6, 0.0);
    INFO(cmp.first);
    CAPTURE(cmp.worst);
    CHECK(cmp.nonfinite == 0);
    CHECK(cmp.bad == 0);
    CHECK(dout[z].guard_intact());
  }
}

struct StoreCase {
  std::vector<int> lens;
  int C;
  size_t att_offset, ffn_offset;  // must leave the two rows apart
  int misalign;                   // element offset of att_cur and ffn_cur (1: scalar path)
};

void run_store(const StoreCase& k, uint32_t seed) {
  CAPTURE(seed, k.lens, k.C, k.att_offset, k.ffn_offset, k.misalign);
  std::mt19937 rng(seed);
  TestBatch b = make_batch(k.lens, std::max(k.att_offset, k.ffn_offset) + (size_t)k.C + 3, rng);
  const size_t n = (size_t)b.n_rows() * k.C, off = (size_t)k.misalign;
  std::vector<float> att(off, 0.0f), ffn(off, 0.0f);
  const std::vector<float> a = gpu_test::random_floats(rng, n, -1.0f, 1.0f);
  const std::vector<float> f = gpu_test::random_floats(rng, n, -1.0f, 1.0f);
  att.insert(att.end(), a.begin(), a.end());
  ffn.insert(ffn.end(), f.begin(), f.end());
  DeviceBuffer datt(att.size() * 4), dffn(ffn.size() * 4);
  datt.upload(gpu_test::encode(DType::f32, att));
  dffn.upload(gpu_test::encode(DType::f32, ffn));

  rwkv_kernels::shift_store_params p;
  p.batch = b.rb;
  p.att_offset = k.att_offset;
  p.ffn_offset = k.ffn_offset;
  p.att_cur = datt.as<float>() + off;
  p.ffn_cur = dffn.as<float>() + off;
  p.C = k.C;
  REQUIRE(rwkv_kernels::shift_store(p, nullptr) == cudaSuccess);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);

  // Expected pool: the initial one with each state's two rows replaced by its last token's rows.
  std::vector<float> want = b.pool0;
  for (int s = 0; s < b.n_seq(); ++s) {
    const size_t last = (size_t)b.start[s + 1] - 1;
    for (int c = 0; c < k.C; ++c) {
      want[b.state_at[s] + k.att_offset + c] = a[last * k.C + c];
      want[b.state_at[s] + k.ffn_offset + c] = f[last * k.C + c];
    }
  }
  CHECK(bit_diffs(download_f32(b.d_pool), want) == 0);
  CHECK(b.d_pool.guard_intact());
  CHECK(bit_diffs(download_f32(datt), att) == 0);
  CHECK(bit_diffs(download_f32(dffn), ffn) == 0);
}

}  // namespace

TEST_CASE("shift_mix: both forms, 1 to 6 outputs, with and without delta, every output dtype",
          "[gpu][kernels][shift_mix]") {
  // C = 200 and 1000 take the 16-byte path (C % 8 == 0), 77 the scalar one; none is a multiple
  // of the 128-thread block.
  const std::vector<int> lens = {3, 1, 6, 2};
  uint32_t seed = 8100;
  for (bool prev_weighted : {true, false})
    for (int K = 1; K <= rwkv_kernels::kShiftMixMaxOutputs; ++K)
      for (bool with_delta : {false, true})
        for (DType t : {DType::f32, DType::f16, DType::bf16})
          for (int C : {200, 1000, 77}) run_mix({lens, C, K, prev_weighted, with_delta, t, 16, 0}, seed++);
}

TEST_CASE("shift_mix: ragged batches, state offsets and misaligned pointers", "[gpu][kernels][shift_mix]") {
  const std::vector<std::vector<int>> batches = {
      {1}, {9}, {1, 1, 1, 1, 1}, {1, 40, 1, 3, 17, 2}, {5, 1, 2, 1, 8, 1, 1, 3}};
  uint32_t seed = 8400;
  int i = 0;
  for (const auto& lens : batches)
    for (int C : {200, 1000, 77, 8, 1}) {
      const DType t = i % 3 == 0 ? DType::f32 : i % 3 == 1 ? DType::f16 : DType::bf16;
      const bool pw = i % 2 == 0;
      run_mix({lens, C, 6, pw, pw, t, 0, 0}, seed++);
      run_mix({lens, C, 5, pw, true, t, 1234, 0}, seed++);        // offset: scalar state access
      run_mix({lens, C, 2, !pw, false, t, 4, 1}, seed++);         // misaligned: scalar path
      ++i;
    }
}

TEST_CASE("shift_mix: more rows than gridDim.y allows", "[gpu][kernels][shift_mix]") {
  // 70000 rows: the grid's y dimension stops at 65535 and the kernel loops over the rest.
  std::vector<int> lens = {30000, 1, 39998, 1};
  run_mix({lens, 1, 2, true, true, DType::f32, 0, 0}, 8600);
}

TEST_CASE("shift_store: each sequence's last row goes into its state, nothing else is written",
          "[gpu][kernels][shift_mix]") {
  const std::vector<std::vector<int>> batches = {
      {1}, {7}, {1, 1, 1}, {1, 40, 1, 3, 17, 2}, {5, 1, 2, 1, 8, 1, 1, 3}};
  uint32_t seed = 8700;
  for (const auto& lens : batches)
    for (int C : {200, 1000, 77, 8, 1}) {
      run_store({lens, C, 0, (size_t)C, 0}, seed++);           // adjacent rows, as in the state layout
      run_store({lens, C, (size_t)C + 5, 2, 0}, seed++);       // ffn row first, gaps, odd offsets
      run_store({lens, C, 8, (size_t)C + 16, 1}, seed++);      // misaligned sources: scalar path
    }
}

TEST_CASE("shift_store: more sequences than gridDim.y allows", "[gpu][kernels][shift_mix]") {
  run_store({std::vector<int>(66000, 1), 1, 0, 1, 0}, 8800);
}

namespace {

// The invalid-parameter tests' setup: a small ragged batch, its buffers, and shift_mix parameters
// that the kernel accepts (run once here); each rejection edits one field.
struct ValidMixCall {
  static constexpr int C = 8, rows = 3;
  std::mt19937 rng{8900};
  TestBatch b = make_batch({2, 1}, 16, rng);
  DeviceBuffer dcur{rows * C * 4}, ddelta{2 * rows * C * 4}, dmu0{C * 4}, dmu1{C * 4}, dout0{rows * C * 4},
      dout1{rows * C * 4};
  rwkv_kernels::shift_mix_params p;

  ValidMixCall() {
    p.batch = b.rb;
    p.cur = dcur.as<float>();
    p.C = C;
    p.n_out = 2;
    p.mu[0] = dmu0.as<float>();
    p.mu[1] = dmu1.as<float>();
    p.delta = ddelta.as<float>();
    p.out[0] = dout0.get();
    p.out[1] = dout1.get();
    REQUIRE(rwkv_kernels::shift_mix(p, nullptr) == cudaSuccess);
    REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  }
};

}  // namespace

TEST_CASE("shift_mix and shift_store: invalid shift_mix parameters give cudaErrorInvalidValue",
          "[gpu][kernels][shift_mix]") {
  ValidMixCall v;
  const int C = ValidMixCall::C, rows = ValidMixCall::rows;
  DeviceBuffer &dcur = v.dcur, &ddelta = v.ddelta, &dmu0 = v.dmu0, &dout0 = v.dout0;
  auto mix_rejects = [&](const char* what, auto edit) {
    rwkv_kernels::shift_mix_params q = v.p;
    edit(q);
    INFO(what);
    CHECK(rwkv_kernels::shift_mix(q, nullptr) == cudaErrorInvalidValue);
  };
  using MP = rwkv_kernels::shift_mix_params;
  mix_rejects("C 0", [](MP& q) { q.C = 0; });
  mix_rejects("C -8", [](MP& q) { q.C = -8; });
  mix_rejects("n_out 0", [](MP& q) { q.n_out = 0; });
  mix_rejects("n_out 7", [](MP& q) { q.n_out = 7; });
  mix_rejects("unknown dtype", [](MP& q) { q.out_dtype = static_cast<DType>(7); });
  mix_rejects("negative rows", [](MP& q) { q.batch.n_rows = -1; });
  mix_rejects("negative sequences", [](MP& q) { q.batch.n_seq = -1; });
  mix_rejects("no sequences", [](MP& q) { q.batch.n_seq = 0; });
  mix_rejects("more sequences than rows", [](MP& q) { q.batch.n_seq = 4; });
  mix_rejects("null cur", [](MP& q) { q.cur = nullptr; });
  mix_rejects("null row_seq", [](MP& q) { q.batch.row_seq = nullptr; });
  mix_rejects("null seq_start", [](MP& q) { q.batch.seq_start = nullptr; });
  mix_rejects("null state", [](MP& q) { q.batch.state = nullptr; });
  mix_rejects("null mu", [](MP& q) { q.mu[1] = nullptr; });
  mix_rejects("null out", [](MP& q) { q.out[1] = nullptr; });
  mix_rejects("out overlaps cur", [&](MP& q) { q.out[1] = dcur.as<float>() + 4; });
  mix_rejects("out overlaps delta", [&](MP& q) { q.out[0] = ddelta.as<float>() + rows * C; });
  mix_rejects("out overlaps mu", [&](MP& q) { q.out[1] = dmu0.get(); });
  mix_rejects("outputs overlap", [&](MP& q) { q.out[1] = dout0.as<float>() + 1; });
  {
    rwkv_kernels::shift_mix_params q = v.p;  // no rows: nothing to do, nothing read
    q.batch = rwkv_kernels::ragged_batch{};
    q.cur = nullptr;
    CHECK(rwkv_kernels::shift_mix(q, nullptr) == cudaSuccess);
  }
  CHECK(cudaGetLastError() == cudaSuccess);
}

TEST_CASE("shift_mix and shift_store: invalid shift_store parameters give cudaErrorInvalidValue",
          "[gpu][kernels][shift_mix]") {
  ValidMixCall v;  // shift_store reads what a valid shift_mix wrote
  const int C = ValidMixCall::C;
  rwkv_kernels::shift_store_params s;
  s.batch = v.b.rb;
  s.att_cur = v.dcur.as<float>();
  s.ffn_cur = v.dout0.as<float>();
  s.att_offset = 0;
  s.ffn_offset = C;
  s.C = C;
  REQUIRE(rwkv_kernels::shift_store(s, nullptr) == cudaSuccess);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  auto store_rejects = [&](const char* what, auto edit) {
    rwkv_kernels::shift_store_params q = s;
    edit(q);
    INFO(what);
    CHECK(rwkv_kernels::shift_store(q, nullptr) == cudaErrorInvalidValue);
  };
  using SP = rwkv_kernels::shift_store_params;
  store_rejects("C 0", [](SP& q) { q.C = 0; });
  store_rejects("negative rows", [](SP& q) { q.batch.n_rows = -1; });
  store_rejects("negative sequences", [](SP& q) { q.batch.n_seq = -1; });
  store_rejects("fewer rows than sequences", [](SP& q) { q.batch.n_rows = 1; });
  store_rejects("null att_cur", [](SP& q) { q.att_cur = nullptr; });
  store_rejects("null ffn_cur", [](SP& q) { q.ffn_cur = nullptr; });
  store_rejects("null seq_start", [](SP& q) { q.batch.seq_start = nullptr; });
  store_rejects("null state", [](SP& q) { q.batch.state = nullptr; });
  {
    rwkv_kernels::shift_store_params q = s;  // no sequences: nothing to do
    q.batch = rwkv_kernels::ragged_batch{};
    q.att_cur = nullptr;
    CHECK(rwkv_kernels::shift_store(q, nullptr) == cudaSuccess);
  }
  CHECK(cudaGetLastError() == cudaSuccess);
}
