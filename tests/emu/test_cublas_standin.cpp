// Tests that the cuBLAS stand-in (cuda_emu/src/cublas_standin.cpp) computes what cuBLAS computes:
// column-major GEMM with transpose flags, every supported type combination, fp32 accumulation with
// one rounding, beta == 0 not reading C, strided batches, and cuBLAS's rejections; plus the
// emulator's bounds checks of every operand.
//
// Reference: a naive GEMM in double on the same (already rounded) inputs. Tolerance for an fp32
// result: the classic bound for any fp32 summation order, (k + 2) * 2^-24 * (|alpha| sum|a||b| +
// |beta c|); a 16-bit result may additionally be off by one rounding (half a unit in the last place).
#include <catch2/catch.hpp>

#include <cublas_v2.h>

#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "cuda_emu/memory.h"
#include "gpu_test_util.h"

using gpu_test::DeviceBuffer;
using rwkv::DType;

namespace {

cudaDataType cuda_type(DType t) {
  switch (t) {
    case DType::f16: return CUDA_R_16F;
    case DType::bf16: return CUDA_R_16BF;
    default: return CUDA_R_32F;
  }
}

struct Handle {
  cublasHandle_t h = nullptr;
  Handle() { REQUIRE(cublasCreate(&h) == CUBLAS_STATUS_SUCCESS); }
  ~Handle() { cublasDestroy(h); }
};

// One GEMM problem in column-major storage, with host copies of everything.
struct Problem {
  cublasOperation_t ta = CUBLAS_OP_N, tb = CUBLAS_OP_N;
  int m = 0, n = 0, k = 0;
  int lda = 0, ldb = 0, ldc = 0;
  long long sa = 0, sb = 0, sc = 0;  // batch strides in elements
  int batch = 1;
  DType at = DType::f32, bt = DType::f32, ct = DType::f32;
  float alpha = 1.0f, beta = 0.0f;
  bool c_nan = false;  // C starts as NaN (only with beta == 0)
  cublasComputeType_t compute = CUBLAS_COMPUTE_32F;

  int a_rows() const { return ta == CUBLAS_OP_N ? m : k; }
  int a_cols() const { return ta == CUBLAS_OP_N ? k : m; }
  int b_rows() const { return tb == CUBLAS_OP_N ? k : n; }
  int b_cols() const { return tb == CUBLAS_OP_N ? n : k; }
  size_t a_elems() const { return (size_t)(batch - 1) * sa + (size_t)lda * a_cols(); }
  size_t b_elems() const { return (size_t)(batch - 1) * sb + (size_t)ldb * b_cols(); }
  size_t c_elems() const { return (size_t)(batch - 1) * sc + (size_t)ldc * n; }
};

std::string describe(const Problem& p) {
  std::ostringstream os;
  auto op = [](cublasOperation_t o) { return o == CUBLAS_OP_N ? "N" : o == CUBLAS_OP_T ? "T" : "C"; };
  os << "op " << op(p.ta) << op(p.tb) << " m " << p.m << " n " << p.n << " k " << p.k << " ld " << p.lda << "/"
     << p.ldb << "/" << p.ldc << " batch " << p.batch << " types " << rwkv::dtype_name(p.at) << "/"
     << rwkv::dtype_name(p.bt) << "/" << rwkv::dtype_name(p.ct) << " compute " << (int)p.compute << " alpha "
     << p.alpha << " beta " << p.beta << (p.c_nan ? " C=NaN" : "");
  return os.str();
}

// Runs p on random data from `seed` and compares every element of C (inside and outside the
// m x n windows) with the double reference.
void run_and_check(const Problem& p, uint32_t seed) {
  CAPTURE(seed);
  INFO(describe(p));
  std::mt19937 rng(seed);
  const std::vector<float> a = gpu_test::random_floats(rng, p.a_elems(), -1.0f, 1.0f, p.at);
  const std::vector<float> b = gpu_test::random_floats(rng, p.b_elems(), -1.0f, 1.0f, p.bt);
  std::vector<float> c0 = gpu_test::random_floats(rng, p.c_elems(), -1.0f, 1.0f, p.ct);
  if (p.c_nan) c0.assign(c0.size(), std::numeric_limits<float>::quiet_NaN());

  DeviceBuffer da(p.a_elems() * rwkv::dtype_size(p.at));
  DeviceBuffer db(p.b_elems() * rwkv::dtype_size(p.bt));
  DeviceBuffer dc(p.c_elems() * rwkv::dtype_size(p.ct));
  da.upload(gpu_test::encode(p.at, a));
  db.upload(gpu_test::encode(p.bt, b));
  dc.upload(gpu_test::encode(p.ct, c0));

  Handle h;
  cublasStatus_t st;
  if (p.batch == 1 && p.sa == 0 && p.sb == 0 && p.sc == 0) {
    st = cublasGemmEx(h.h, p.ta, p.tb, p.m, p.n, p.k, &p.alpha, da.get(), cuda_type(p.at), p.lda, db.get(),
                      cuda_type(p.bt), p.ldb, &p.beta, dc.get(), cuda_type(p.ct), p.ldc, p.compute,
                      CUBLAS_GEMM_DEFAULT);
  } else {
    st = cublasGemmStridedBatchedEx(h.h, p.ta, p.tb, p.m, p.n, p.k, &p.alpha, da.get(), cuda_type(p.at), p.lda,
                                    p.sa, db.get(), cuda_type(p.bt), p.ldb, p.sb, &p.beta, dc.get(),
                                    cuda_type(p.ct), p.ldc, p.sc, p.batch, p.compute, CUBLAS_GEMM_DEFAULT);
  }
  REQUIRE(st == CUBLAS_STATUS_SUCCESS);
  const std::vector<float> c = gpu_test::decode(p.ct, dc.download());
  REQUIRE(dc.guard_intact());

  // Which elements of C belong to some batch's m x n window.
  std::vector<char> inside(c.size(), 0);
  int bad = 0;
  double worst = 0.0;
  for (int q = 0; q < p.batch; ++q) {
    const size_t a0 = (size_t)q * p.sa, b0 = (size_t)q * p.sb, c0i = (size_t)q * p.sc;
    for (int j = 0; j < p.n; ++j)
      for (int i = 0; i < p.m; ++i) {
        double acc = 0.0, mag = 0.0;
        for (int l = 0; l < p.k; ++l) {
          const double av = p.ta == CUBLAS_OP_N ? a[a0 + i + (size_t)l * p.lda] : a[a0 + l + (size_t)i * p.lda];
          const double bv = p.tb == CUBLAS_OP_N ? b[b0 + l + (size_t)j * p.ldb] : b[b0 + j + (size_t)l * p.ldb];
          acc += av * bv;
          mag += std::fabs(av * bv);
        }
        const size_t ci = c0i + i + (size_t)j * p.ldc;
        inside[ci] = 1;
        double ref = (double)p.alpha * acc;
        double scale = std::fabs((double)p.alpha) * mag;
        if (p.beta != 0.0f) {
          ref += (double)p.beta * c0[ci];
          scale += std::fabs((double)p.beta * c0[ci]);
        }
        const double tol32 = (p.k + 2) * std::ldexp(1.0, -24) * scale;
        const double tol = tol32 + gpu_test::rounding_slack(p.ct, std::fabs(ref) + tol32);
        const double err = std::fabs((double)c[ci] - ref);
        worst = std::max(worst, tol > 0 ? err / tol : err);
        if (!(err <= tol)) {
          if (++bad <= 5) {
            UNSCOPED_INFO("batch " << q << " C(" << i << "," << j << ") = " << c[ci] << ", reference " << ref
                                   << ", tolerance " << tol);
          }
        }
      }
  }
  // Everything outside the windows (ld padding, batch gaps) must be exactly what it was.
  int touched = 0;
  for (size_t e = 0; e < c.size(); ++e) {
    if (inside[e]) continue;
    const bool same = (std::isnan(c[e]) && std::isnan(c0[e])) || c[e] == c0[e];
    if (!same) ++touched;
  }
  CAPTURE(worst);
  CHECK(bad == 0);
  CHECK(touched == 0);
}

const cublasOperation_t kOps[] = {CUBLAS_OP_N, CUBLAS_OP_T, CUBLAS_OP_C};

struct Types {
  DType a, b, c;
  cublasComputeType_t compute;
};
const Types kTypes[] = {
    {DType::f32, DType::f32, DType::f32, CUBLAS_COMPUTE_32F},
    {DType::f16, DType::f16, DType::f16, CUBLAS_COMPUTE_32F},
    {DType::f16, DType::f16, DType::f32, CUBLAS_COMPUTE_32F},
    {DType::bf16, DType::bf16, DType::bf16, CUBLAS_COMPUTE_32F},
    {DType::bf16, DType::bf16, DType::f32, CUBLAS_COMPUTE_32F},
    {DType::f32, DType::f32, DType::f32, CUBLAS_COMPUTE_32F_FAST_TF32},
};

// ld = rows as stored + pad (pad 0 gives the tightest legal value).
Problem make(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, int pad, const Types& t) {
  Problem p;
  p.ta = ta;
  p.tb = tb;
  p.m = m;
  p.n = n;
  p.k = k;
  p.lda = std::max(1, p.a_rows() + pad);
  p.ldb = std::max(1, p.b_rows() + pad);
  p.ldc = std::max(1, m + pad);
  p.at = t.a;
  p.bt = t.b;
  p.ct = t.c;
  p.compute = t.compute;
  return p;
}

}  // namespace

TEST_CASE("cublas stand-in: every transpose combination and type combination matches a double GEMM",
          "[emu][cublas]") {
  // Odd sizes. Blocks under 32K multiply-adds (the first three) run the stand-in's portable loop,
  // larger ones OpenBLAS sgemm when it is built in.
  struct Size {
    int m, n, k, pad;
  };
  const Size sizes[] = {{1, 1, 1, 0},   {7, 5, 3, 2},     {29, 13, 41, 1},
                        {33, 17, 65, 0}, {67, 45, 129, 5}, {130, 97, 200, 3}};
  uint32_t seed = 1000;
  for (const Types& t : kTypes)
    for (const Size& s : sizes)
      for (cublasOperation_t ta : kOps)
        for (cublasOperation_t tb : kOps) {
          Problem p = make(ta, tb, s.m, s.n, s.k, s.pad, t);
          p.alpha = 0.75f;
          p.beta = -1.5f;
          run_and_check(p, seed++);
        }
}

TEST_CASE("cublas stand-in: alpha/beta variants, beta == 0 never reads C, alpha == 0 never reads A and B",
          "[emu][cublas]") {
  uint32_t seed = 2000;
  for (const Types& t : kTypes) {
    struct AB {
      float alpha, beta;
      bool c_nan;
    };
    for (const AB& ab : {AB{1.0f, 0.0f, true}, AB{-2.0f, 0.0f, true}, AB{1.0f, 1.0f, false},
                         AB{0.0f, 2.0f, false}, AB{0.0f, 0.0f, true}, AB{0.3f, -0.7f, false}}) {
      Problem p = make(CUBLAS_OP_T, CUBLAS_OP_N, 29, 13, 41, 1, t);
      p.alpha = ab.alpha;
      p.beta = ab.beta;
      p.c_nan = ab.c_nan;
      run_and_check(p, seed++);
    }
  }

  // alpha == 0: A and B are NaN and must not be read (C = beta * C).
  Handle h;
  const int m = 5, n = 4, k = 3;
  DeviceBuffer da(m * k * 4), db(k * n * 4), dc(m * n * 4);  // A, B: NaN bytes
  std::vector<float> c0(m * n);
  for (int i = 0; i < m * n; ++i) c0[i] = (float)(i + 1);
  dc.upload(gpu_test::encode(DType::f32, c0));
  const float alpha = 0.0f, beta = 0.5f;
  REQUIRE(cublasGemmEx(h.h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &alpha, da.get(), CUDA_R_32F, m, db.get(),
                       CUDA_R_32F, k, &beta, dc.get(), CUDA_R_32F, m, CUBLAS_COMPUTE_32F,
                       CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_SUCCESS);
  const std::vector<float> c = gpu_test::decode(DType::f32, dc.download());
  for (int i = 0; i < m * n; ++i) CHECK(c[i] == c0[i] * 0.5f);
}

TEST_CASE("cublas stand-in: small-integer inputs give the exact sum rounded once to the output type",
          "[emu][cublas]") {
  // Integers in [-8, 8] with k = 37: every product and partial sum is exact in fp32, so the only
  // rounding is the final one to Ctype; a path that rounds twice (e.g. alpha*acc, then + beta*C)
  // would differ for bf16 outputs.
  uint32_t seed = 3000;
  for (const Types& t : kTypes) {
    CAPTURE(seed);
    std::mt19937 rng(seed++);
    std::uniform_int_distribution<int> dist(-8, 8);
    const int m = 19, n = 11, k = 37;
    std::vector<float> a(m * k), b(k * n), c0(m * n);
    for (float& x : a) x = (float)dist(rng);
    for (float& x : b) x = (float)dist(rng);
    for (float& x : c0) x = (float)dist(rng);
    DeviceBuffer da(a.size() * rwkv::dtype_size(t.a)), db(b.size() * rwkv::dtype_size(t.b)),
        dc(c0.size() * rwkv::dtype_size(t.c));
    da.upload(gpu_test::encode(t.a, a));
    db.upload(gpu_test::encode(t.b, b));
    dc.upload(gpu_test::encode(t.c, c0));
    const float alpha = 3.0f, beta = 5.0f;
    Handle h;
    REQUIRE(cublasGemmEx(h.h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &alpha, da.get(), cuda_type(t.a), m, db.get(),
                         cuda_type(t.b), k, &beta, dc.get(), cuda_type(t.c), m, t.compute,
                         CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_SUCCESS);
    const std::vector<float> c = gpu_test::decode(t.c, dc.download());
    int bad = 0;
    for (int j = 0; j < n; ++j)
      for (int i = 0; i < m; ++i) {
        long exact = 0;
        for (int l = 0; l < k; ++l) exact += (long)a[i + l * m] * (long)b[l + j * k];
        exact = 3 * exact + 5 * (long)c0[i + j * m];
        const float want = gpu_test::round_to(t.c, (float)exact);  // |exact| < 2^24: exact in fp32
        if (c[i + j * m] != want) ++bad;
      }
    CHECK(bad == 0);
  }
}

TEST_CASE("cublas stand-in: strided batched GEMM, including a shared A (stride 0)", "[emu][cublas]") {
  uint32_t seed = 4000;
  for (const Types& t : kTypes) {
    for (cublasOperation_t ta : {CUBLAS_OP_N, CUBLAS_OP_T})
      for (cublasOperation_t tb : {CUBLAS_OP_N, CUBLAS_OP_T}) {
        Problem p = make(ta, tb, 23, 9, 31, 2, t);
        p.batch = 4;
        p.sa = (long long)p.lda * p.a_cols() + 7;  // gaps between batches stay untouched
        p.sb = (long long)p.ldb * p.b_cols() + 3;
        p.sc = (long long)p.ldc * p.n + 11;
        p.alpha = 1.25f;
        p.beta = 0.5f;
        run_and_check(p, seed++);
        p.sa = 0;  // every batch multiplies the same A
        p.beta = 0.0f;
        p.c_nan = true;
        run_and_check(p, seed++);
      }
  }
}

TEST_CASE("cublas stand-in: problems split into several row and column blocks", "[emu][cublas]") {
  // The stand-in converts blocks of about 2^21 floats, at least 16 rows/columns: with k = 131073 a
  // block holds 16 rows of op(A) and 16 columns of op(B), so m = 33 spans 3 row blocks and n = 20
  // two column blocks.
  Problem p = make(CUBLAS_OP_T, CUBLAS_OP_N, 33, 20, 131073, 0, kTypes[3]);
  p.beta = 1.0f;
  run_and_check(p, 5000);
  p = make(CUBLAS_OP_N, CUBLAS_OP_T, 17, 17, 131073, 2, kTypes[0]);
  p.alpha = -0.5f;
  run_and_check(p, 5001);
}

TEST_CASE("cublas stand-in: sgemm and device pointer mode", "[emu][cublas]") {
  Handle h;
  const int m = 6, n = 5, k = 4;
  std::vector<float> a(m * k), b(k * n);
  for (int i = 0; i < m * k; ++i) a[i] = (float)(i % 7) - 3.0f;
  for (int i = 0; i < k * n; ++i) b[i] = (float)(i % 5) - 2.0f;
  DeviceBuffer da(a.size() * 4), db(b.size() * 4), dc(m * n * 4), dscal(8);
  da.upload(gpu_test::encode(DType::f32, a));
  db.upload(gpu_test::encode(DType::f32, b));
  std::vector<float> ref(m * n);
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i) {
      float s = 0;
      for (int l = 0; l < k; ++l) s += a[i + l * m] * b[l + j * k];
      ref[i + j * m] = 2.0f * s;
    }
  const float alpha = 2.0f, beta = 0.0f;
  REQUIRE(cublasSgemm(h.h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &alpha, da.as<float>(), m, db.as<float>(), k, &beta,
                      dc.as<float>(), m) == CUBLAS_STATUS_SUCCESS);
  CHECK(gpu_test::decode(DType::f32, dc.download()) == ref);

  // alpha, beta in device memory.
  dscal.upload(gpu_test::encode(DType::f32, {2.0f, 0.0f}));
  cudaMemset(dc.get(), 0xFF, dc.bytes());
  REQUIRE(cublasSetPointerMode(h.h, CUBLAS_POINTER_MODE_DEVICE) == CUBLAS_STATUS_SUCCESS);
  cublasPointerMode_t mode;
  REQUIRE(cublasGetPointerMode(h.h, &mode) == CUBLAS_STATUS_SUCCESS);
  CHECK(mode == CUBLAS_POINTER_MODE_DEVICE);
  REQUIRE(cublasGemmEx(h.h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, dscal.as<float>(), da.get(), CUDA_R_32F, m,
                       db.get(), CUDA_R_32F, k, dscal.as<float>() + 1, dc.get(), CUDA_R_32F, m, CUBLAS_COMPUTE_32F,
                       CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_SUCCESS);
  CHECK(gpu_test::decode(DType::f32, dc.download()) == ref);
  // A host scalar in device pointer mode is rejected.
  CHECK(cublasGemmEx(h.h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &alpha, da.get(), CUDA_R_32F, m, db.get(),
                     CUDA_R_32F, k, &beta, dc.get(), CUDA_R_32F, m, CUBLAS_COMPUTE_32F,
                     CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_INVALID_VALUE);
}

TEST_CASE("cublas stand-in: handle settings round-trip", "[emu][cublas]") {
  Handle h;
  cudaStream_t s = nullptr;
  REQUIRE(cudaStreamCreate(&s) == cudaSuccess);
  CHECK(cublasSetStream(h.h, s) == CUBLAS_STATUS_SUCCESS);
  cudaStream_t got = nullptr;
  CHECK(cublasGetStream(h.h, &got) == CUBLAS_STATUS_SUCCESS);
  CHECK(got == s);
  CHECK(cublasSetMathMode(h.h, CUBLAS_TF32_TENSOR_OP_MATH) == CUBLAS_STATUS_SUCCESS);
  cublasMath_t math;
  CHECK(cublasGetMathMode(h.h, &math) == CUBLAS_STATUS_SUCCESS);
  CHECK(math == CUBLAS_TF32_TENSOR_OP_MATH);
  DeviceBuffer ws(1 << 16);
  CHECK(cublasSetWorkspace(h.h, ws.get(), 1 << 16) == CUBLAS_STATUS_SUCCESS);
  CHECK(cublasSetWorkspace(h.h, ws.as<char>() + 8, 256) == CUBLAS_STATUS_INVALID_VALUE);  // misaligned
  CHECK(cublasSetWorkspace(h.h, nullptr, 0) == CUBLAS_STATUS_SUCCESS);
  CHECK(cudaStreamDestroy(s) == cudaSuccess);
  CHECK(std::string(cublasGetStatusName(CUBLAS_STATUS_NOT_SUPPORTED)) == "CUBLAS_STATUS_NOT_SUPPORTED");
  CHECK(std::string(cublasGetStatusName(CUBLAS_STATUS_INVALID_VALUE)) == "CUBLAS_STATUS_INVALID_VALUE");
  CHECK(std::string(cublasGetStatusString(CUBLAS_STATUS_SUCCESS)).size() > 0);
}

TEST_CASE("cublas stand-in: rejects what cuBLAS rejects", "[emu][cublas]") {
  Handle h;
  const int m = 8, n = 6, k = 5;
  DeviceBuffer da(64 * 64 * 4), db(64 * 64 * 4), dc(64 * 64 * 4);
  const float one = 1.0f, zero = 0.0f;
  auto gemm = [&](cublasOperation_t ta, cublasOperation_t tb, int mm, int nn, int kk, int lda, int ldb, int ldc,
                  cudaDataType at = CUDA_R_32F, cudaDataType bt = CUDA_R_32F, cudaDataType ct = CUDA_R_32F,
                  cublasComputeType_t ctype = CUBLAS_COMPUTE_32F) {
    return cublasGemmEx(h.h, ta, tb, mm, nn, kk, &one, da.get(), at, lda, db.get(), bt, ldb, &zero, dc.get(), ct,
                        ldc, ctype, CUBLAS_GEMM_DEFAULT);
  };
  const auto N = CUBLAS_OP_N, T = CUBLAS_OP_T;
  CHECK(gemm(N, N, m, n, k, m, k, m) == CUBLAS_STATUS_SUCCESS);
  // lda/ldb/ldc below the stored rows: A is m x k (N) or k x m (T); B is k x n (N) or n x k (T).
  CHECK(gemm(N, N, m, n, k, m - 1, k, m) == CUBLAS_STATUS_INVALID_VALUE);
  CHECK(gemm(T, N, m, n, k, k - 1, k, m) == CUBLAS_STATUS_INVALID_VALUE);
  CHECK(gemm(T, N, m, n, k, k, k, m) == CUBLAS_STATUS_SUCCESS);
  CHECK(gemm(N, N, m, n, k, m, k - 1, m) == CUBLAS_STATUS_INVALID_VALUE);
  CHECK(gemm(N, T, m, n, k, m, n - 1, m) == CUBLAS_STATUS_INVALID_VALUE);
  CHECK(gemm(N, T, m, n, k, m, n, m) == CUBLAS_STATUS_SUCCESS);
  CHECK(gemm(N, N, m, n, k, m, k, m - 1) == CUBLAS_STATUS_INVALID_VALUE);
  CHECK(gemm(N, N, 0, n, k, 0, k, 1) == CUBLAS_STATUS_INVALID_VALUE);  // ld >= max(1, 0)
  CHECK(gemm(N, N, 0, n, k, 1, k, 1) == CUBLAS_STATUS_SUCCESS);        // empty: no-op
  // Negative sizes, bad transpose values.
  CHECK(gemm(N, N, -1, n, k, m, k, m) == CUBLAS_STATUS_INVALID_VALUE);
  CHECK(gemm(N, N, m, -1, k, m, k, m) == CUBLAS_STATUS_INVALID_VALUE);
  CHECK(gemm(N, N, m, n, -1, m, k, m) == CUBLAS_STATUS_INVALID_VALUE);
  CHECK(gemm(CUBLAS_OP_CONJG, N, m, n, k, m, k, m) == CUBLAS_STATUS_INVALID_VALUE);
  // Unsupported type/compute combinations.
  CHECK(gemm(N, N, m, n, k, m, k, m, CUDA_R_16F, CUDA_R_16F, CUDA_R_16BF) == CUBLAS_STATUS_NOT_SUPPORTED);
  CHECK(gemm(N, N, m, n, k, m, k, m, CUDA_R_16F, CUDA_R_16BF, CUDA_R_32F) == CUBLAS_STATUS_NOT_SUPPORTED);
  CHECK(gemm(N, N, m, n, k, m, k, m, CUDA_R_32F, CUDA_R_32F, CUDA_R_16F) == CUBLAS_STATUS_NOT_SUPPORTED);
  CHECK(gemm(N, N, m, n, k, m, k, m, CUDA_R_8I, CUDA_R_8I, CUDA_R_32I) == CUBLAS_STATUS_NOT_SUPPORTED);
  CHECK(gemm(N, N, m, n, k, m, k, m, CUDA_R_64F, CUDA_R_64F, CUDA_R_64F) == CUBLAS_STATUS_NOT_SUPPORTED);
  CHECK(gemm(N, N, m, n, k, m, k, m, CUDA_R_16F, CUDA_R_16F, CUDA_R_16F, CUBLAS_COMPUTE_16F) ==
        CUBLAS_STATUS_NOT_SUPPORTED);
  CHECK(gemm(N, N, m, n, k, m, k, m, CUDA_R_16F, CUDA_R_16F, CUDA_R_32F, CUBLAS_COMPUTE_32F_FAST_TF32) ==
        CUBLAS_STATUS_NOT_SUPPORTED);
  CHECK(gemm(N, N, m, n, k, m, k, m, CUDA_R_32F, CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F_FAST_TF32) ==
        CUBLAS_STATUS_SUCCESS);
  // No handle.
  CHECK(cublasGemmEx(nullptr, N, N, m, n, k, &one, da.get(), CUDA_R_32F, m, db.get(), CUDA_R_32F, k, &zero,
                     dc.get(), CUDA_R_32F, m, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) ==
        CUBLAS_STATUS_NOT_INITIALIZED);
  // Negative batch count.
  CHECK(cublasGemmStridedBatchedEx(h.h, N, N, m, n, k, &one, da.get(), CUDA_R_32F, m, 0, db.get(), CUDA_R_32F, k, 0,
                                   &zero, dc.get(), CUDA_R_32F, m, 0, -1, CUBLAS_COMPUTE_32F,
                                   CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_INVALID_VALUE);
}

TEST_CASE("cublas stand-in: an operand past its allocation is INVALID_VALUE with a report naming it",
          "[emu][cublas]") {
  Handle h;
  const int m = 9, n = 7, k = 5;
  const float one = 1.0f, zero = 0.0f;
  // A: m x k, lda = m + 2 -> needs (k-1)*(m+2) + m elements; B: k x n; C: m x n.
  const size_t a_need = (size_t)(k - 1) * (m + 2) + m, b_need = (size_t)(n - 1) * k + k,
               c_need = (size_t)(n - 1) * m + m;
  // Exact-size raw allocations, so that one element short is really past the end.
  auto alloc = [](size_t elems) {
    void* p = nullptr;
    REQUIRE(cudaMalloc(&p, elems * 4) == cudaSuccess);
    return p;
  };
  void* a_ok = alloc(a_need);
  void* a_short = alloc(a_need - 1);
  void* b_ok = alloc(b_need);
  void* b_short = alloc(b_need - 1);
  void* c_ok = alloc(c_need);
  void* c_short = alloc(c_need - 1);
  auto gemm = [&](void* a, void* b, void* c) {
    return cublasGemmEx(h.h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &one, a, CUDA_R_32F, m + 2, b, CUDA_R_32F, k, &zero,
                        c, CUDA_R_32F, m, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  };
  CHECK(gemm(a_ok, b_ok, c_ok) == CUBLAS_STATUS_SUCCESS);
  CHECK(gemm(a_short, b_ok, c_ok) == CUBLAS_STATUS_INVALID_VALUE);
  CHECK(cuda_emu::last_report().find("operand A") != std::string::npos);
  CHECK(gemm(a_ok, b_short, c_ok) == CUBLAS_STATUS_INVALID_VALUE);
  CHECK(cuda_emu::last_report().find("operand B") != std::string::npos);
  CHECK(gemm(a_ok, b_ok, c_short) == CUBLAS_STATUS_INVALID_VALUE);
  CHECK(cuda_emu::last_report().find("operand C") != std::string::npos);
  // A pointer into the middle of an allocation that then runs off its end.
  CHECK(gemm(static_cast<float*>(a_ok) + 1, b_ok, c_ok) == CUBLAS_STATUS_INVALID_VALUE);
  CHECK(cuda_emu::last_report().find("operand A") != std::string::npos);
  // Host memory and freed memory are not device operands.
  std::vector<float> host(c_need);
  CHECK(gemm(a_ok, b_ok, host.data()) == CUBLAS_STATUS_INVALID_VALUE);
  CHECK(cuda_emu::last_report().find("operand C") != std::string::npos);
  void* freed = alloc(b_need);
  REQUIRE(cudaFree(freed) == cudaSuccess);
  CHECK(gemm(a_ok, freed, c_ok) == CUBLAS_STATUS_INVALID_VALUE);
  CHECK(cuda_emu::last_report().find("operand B") != std::string::npos);
  // The last batch of a strided batch running off the end.
  CHECK(cublasGemmStridedBatchedEx(h.h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &one, a_ok, CUDA_R_32F, m + 2, 0, b_ok,
                                   CUDA_R_32F, k, 0, &zero, c_ok, CUDA_R_32F, m, 1, 2, CUBLAS_COMPUTE_32F,
                                   CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_INVALID_VALUE);
  CHECK(cuda_emu::last_report().find("operand C") != std::string::npos);
  CHECK(cuda_emu::last_report().find("batch 1 of 2") != std::string::npos);
  for (void* p : {a_ok, a_short, b_ok, b_short, c_ok, c_short}) cudaFree(p);
}
