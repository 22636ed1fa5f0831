// Tests the v6 decode's two GEMV variants (kernels/gemv.cuh) on their own:
//
// The input transform (gemv_ln_mix): LN1 of the residual rows, the token shift from the state or
// the row before, the maa_x mix rounded to the input dtype, then the product and its epilogue,
// against the CPU reference: layer_norm_row (runtime/arch/layer_norm.h, the CPU backend's) and
// the mix of docs/rwkv-math.md section 5.2 in fp32, the dot product in double, std::tanh. Ragged
// batches (sequences of 1 to 5 rows, states in shuffled slots), every weight dtype, M = 1 to 16,
// a width off the 16-byte path. Against the unfused path (layer_prologue, then the plain GEMV on
// its stored mix) the outputs, LN rows and previous tokens are the same bits: the statistics and
// the mix are the prologue's arithmetic and the product keeps the GEMV's summation order.
//
// The shift-state store of the lerp epilogue (gemv_params::store_state): each sequence's last row
// of `a` goes into its state, nothing else of the state changes, and the outputs are the plain
// GEMV's bits.
//
// Tolerances: the LN rows within 1e-5 abs + 1e-5 rel of the fp32 CPU LayerNorm (as
// test_layer_prologue.cpp). The product: the device's input element k differs from the
// reference's by at most e_k = |1 - mu| dcur + |mu| dprev (dcur, dprev the LN tolerance; 0 for a
// state row) + 2 ulp of fp32 for the mix's own rounding + a full step of the input dtype (two
// roundings of nearby values may land one step apart); so acc is within sum_k |w_k| e_k +
// gamma_K sum_k |w_k in_k| (test_gemv.cpp's bound), and tanh (slope <= 1) adds 1e-6 + 4e-6 rel
// plus one rounding of the output dtype.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <vector>

#include "gpu_test_util.h"
#include "kernels/gemv.cuh"
#include "kernels/layer_prologue.cuh"
#include "runtime/arch/layer_norm.h"

using gpu_test::DeviceBuffer;
using rwkv::DType;
using rwkv_kernels::gemv_epilogue;

namespace {

struct Case {
  std::vector<int> lens;
  int C, N;
  DType t;  // weights, inputs and output
};

// One transform case's host data (weights and inputs already rounded to their device dtypes).
struct Data {
  std::vector<float> x, ln_w, ln_b, mu, W, states;
  size_t state_floats, offset;
};

Data make_data(const Case& k, gpu_test::RaggedBatch& rb, std::mt19937& rng) {
  Data d;
  const size_t rows = (size_t)rb.n_rows(), C = (size_t)k.C;
  d.offset = C;  // this layer's x_prev sits after another layer's
  d.state_floats = 3 * C;
  for (int s = 0; s < rb.n_seq(); ++s) {
    const std::vector<float> st = gpu_test::random_floats(rng, d.state_floats, -1.0f, 1.0f);
    std::copy(st.begin(), st.end(), rb.state(s));
  }
  d.states = rb.states_in_order(d.state_floats);
  d.x = gpu_test::random_floats(rng, rows * C, -3.0f, 3.0f);
  d.ln_w = gpu_test::random_floats(rng, C, 0.5f, 1.5f);
  d.ln_b = gpu_test::random_floats(rng, C, -0.5f, 0.5f);
  d.mu = gpu_test::random_floats(rng, C, 0.0f, 1.0f);
  d.W = gpu_test::random_floats(rng, (size_t)k.N * C, -0.5f, 0.5f, k.t);
  return d;
}

// The device buffers of one run (fresh outputs each time).
struct Buffers {
  DeviceBuffer x, ln_w, ln_b, mu, W, Y, cur, prev;
  Buffers(const Data& d, const Case& k, size_t rows)
      : x(gpu_test::to_device(d.x)), ln_w(gpu_test::to_device(d.ln_w)), ln_b(gpu_test::to_device(d.ln_b)),
        mu(gpu_test::to_device(d.mu)), W(gpu_test::to_device(d.W, k.t)), Y(rows * k.N * rwkv::dtype_size(k.t)),
        cur(rows * k.C * 4), prev(rows * k.C * 4) {}
};

rwkv_kernels::gemv_params tanh_params(const Buffers& b, const Case& k, int M, const void* X) {
  rwkv_kernels::gemv_params p;
  p.M = M;
  p.n_tasks = 1;
  p.w_dtype = p.x_dtype = k.t;
  rwkv_kernels::gemv_task& tk = p.task[0];
  tk.W = b.W.get();
  tk.X = X;
  tk.Y = b.Y.get();
  tk.N = k.N;
  tk.K = tk.ldx = k.C;
  tk.ldy = k.N;
  tk.epilogue = gemv_epilogue::tanh;
  tk.y_dtype = k.t;
  return p;
}

// The transform's launch over `rb`, reading state x_prev at d.offset.
rwkv_kernels::gemv_params transform_params(const Buffers& b, const Case& k, const gpu_test::RaggedBatch& rb,
                                           const Data& d) {
  rwkv_kernels::gemv_params p = tanh_params(b, k, rb.n_rows(), nullptr);
  p.batch = rb.batch();
  rwkv_kernels::gemv_ln_mix& t = p.ln_mix;
  t.x = b.x.as<float>();
  t.ln_w = b.ln_w.as<float>();
  t.ln_b = b.ln_b.as<float>();
  t.mu = b.mu.as<float>();
  t.state_offset = d.offset;
  t.cur_out = b.cur.as<float>();
  t.prev_out = b.prev.as<float>();
  return p;
}

// The CPU reference of every output, with the tolerances of the header.
void check_against_cpu(const Case& k, const Data& d, gpu_test::RaggedBatch& rb, const Buffers& b) {
  const int rows = rb.n_rows(), C = k.C;
  const std::vector<float> got_cur = gpu_test::from_device(b.cur), got_prev = gpu_test::from_device(b.prev);
  const std::vector<float> got_y = gpu_test::from_device(b.Y, k.t);
  std::vector<float> cur((size_t)rows * C);
  for (int r = 0; r < rows; ++r) rwkv::layer_norm_row(d.x.data() + (size_t)r * C, d.ln_w.data(), d.ln_b.data(), C,
                                                      cur.data() + (size_t)r * C);
  const gpu_test::Comparison cc = gpu_test::compare(got_cur, std::vector<double>(cur.begin(), cur.end()), DType::f32,
                                                    1e-5, 1e-5);
  INFO("cur: " << cc.first);
  CHECK(cc.bad == 0);
  size_t bad = 0;
  for (int s = 0; s < rb.n_seq(); ++s)
    for (int r = rb.begin(s); r < rb.begin(s + 1); ++r) {
      const bool first = r == rb.begin(s);
      std::vector<double> in(C), err(C);
      for (int c = 0; c < C; ++c) {
        const size_t at = (size_t)r * C + c;
        // prev: the state's (exact) or the device's previous LN row (exact).
        const float want_prev = first ? d.states[(size_t)s * d.state_floats + d.offset + c] : got_cur[at - C];
        if (got_prev[at] != want_prev) ++bad;
        const float pc = first ? want_prev : cur[at - C], xc = cur[at], m = d.mu[c];
        const float mixed = xc + (pc - xc) * m;
        in[c] = gpu_test::round_to(k.t, mixed);
        const double dcur = 1e-5 + 1e-5 * std::fabs(xc), dprev = first ? 0.0 : 1e-5 + 1e-5 * std::fabs(pc);
        const double step = 2.0 * gpu_test::rounding_slack(k.t, std::fabs(mixed) + 1e-4);
        err[c] = std::fabs(1.0f - m) * dcur + m * dprev + std::ldexp(std::fabs(mixed), -22) + step;
      }
      for (int n = 0; n < k.N; ++n) {
        double acc = 0.0, mag = 0.0, in_err = 0.0;
        for (int c = 0; c < C; ++c) {
          const double w = d.W[(size_t)n * C + c];
          acc += w * in[c];
          mag += std::fabs(w * in[c]);
          in_err += std::fabs(w) * err[c];
        }
        const double want = std::tanh(acc);
        double tol = in_err + (C + 2) * std::ldexp(1.0, -24) * mag + 1e-6 + 4e-6 * std::fabs(want);
        tol += gpu_test::rounding_slack(k.t, std::fabs(want) + tol);
        if (!(std::fabs(got_y[(size_t)r * k.N + n] - want) <= tol) && ++bad <= 4)
          WARN("row " << r << " output " << n << " got " << got_y[(size_t)r * k.N + n] << " want " << want);
      }
    }
  CHECK(bad == 0);
}

void run_transform_case(const Case& k, uint32_t seed) {
  CAPTURE(seed, k.lens, k.C, k.N, rwkv::dtype_name(k.t));
  std::mt19937 rng(seed);
  gpu_test::RaggedBatch rb(k.lens, 3 * (size_t)k.C, rng);
  const Data d = make_data(k, rb, rng);
  rb.upload();
  const size_t rows = (size_t)rb.n_rows();
  Buffers fused(d, k, rows);
  REQUIRE(rwkv_kernels::gemv(transform_params(fused, k, rb, d), nullptr) == cudaSuccess);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  check_against_cpu(k, d, rb, fused);
  rb.download();
  CHECK(rb.states_in_order(d.state_floats) == d.states);  // the transform only reads the state
  CHECK(fused.Y.guard_intact());
  CHECK(fused.cur.guard_intact());
  CHECK(fused.prev.guard_intact());
  CHECK(rb.guards_intact());

  // The unfused path: the prologue's LN, previous tokens and mix, then the plain GEMV on the mix.
  Buffers plain(d, k, rows);
  DeviceBuffer mix(rows * k.C * rwkv::dtype_size(k.t));
  rwkv_kernels::layer_prologue_params lp;
  lp.batch = rb.batch();
  lp.x = plain.x.as<float>();
  lp.ln_w = plain.ln_w.as<float>();
  lp.ln_b = plain.ln_b.as<float>();
  lp.cur = plain.cur.as<float>();
  lp.prev_out = plain.prev.as<float>();
  lp.state_offset = d.offset;
  lp.store_state = false;
  lp.C = k.C;
  lp.n_out = 1;
  lp.mu[0] = plain.mu.as<float>();
  lp.out[0] = mix.get();
  lp.out_dtype = k.t;
  REQUIRE(rwkv_kernels::layer_prologue(lp, nullptr) == cudaSuccess);
  REQUIRE(rwkv_kernels::gemv(tanh_params(plain, k, (int)rows, mix.get()), nullptr) == cudaSuccess);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  // Both take 16-byte chunks (C % 8 == 0) or both single elements (the 16-bit weights' threshold).
  if (k.C % 8 == 0 || k.t != DType::f32) {
    CHECK(gpu_test::from_device(fused.cur) == gpu_test::from_device(plain.cur));
    CHECK(gpu_test::from_device(fused.prev) == gpu_test::from_device(plain.prev));
    const std::vector<uint8_t> a = fused.Y.download(), b = plain.Y.download();
    CHECK(std::memcmp(a.data(), b.data(), rows * k.N * rwkv::dtype_size(k.t)) == 0);
  }
}

// A lerp launch (5 tasks as the v6 ddlerp) with and without store_state on task 0.
void run_store_case(const std::vector<int>& lens, int C, DType t, uint32_t seed) {
  CAPTURE(seed, lens, C, rwkv::dtype_name(t));
  std::mt19937 rng(seed);
  const size_t state_floats = 2 * (size_t)C + 3, offset = 3;
  gpu_test::RaggedBatch rb(lens, state_floats, rng);
  for (int s = 0; s < rb.n_seq(); ++s) {
    const std::vector<float> st = gpu_test::random_floats(rng, state_floats, -1.0f, 1.0f);
    std::copy(st.begin(), st.end(), rb.state(s));
  }
  const std::vector<float> before = rb.states_in_order(state_floats);
  rb.upload();
  const int M = rb.n_rows(), K = 32;
  const std::vector<float> a = gpu_test::random_floats(rng, (size_t)M * C, -1.0f, 1.0f);
  const std::vector<float> prev = gpu_test::random_floats(rng, (size_t)M * C, -1.0f, 1.0f);
  const std::vector<float> X = gpu_test::random_floats(rng, (size_t)M * 5 * K, -1.0f, 1.0f, t);
  const std::vector<float> W = gpu_test::random_floats(rng, (size_t)5 * C * K, -0.5f, 0.5f, t);
  const std::vector<float> mu = gpu_test::random_floats(rng, (size_t)C, 0.0f, 1.0f);
  const DeviceBuffer da = gpu_test::to_device(a), dprev = gpu_test::to_device(prev), dX = gpu_test::to_device(X, t),
                     dW = gpu_test::to_device(W, t), dmu = gpu_test::to_device(mu);
  std::vector<uint8_t> ys[2];
  for (int pass = 0; pass < 2; ++pass) {  // 0: plain, 1: store_state
    DeviceBuffer Y((size_t)5 * M * C * rwkv::dtype_size(t));
    rwkv_kernels::gemv_params p;
    p.M = M;
    p.n_tasks = 5;
    p.w_dtype = p.x_dtype = t;
    for (int z = 0; z < 5; ++z) {
      rwkv_kernels::gemv_task& tk = p.task[z];
      tk.W = static_cast<const char*>(dW.get()) + (size_t)z * C * K * rwkv::dtype_size(t);
      tk.X = static_cast<const char*>(dX.get()) + (size_t)z * K * rwkv::dtype_size(t);
      tk.Y = static_cast<char*>(Y.get()) + (size_t)z * M * C * rwkv::dtype_size(t);
      tk.N = C;
      tk.K = K;
      tk.ldx = 5 * K;
      tk.ldy = C;
      tk.epilogue = gemv_epilogue::lerp;
      tk.y_dtype = t;
      tk.aux = da.as<float>();
      tk.aux2 = dprev.as<float>();
      tk.mu = dmu.as<float>();
    }
    p.batch = rb.batch();
    p.store_state = pass == 1;
    p.store_state_offset = offset;
    REQUIRE(rwkv_kernels::gemv(p, nullptr) == cudaSuccess);
    REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
    ys[pass] = Y.download();
    CHECK(Y.guard_intact());
  }
  CHECK(ys[0] == ys[1]);
  rb.download();
  const std::vector<float> after = rb.states_in_order(state_floats);
  for (int s = 0; s < rb.n_seq(); ++s) {
    const int last = rb.begin(s + 1) - 1;
    for (size_t c = 0; c < state_floats; ++c) {
      const bool mine = c >= offset && c < offset + (size_t)C;
      const float want = mine ? a[(size_t)last * C + (c - offset)] : before[s * state_floats + c];
      if (after[s * state_floats + c] != want) FAIL("state of sequence " << s << " float " << c);
    }
  }
  CHECK(rb.guards_intact());
}

}  // namespace

TEST_CASE("gemv: the LN + token-shift mix input transform against the CPU and the unfused path",
          "[gpu][kernels][gemv]") {
  const std::vector<Case> cases = {
      {{1}, 64, 40, DType::f32},                                    // B = 1 decode
      {{1, 1, 1}, 128, 160, DType::bf16},                           // a v6 maa_w1 shape (5 x 32)
      {{1, 3, 2, 5}, 64, 33, DType::f16},                           // ragged, several rows per sequence
      {std::vector<int>(16, 1), 256, 20, DType::bf16},              // 16 rows, groups of 16 threads
      {{16}, 48, 24, DType::f32},                                   // one sequence of 16 rows
      {{2, 1}, 44, 17, DType::f32},                                 // C % 8 != 0: element access
      {{1, 2}, 36, 9, DType::bf16},                                 // C % 8 != 0 with 16-bit weights
      {{1, 1}, 2112, 8, DType::f16},                                // 264 chunks: two per stats thread
  };
  uint32_t seed = 1800;
  for (const Case& k : cases) run_transform_case(k, ++seed);
}

TEST_CASE("gemv: the lerp epilogue's shift-state store writes each sequence's last row only",
          "[gpu][kernels][gemv]") {
  uint32_t seed = 1850;
  for (DType t : {DType::f32, DType::bf16, DType::f16}) {
    run_store_case({1, 1, 1}, 64, t, ++seed);
    run_store_case({3, 1, 4, 2}, 72, t, ++seed);
  }
  run_store_case(std::vector<int>(16, 1), 40, DType::f32, ++seed);
}

TEST_CASE("gemv: the v6 variants refuse what they cannot do", "[gpu][kernels][gemv]") {
  std::mt19937 rng(9);
  gpu_test::RaggedBatch rb({1, 2}, 64, rng), one({1}, 64, rng);
  DeviceBuffer w(64 * 16 * 4), x(3 * 16 * 4), y(3 * 64 * 4), y2(3 * 64 * 4), cur(3 * 16 * 4), prev(3 * 16 * 4),
      v(64 * 4);
  rwkv_kernels::gemv_params p;
  p.M = 3;
  p.n_tasks = 1;
  rwkv_kernels::gemv_task& tk = p.task[0];
  tk.W = w.get();
  tk.Y = y.get();
  tk.N = 4;
  tk.K = tk.ldx = 16;
  tk.ldy = 4;
  p.batch = rb.batch();
  p.ln_mix.x = x.as<float>();
  p.ln_mix.ln_w = p.ln_mix.ln_b = p.ln_mix.mu = v.as<float>();
  p.ln_mix.cur_out = cur.as<float>();
  p.ln_mix.prev_out = prev.as<float>();
  REQUIRE(rwkv_kernels::gemv(p, nullptr) == cudaSuccess);  // X may be null with the transform
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  auto refused = [](const rwkv_kernels::gemv_params& q) { return rwkv_kernels::gemv(q, nullptr) == cudaErrorInvalidValue; };
  rwkv_kernels::gemv_params q = p;
  q.batch = one.batch();  // 1 row, not M
  CHECK(refused(q));
  q = p;
  q.ln_mix.prev_out = q.ln_mix.cur_out;  // outputs overlap
  CHECK(refused(q));
  q = p;
  q.x_dtype = rwkv::DType::f32;
  q.w_dtype = rwkv::DType::bf16;  // the transform's input is in the weights' dtype
  CHECK(refused(q));
  q = p;
  q.n_tasks = 2;
  q.task[1] = tk;
  q.task[1].K = 8;  // another row width
  q.task[1].Y = y2.get();
  CHECK(refused(q));
  q = p;
  q.ln_mix.mu = nullptr;
  CHECK(refused(q));
  // The store: not with the transform (it reads the state), only into a lerp task 0.
  q = p;
  q.store_state = true;
  CHECK(refused(q));
  q = p;
  q.ln_mix = {};
  q.task[0].X = x.get();
  q.store_state = true;
  CHECK(refused(q));  // task 0 is not lerp
  q.task[0].epilogue = gemv_epilogue::lerp;
  q.task[0].aux = q.task[0].aux2 = q.task[0].mu = v.as<float>();
  q.task[0].Y = y.get();
  REQUIRE(rwkv_kernels::gemv(q, nullptr) == cudaSuccess);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  q.batch = {};
  CHECK(refused(q));  // the store needs the batch
}
