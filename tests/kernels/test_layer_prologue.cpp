// Tests kernels/layer_prologue.cu on its own against the CPU reference: the residual add (exact, one
// fp32 addition), the LayerNorm of runtime/arch/layer_norm.h (layer_norm_row, the CPU backend's),
// the token-shift mixes of docs/rwkv-math.md sections 1.1, 5.2 (previous token from the state for a
// sequence's first row, else the row before; both mix forms), the previous-token output and the
// shift-state store, over ragged batches (sequences of 1 to 5 rows, states in shuffled slots), every
// output dtype, and a width off the 16-byte path.
//
// Tolerances: cur within 1e-5 abs + 1e-5 rel of the fp32 CPU LayerNorm (both fp32, different
// summation orders); the mixes are computed from the device's own cur and prev with the same fp32
// formula, so they agree within 1e-6 abs + 1e-6 rel plus one rounding to the output dtype; the
// stored state is the device's last cur row, bit for bit.
//
// The row-parallel form (prefill rounds) is checked bit for bit against the two launches it
// replaces in the backend (layernorm_residual, then shift_mix) and against the block-per-sequence
// form, which the CPU comparison above covers.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <vector>

#include "gpu_test_util.h"
#include "kernels/layer_prologue.cuh"
#include "kernels/layernorm.cuh"
#include "kernels/shift_mix.cuh"
#include "runtime/arch/layer_norm.h"

using gpu_test::DeviceBuffer;
using rwkv::DType;

namespace {

struct Case {
  std::vector<int> lens;
  int C, n_out;
  bool prev_weighted, has_delta, has_prev_out;
  DType out_t;
};

void check_close(const std::vector<float>& got, const std::vector<double>& want, DType t, double tol,
                 const char* what) {
  const gpu_test::Comparison cmp = gpu_test::compare(got, want, t, tol, tol);
  INFO(what << ": " << cmp.first << " worst " << cmp.worst);
  CHECK(cmp.bad == 0);
}

// Every sequence's state (3 C floats: this layer's x_prev at offset C) random, then uploaded.
void fill_states(gpu_test::RaggedBatch& rb, int C, std::mt19937& rng) {
  for (int s = 0; s < rb.n_seq(); ++s) {
    const std::vector<float> st = gpu_test::random_floats(rng, 3 * (size_t)C, -1.0f, 1.0f);
    std::copy(st.begin(), st.end(), rb.state(s));
  }
  rb.upload();
}

void run_case(const Case& k, uint32_t seed) {
  CAPTURE(seed, k.C, k.n_out, k.prev_weighted, k.has_delta, k.has_prev_out, rwkv::dtype_name(k.out_t));
  std::mt19937 rng(seed);
  const size_t offset = (size_t)k.C;  // this layer's x_prev sits after another layer's
  gpu_test::RaggedBatch rb(k.lens, 3 * (size_t)k.C, rng);
  const int rows = rb.n_rows(), C = k.C;
  const size_t n = (size_t)rows * C;
  fill_states(rb, C, rng);
  std::vector<float> x = gpu_test::random_floats(rng, n, -3.0f, 3.0f);
  const std::vector<float> delta = gpu_test::random_floats(rng, n, -1.0f, 1.0f);
  const std::vector<float> w = gpu_test::random_floats(rng, C, 0.5f, 1.5f);
  const std::vector<float> b = gpu_test::random_floats(rng, C, -0.5f, 0.5f);
  std::vector<std::vector<float>> mu;
  std::vector<DeviceBuffer> dmu, dout;
  const DeviceBuffer dx = gpu_test::to_device(x), dd = gpu_test::to_device(delta), dw = gpu_test::to_device(w),
                     db = gpu_test::to_device(b);
  DeviceBuffer dcur(n * 4), dprev(n * 4);

  rwkv_kernels::layer_prologue_params p;
  p.batch = rb.batch();
  p.x = dx.as<float>();
  p.delta = k.has_delta ? dd.as<float>() : nullptr;
  p.ln_w = dw.as<float>();
  p.ln_b = db.as<float>();
  p.cur = dcur.as<float>();
  p.prev_out = k.has_prev_out ? dprev.as<float>() : nullptr;
  p.state_offset = offset;
  p.C = C;
  p.n_out = k.n_out;
  p.prev_weighted = k.prev_weighted;
  p.out_dtype = k.out_t;
  for (int z = 0; z < k.n_out; ++z) {
    mu.push_back(gpu_test::random_floats(rng, C, 0.0f, 1.0f));
    dmu.push_back(gpu_test::to_device(mu.back()));
    dout.emplace_back(n * rwkv::dtype_size(k.out_t));
    p.mu[z] = dmu.back().as<float>();
    p.out[z] = dout.back().get();
  }
  std::vector<float> states_before;
  for (int s = 0; s < rb.n_seq(); ++s) states_before.insert(states_before.end(), rb.state(s), rb.state(s) + 3 * C);
  REQUIRE(rwkv_kernels::layer_prologue(p, nullptr) == cudaSuccess);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  rb.download();

  // Residual add: exact.
  if (k.has_delta)
    for (size_t i = 0; i < n; ++i) x[i] += delta[i];
  CHECK(gpu_test::from_device(dx) == x);
  // LayerNorm against the CPU's.
  const std::vector<float> cur = gpu_test::from_device(dcur);
  std::vector<double> want_cur(n);
  for (int r = 0; r < rows; ++r) {
    std::vector<float> y(C);
    rwkv::layer_norm_row(x.data() + (size_t)r * C, w.data(), b.data(), C, y.data());
    for (int c = 0; c < C; ++c) want_cur[(size_t)r * C + c] = y[c];
  }
  check_close(cur, want_cur, DType::f32, 1e-5, "cur");
  // Previous tokens, mixes and the stored states, from the device's cur.
  std::vector<double> want_prev(n);
  for (int s = 0; s < rb.n_seq(); ++s)
    for (int r = rb.begin(s); r < rb.begin(s + 1); ++r)
      for (int c = 0; c < C; ++c)
        want_prev[(size_t)r * C + c] =
            r == rb.begin(s) ? states_before[(size_t)s * 3 * C + offset + c] : cur[(size_t)(r - 1) * C + c];
  if (k.has_prev_out) check_close(gpu_test::from_device(dprev), want_prev, DType::f32, 0.0, "prev_out");
  for (int z = 0; z < k.n_out; ++z) {
    std::vector<double> want(n);
    for (size_t i = 0; i < n; ++i) {
      const float xc = cur[i], pv = (float)want_prev[i], m = mu[(size_t)z][i % C];
      want[i] = k.prev_weighted ? xc + (pv - xc) * m : xc * m + pv * (1.0f - m);
    }
    check_close(gpu_test::from_device(dout[(size_t)z], k.out_t), want, k.out_t, 1e-6, "mix");
    CHECK(dout[(size_t)z].guard_intact());
  }
  for (int s = 0; s < rb.n_seq(); ++s) {
    const int last = rb.begin(s + 1) - 1;
    for (int c = 0; c < 3 * C; ++c) {
      const bool mine = c >= (int)offset && c < (int)offset + C;
      const float want = mine ? cur[(size_t)last * C + (c - offset)] : states_before[(size_t)s * 3 * C + c];
      if (rb.state(s)[c] != want) FAIL("state of sequence " << s << " channel " << c);
    }
  }
  CHECK(rb.guards_intact());
  CHECK(dcur.guard_intact());
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// The prologue's launch for the batch's rows: a block per sequence, or per row.
struct PrologueRun {
  DeviceBuffer cur, prev;
  std::vector<DeviceBuffer> out;
};

PrologueRun launch_prologue(rwkv_kernels::layer_prologue_params p, bool row_parallel, bool cur_all_rows,
                            int rows, int C) {
  const size_t n = (size_t)rows * C;
  PrologueRun r{DeviceBuffer(n * 4), DeviceBuffer(n * 4), {}};
  p.cur = r.cur.as<float>();
  p.prev_out = p.prev_out ? r.prev.as<float>() : nullptr;
  for (int z = 0; z < p.n_out; ++z) {
    r.out.emplace_back(n * rwkv::dtype_size(p.out_dtype));
    p.out[z] = r.out.back().get();
  }
  p.row_parallel = row_parallel;
  p.cur_all_rows = cur_all_rows;
  REQUIRE(rwkv_kernels::layer_prologue(p, nullptr) == cudaSuccess);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  return r;
}

void run_rows_case(const Case& k, uint32_t seed) {
  CAPTURE(seed, k.C, k.n_out, k.prev_weighted, k.has_prev_out, rwkv::dtype_name(k.out_t));
  std::mt19937 rng(seed);
  const size_t offset = (size_t)k.C;
  gpu_test::RaggedBatch rb(k.lens, 3 * (size_t)k.C, rng);
  const int rows = rb.n_rows(), C = k.C;
  const size_t n = (size_t)rows * C;
  fill_states(rb, C, rng);
  const std::vector<float> states_before = rb.states_in_order(3 * (size_t)C);
  const std::vector<float> x = gpu_test::random_floats(rng, n, -3.0f, 3.0f);
  const std::vector<float> w = gpu_test::random_floats(rng, C, 0.5f, 1.5f);
  const std::vector<float> b = gpu_test::random_floats(rng, C, -0.5f, 0.5f);
  const DeviceBuffer dx = gpu_test::to_device(x), dw = gpu_test::to_device(w), db = gpu_test::to_device(b);
  std::vector<DeviceBuffer> dmu;
  rwkv_kernels::layer_prologue_params p;
  p.batch = rb.batch();
  p.x = dx.as<float>();
  p.ln_w = dw.as<float>();
  p.ln_b = db.as<float>();
  p.prev_out = k.has_prev_out ? p.x : nullptr;  // a placeholder: launch_prologue sets its own
  p.state_offset = offset;
  p.store_state = false;
  p.C = C;
  p.n_out = k.n_out;
  p.prev_weighted = k.prev_weighted;
  p.out_dtype = k.out_t;
  for (int z = 0; z < k.n_out; ++z) {
    dmu.push_back(gpu_test::to_device(gpu_test::random_floats(rng, C, 0.0f, 1.0f)));
    p.mu[z] = dmu.back().as<float>();
  }
  const PrologueRun by_seq = launch_prologue(p, false, true, rows, C);
  const PrologueRun by_row = launch_prologue(p, true, true, rows, C);
  const PrologueRun last_only = launch_prologue(p, true, false, rows, C);

  // The launches the backend ran before: layernorm_residual (no delta), then shift_mix on its output.
  DeviceBuffer ln(n * 4);
  rwkv_kernels::layernorm_params lp;
  lp.x = dx.as<float>();
  lp.weight = dw.get();
  lp.bias = db.get();
  lp.y = ln.get();
  lp.rows = rows;
  lp.C = C;
  REQUIRE(rwkv_kernels::layernorm_residual(lp, nullptr) == cudaSuccess);
  rwkv_kernels::shift_mix_params sp;
  sp.batch = rb.batch();
  sp.state_offset = offset;
  sp.cur = ln.as<float>();
  sp.C = C;
  sp.n_out = k.n_out;
  sp.prev_weighted = k.prev_weighted;
  sp.out_dtype = k.out_t;
  std::vector<DeviceBuffer> mixed;
  for (int z = 0; z < k.n_out; ++z) {
    mixed.emplace_back(n * rwkv::dtype_size(k.out_t));
    sp.mu[z] = p.mu[z];
    sp.out[z] = mixed.back().get();
  }
  if (k.n_out > 0) REQUIRE(rwkv_kernels::shift_mix(sp, nullptr) == cudaSuccess);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  rb.download();

  const std::vector<float> cur = gpu_test::from_device(by_row.cur);
  CHECK(same_bits(cur, gpu_test::from_device(ln)));
  CHECK(same_bits(cur, gpu_test::from_device(by_seq.cur)));
  if (k.has_prev_out) CHECK(same_bits(gpu_test::from_device(by_row.prev), gpu_test::from_device(by_seq.prev)));
  for (int z = 0; z < k.n_out; ++z) {
    const std::vector<float> got = gpu_test::from_device(by_row.out[(size_t)z], k.out_t);
    CHECK(same_bits(got, gpu_test::from_device(mixed[(size_t)z], k.out_t)));
    CHECK(same_bits(got, gpu_test::from_device(by_seq.out[(size_t)z], k.out_t)));
    CHECK(same_bits(got, gpu_test::from_device(last_only.out[(size_t)z], k.out_t)));
    CHECK(by_row.out[(size_t)z].guard_intact());
  }
  // cur_all_rows false: each sequence's last row, the rest untouched (still the fill's NaN bytes).
  const std::vector<float> last_cur = gpu_test::from_device(last_only.cur);
  int written = 0, untouched = 0;
  for (int s = 0; s < rb.n_seq(); ++s)
    for (int r = rb.begin(s); r < rb.begin(s + 1); ++r) {
      const bool last = r == rb.begin(s + 1) - 1;
      for (int c = 0; c < C; ++c) {
        const size_t i = (size_t)r * C + c;
        if (last)
          written += std::memcmp(&last_cur[i], &cur[i], 4) == 0;
        else
          untouched += std::isnan(last_cur[i]) ? 1 : 0;
      }
    }
  CHECK(written == rb.n_seq() * C);
  CHECK(untouched == rows * C - rb.n_seq() * C);
  // The states are only read.
  CHECK(rb.states_in_order(3 * (size_t)C) == states_before);
  CHECK(rb.guards_intact());
  CHECK(by_row.cur.guard_intact());
  CHECK(last_only.cur.guard_intact());
}

}  // namespace

TEST_CASE("layer_prologue row_parallel: the LayerNorm and mixes of layernorm_residual + shift_mix, bit for bit",
          "[gpu][kernels][layer_prologue]") {
  const std::vector<Case> cases = {
      {{1, 5, 2, 7}, 64, 6, true, false, false, DType::bf16},  // v7 time mix, ragged, one-row sequences
      {{9}, 128, 1, true, false, false, DType::f32},           // v7 channel mix, one sequence
      {{3, 1, 4}, 256, 4, false, false, false, DType::f16},    // v5 form
      {{2, 6}, 64, 1, true, false, true, DType::bf16},         // v6 maa_x with the previous tokens
      {{4, 1, 3}, 40, 2, false, false, true, DType::f32},      // C % 8 != 0: element access
      {{3, 2}, 2056, 2, true, false, false, DType::bf16},      // two chunks per thread and a tail
  };
  uint32_t seed = 1800;
  for (const Case& k : cases) run_rows_case(k, ++seed);
}

TEST_CASE("layer_prologue row_parallel: refuses a delta, a state store or a batch without row_seq",
          "[gpu][kernels][layer_prologue]") {
  std::mt19937 rng(1850);
  gpu_test::RaggedBatch rb({2, 3}, 64, rng);
  DeviceBuffer x(5 * 64 * 4), d(5 * 64 * 4), w(64 * 4), b(64 * 4), cur(5 * 64 * 4);
  rwkv_kernels::layer_prologue_params p;
  p.batch = rb.batch();
  p.x = x.as<float>();
  p.ln_w = w.as<float>();
  p.ln_b = b.as<float>();
  p.cur = cur.as<float>();
  p.C = 64;
  p.row_parallel = true;
  p.store_state = false;
  rwkv_kernels::layer_prologue_params bad = p;
  bad.delta = d.as<float>();
  CHECK(rwkv_kernels::layer_prologue(bad, nullptr) == cudaErrorInvalidValue);
  bad = p;
  bad.store_state = true;
  CHECK(rwkv_kernels::layer_prologue(bad, nullptr) == cudaErrorInvalidValue);
  bad = p;
  bad.batch.row_seq = nullptr;
  CHECK(rwkv_kernels::layer_prologue(bad, nullptr) == cudaErrorInvalidValue);
  bad = p;
  bad.row_parallel = false;  // the block-per-sequence form takes the same call
  CHECK(rwkv_kernels::layer_prologue(bad, nullptr) == cudaSuccess);
  CHECK(rwkv_kernels::layer_prologue(p, nullptr) == cudaSuccess);
  CHECK(cudaDeviceSynchronize() == cudaSuccess);
}

TEST_CASE("layer_prologue: residual + LayerNorm + mixes + shift store against the CPU, ragged batches",
          "[gpu][kernels][layer_prologue]") {
  const std::vector<Case> cases = {
      {{1, 1, 1}, 64, 6, true, false, false, DType::f32},    // v7 decode
      {{1, 3, 2, 5}, 64, 6, true, true, false, DType::bf16},  // ragged, with a pending delta
      {{2, 1}, 128, 4, false, false, false, DType::f16},      // v5 form
      {{1, 2}, 256, 1, true, false, true, DType::bf16},       // v6 maa_x with the previous tokens
      {{3, 1}, 40, 2, false, false, true, DType::f32},        // C % 8 != 0: element access
      {{1, 1}, 520, 0, true, true, false, DType::f32},        // two chunks per thread, LN only
  };
  uint32_t seed = 1700;
  for (const Case& k : cases) run_case(k, ++seed);
}
