// cuda_emu/src/cublas_standin.cpp: the cuBLAS symbols the project calls, computed on the CPU.
//
// Linked in the emu build instead of -lcublas, so call sites are identical in both builds.
// The prototypes come from the real <cublas_v2.h>; only `struct cublasContext` is ours.
//
// Semantics kept from cuBLAS (docs.nvidia.com/cuda/cublas, "cublasGemmEx"):
//   * column-major storage; op(X) = X for CUBLAS_OP_N, X^T for CUBLAS_OP_T and CUBLAS_OP_C
//     (real types only, so C == T); CUBLAS_OP_CONJG and other values are INVALID_VALUE;
//   * C = alpha * op(A) op(B) + beta * C with op(A) m x k, op(B) k x n, C m x n;
//   * m, n, k, batchCount < 0, lda < max(1, rows of A as stored) (same for ldb, ldc) -> INVALID_VALUE;
//   * supported (computeType; Atype/Btype/Ctype) combinations, anything else NOT_SUPPORTED:
//       CUBLAS_COMPUTE_32F:            32F/32F/32F, 16F/16F/16F, 16F/16F/32F, 16BF/16BF/16BF, 16BF/16BF/32F
//       CUBLAS_COMPUTE_32F_FAST_TF32:  32F/32F/32F   (computed exactly in fp32 here: no TF32 rounding;
//                                                      a real GPU differs by ~1e-3 relative)
//   * alpha/beta are floats (COMPUTE_32F), read from host memory in CUBLAS_POINTER_MODE_HOST
//     and from (emulated) device memory in CUBLAS_POINTER_MODE_DEVICE;
//   * fp32 accumulation and ONE rounding to Ctype of alpha*acc + beta*C;
//   * beta == 0 never reads C (C may hold NaN); alpha == 0 or k == 0 never reads A or B;
//   * m == 0, n == 0 or batchCount == 0 is a successful no-op.
// Emulator strictness on top: every operand range that is read or written must lie inside one
// live cudaMalloc allocation (cuda_emu::device_range_ok); otherwise INVALID_VALUE plus a
// cuda_emu::report naming the operand. A call runs synchronously, unless the handle's stream
// captures (cuda_emu/src/graph.cpp): then it is checked and recorded, and runs (checked again) each
// time the graph is launched; in CUBLAS_POINTER_MODE_HOST alpha and beta are read at the call, as
// cuBLAS does, and kept with the recorded call. Each GEMM run counts one cublas_call
// (cuda_emu/counters.h).
//
// Speed: blocks of op(A) and op(B) are converted to fp32 scratch in their stored layout
// (contiguous reads and writes); each block product goes to OpenBLAS sgemm (fp32 accumulation)
// when CUDA_EMU_HAVE_CBLAS is defined and the block has at least 32K multiply-adds, otherwise
// to a portable loop (axpy form for op(A) = N, dot products for T).
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "cuda_emu/memory.h"
#include "emu_internal.h"

#ifdef CUDA_EMU_HAVE_CBLAS
#include <cblas.h>
#endif

struct cublasContext {
  cudaStream_t stream = nullptr;
  cublasMath_t math_mode = CUBLAS_DEFAULT_MATH;
  cublasPointerMode_t pointer_mode = CUBLAS_POINTER_MODE_HOST;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
};

namespace {

// ---------------------------------------------------------------------------
// Element conversion
// ---------------------------------------------------------------------------
enum class Elem { f32, f16, bf16 };

size_t elem_bytes(Elem e) { return e == Elem::f32 ? 4 : 2; }

const char* elem_name(Elem e) {
  switch (e) {
    case Elem::f32: return "CUDA_R_32F";
    case Elem::f16: return "CUDA_R_16F";
    default: return "CUDA_R_16BF";
  }
}

bool elem_from(cudaDataType t, Elem* out) {
  switch (t) {
    case CUDA_R_32F: *out = Elem::f32; return true;
    case CUDA_R_16F: *out = Elem::f16; return true;
    case CUDA_R_16BF: *out = Elem::bf16; return true;
    default: return false;
  }
}

// fp16 -> fp32 through a table (exact; immutable after first use, thread-safe static init).
const float* half_table() {
  static const std::vector<float> table = [] {
    std::vector<float> t(65536);
    for (uint32_t i = 0; i < 65536; ++i) {
      __half_raw raw;
      raw.x = (unsigned short)i;
      t[i] = __half2float(__half(raw));
    }
    return t;
  }();
  return table.data();
}

inline float bf16_bits_to_float(uint16_t b) {
  uint32_t u = (uint32_t)b << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Reads element `idx` of an array of type e as fp32.
inline float load_elem(const void* base, Elem e, size_t idx, const float* htab) {
  switch (e) {
    case Elem::f32: return static_cast<const float*>(base)[idx];
    case Elem::f16: return htab[static_cast<const uint16_t*>(base)[idx]];
    default: return bf16_bits_to_float(static_cast<const uint16_t*>(base)[idx]);
  }
}

// Rounds fp32 once (round to nearest even) and stores it as type e.
inline void store_elem(void* base, Elem e, size_t idx, float v) {
  switch (e) {
    case Elem::f32: static_cast<float*>(base)[idx] = v; break;
    case Elem::f16: static_cast<__half*>(base)[idx] = __float2half_rn(v); break;
    default: static_cast<__nv_bfloat16*>(base)[idx] = __float2bfloat16_rn(v); break;
  }
}

// Converts a column-major rows x cols window of type e (leading dimension ld, in elements) into
// a dense column-major fp32 array (leading dimension rows). Reads and writes are contiguous.
template <class Cvt>
void convert_columns(const uint16_t* src, size_t ld, int rows, int cols, float* dst, Cvt cvt) {
  for (int c = 0; c < cols; ++c) {
    const uint16_t* s = src + (size_t)c * ld;
    float* d = dst + (size_t)c * rows;
    for (int r = 0; r < rows; ++r) d[r] = cvt(s[r]);
  }
}

void convert_window(const void* src, Elem e, size_t ld, int rows, int cols, float* dst, const float* htab) {
  if (e == Elem::f32) {
    for (int c = 0; c < cols; ++c)
      std::memcpy(dst + (size_t)c * rows, static_cast<const float*>(src) + (size_t)c * ld, (size_t)rows * 4);
  } else if (e == Elem::f16) {
    convert_columns(static_cast<const uint16_t*>(src), ld, rows, cols, dst, [htab](uint16_t b) { return htab[b]; });
  } else {
    convert_columns(static_cast<const uint16_t*>(src), ld, rows, cols, dst, bf16_bits_to_float);
  }
}

// ---------------------------------------------------------------------------
// Block product, fp32: acc (column-major mb x nb) = op(a) * op(b), where a is the converted
// op(A) block, stored column-major mb x k when a_n (op N) or k x mb otherwise, and b is the
// converted op(B) block, stored k x nb when b_n or nb x k otherwise.
// ---------------------------------------------------------------------------
void block_product_loop(bool a_n, bool b_n, const float* a, const float* b, float* acc, int mb, int nb, int k,
                        std::vector<float>& bcol) {
  bcol.resize((size_t)k);
  for (int jj = 0; jj < nb; ++jj) {
    // Column jj of op(b), contiguous.
    const float* bj = b + (size_t)jj * k;
    if (!b_n) {
      for (int p = 0; p < k; ++p) bcol[p] = b[(size_t)jj + (size_t)p * nb];
      bj = bcol.data();
    }
    float* cj = acc + (size_t)jj * mb;
    if (a_n) {
      // Column p of op(a) is contiguous: accumulate b(p, jj) * a(:, p) into the column (vectorises).
      std::fill(cj, cj + mb, 0.0f);
      for (int p = 0; p < k; ++p) {
        const float bv = bj[p];
        const float* ap = a + (size_t)p * mb;
        for (int ii = 0; ii < mb; ++ii) cj[ii] += ap[ii] * bv;
      }
    } else {
      // Row ii of op(a) is contiguous: a dot product with four partial sums.
      for (int ii = 0; ii < mb; ++ii) {
        const float* ar = a + (size_t)ii * k;
        float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
        int p = 0;
        for (; p + 4 <= k; p += 4) {
          s0 += ar[p] * bj[p];
          s1 += ar[p + 1] * bj[p + 1];
          s2 += ar[p + 2] * bj[p + 2];
          s3 += ar[p + 3] * bj[p + 3];
        }
        for (; p < k; ++p) s0 += ar[p] * bj[p];
        cj[ii] = (s0 + s1) + (s2 + s3);
      }
    }
  }
}

void block_product(bool a_n, bool b_n, const float* a, const float* b, float* acc, int mb, int nb, int k,
                   std::vector<float>& scratch) {
#ifdef CUDA_EMU_HAVE_CBLAS
  // Below 32K multiply-adds the portable loop is as quick as a BLAS call.
  if ((int64_t)mb * nb * k >= (1 << 15)) {
    cblas_sgemm(CblasColMajor, a_n ? CblasNoTrans : CblasTrans, b_n ? CblasNoTrans : CblasTrans, mb, nb, k, 1.0f,
                a, a_n ? mb : k, b, b_n ? k : nb, 0.0f, acc, mb);
    return;
  }
#endif
  block_product_loop(a_n, b_n, a, b, acc, mb, nb, k, scratch);
}

// ---------------------------------------------------------------------------
// One GEMM: argument checks, operand bounds, blocked computation.
// ---------------------------------------------------------------------------
struct GemmArgs {
  const char* fn;  // entry point name, for reports
  cublasOperation_t ta, tb;
  int m, n, k;
  const void* alpha;
  const void* A;
  cudaDataType at;
  int lda;
  long long stride_a;
  const void* B;
  cudaDataType bt;
  int ldb;
  long long stride_b;
  const void* beta;
  void* C;
  cudaDataType ct;
  int ldc;
  long long stride_c;
  int batch;
  cublasComputeType_t compute;
  cublasGemmAlgo_t algo;
};

bool op_ok(cublasOperation_t op) {
  return op == CUBLAS_OP_N || op == CUBLAS_OP_T || op == CUBLAS_OP_C;
}

bool algo_ok(cublasGemmAlgo_t a) {
  const int v = (int)a;
  return (v >= (int)CUBLAS_GEMM_DEFAULT && v <= (int)CUBLAS_GEMM_ALGO23) ||
         (v >= (int)CUBLAS_GEMM_DEFAULT_TENSOR_OP && v <= (int)CUBLAS_GEMM_ALGO15_TENSOR_OP);
}

bool types_supported(cublasComputeType_t compute, cudaDataType at, cudaDataType bt, cudaDataType ct) {
  if (compute == CUBLAS_COMPUTE_32F_FAST_TF32)
    return at == CUDA_R_32F && bt == CUDA_R_32F && ct == CUDA_R_32F;
  if (compute != CUBLAS_COMPUTE_32F) return false;
  if (at != bt) return false;
  if (at == CUDA_R_32F) return ct == CUDA_R_32F;
  if (at == CUDA_R_16F) return ct == CUDA_R_16F || ct == CUDA_R_32F;
  if (at == CUDA_R_16BF) return ct == CUDA_R_16BF || ct == CUDA_R_32F;
  return false;
}

cublasStatus_t invalid(const std::string& msg) {
  cuda_emu::report(msg);
  return CUBLAS_STATUS_INVALID_VALUE;
}

// Checks that every batch's view of a column-major operand (rows x cols, leading dimension ld,
// `stride` elements between batches) lies inside one live device allocation.
bool operand_in_bounds(const GemmArgs& g, const char* name, const void* base, Elem e, int rows,
                       int cols, int ld, long long stride, std::string* msg) {
  if (rows == 0 || cols == 0) return true;
  const size_t es = elem_bytes(e);
  const size_t span = ((size_t)(cols - 1) * (size_t)ld + (size_t)rows) * es;
  for (int b = 0; b < g.batch; ++b) {
    const char* p = static_cast<const char*>(base) + (ptrdiff_t)((long long)b * stride * (long long)es);
    std::string why;
    if (!cuda_emu::device_range_ok(p, span, &why)) {
      std::ostringstream os;
      os << g.fn << ": operand " << name << " (" << rows << " x " << cols << " " << elem_name(e)
         << ", ld " << ld;
      if (g.batch > 1) os << ", batch " << b << " of " << g.batch << ", stride " << stride;
      os << ") needs " << span << " bytes at " << static_cast<const void*>(p) << ": " << why;
      *msg = os.str();
      return false;
    }
  }
  return true;
}

bool read_scalar(cublasPointerMode_t mode, const GemmArgs& g, const char* name, const void* p, float* out,
                 std::string* msg) {
  if (p == nullptr) {
    *msg = std::string(g.fn) + ": " + name + " is a null pointer";
    return false;
  }
  if (mode == CUBLAS_POINTER_MODE_DEVICE) {
    std::string why;
    if (!cuda_emu::device_range_ok(p, sizeof(float), &why)) {
      *msg = std::string(g.fn) + ": " + name + " (CUBLAS_POINTER_MODE_DEVICE) is not device memory: " + why;
      return false;
    }
  }
  std::memcpy(out, p, sizeof(float));
  return true;
}

// Which operands are stored transposed, and their shapes as stored (column-major).
struct GemmShape {
  bool a_n, b_n;  // op(A), op(B) is CUBLAS_OP_N
  int a_rows, a_cols, b_rows, b_cols;
};

GemmShape gemm_shape(const GemmArgs& g) {
  GemmShape s;
  s.a_n = g.ta == CUBLAS_OP_N;
  s.b_n = g.tb == CUBLAS_OP_N;
  s.a_rows = s.a_n ? g.m : g.k;
  s.a_cols = s.a_n ? g.k : g.m;
  s.b_rows = s.b_n ? g.k : g.n;
  s.b_cols = s.b_n ? g.n : g.k;
  return s;
}

// Argument checks, in cuBLAS's order: values first, then type support. On success, the element
// types of A, B and C go to *ea, *eb, *ec.
cublasStatus_t check_gemm_args(const GemmArgs& g, const GemmShape& s, Elem* ea, Elem* eb, Elem* ec) {
  if (!op_ok(g.ta) || !op_ok(g.tb))
    return invalid(std::string(g.fn) + ": transa/transb must be CUBLAS_OP_N, CUBLAS_OP_T or CUBLAS_OP_C");
  if (g.m < 0 || g.n < 0 || g.k < 0 || g.batch < 0) {
    std::ostringstream os;
    os << g.fn << ": negative size (m " << g.m << ", n " << g.n << ", k " << g.k << ", batchCount " << g.batch
       << ")";
    return invalid(os.str());
  }
  struct LdCheck {
    const char* name;
    int ld, rows;
  } const lds[] = {{"lda", g.lda, s.a_rows}, {"ldb", g.ldb, s.b_rows}, {"ldc", g.ldc, g.m}};
  for (const LdCheck& c : lds) {
    if (c.ld < std::max(1, c.rows)) {
      std::ostringstream os;
      os << g.fn << ": " << c.name << " = " << c.ld << " is less than max(1, " << c.rows
         << ") rows of the operand as stored";
      return invalid(os.str());
    }
  }
  if (!algo_ok(g.algo)) return invalid(std::string(g.fn) + ": unknown cublasGemmAlgo_t " + std::to_string((int)g.algo));
  if (!types_supported(g.compute, g.at, g.bt, g.ct) || !elem_from(g.at, ea) || !elem_from(g.bt, eb) ||
      !elem_from(g.ct, ec)) {
    std::ostringstream os;
    os << g.fn << ": unsupported combination computeType " << (int)g.compute << ", Atype " << (int)g.at
       << ", Btype " << (int)g.bt << ", Ctype " << (int)g.ct;
    cuda_emu::report(os.str());
    return CUBLAS_STATUS_NOT_SUPPORTED;
  }
  return CUBLAS_STATUS_SUCCESS;
}

// A validated GEMM's blocked computation: the arguments, the scalars read from alpha and beta,
// and the fp32 block buffers reused across blocks and batches.
struct GemmPlan {
  const GemmArgs& g;
  GemmShape s;
  Elem ea, eb, ec;
  float alpha, beta;
  bool read_ab;  // false when alpha == 0 or k == 0: A and B are not read
  const float* htab;
  int MB, NB;  // block sizes: rows of op(A), columns of op(B)
  std::vector<float> ablk, bblk, acc, scratch;
};

// Epilogue of one block: one rounding of alpha*acc + beta*C to Ctype; C is not read when beta == 0.
void store_block(GemmPlan& p, char* C, int i0, int j0, int mb, int nb) {
  for (int jj = 0; jj < nb; ++jj)
    for (int ii = 0; ii < mb; ++ii) {
      const size_t ci = (size_t)(i0 + ii) + (size_t)(j0 + jj) * p.g.ldc;
      float v = p.alpha * p.acc[(size_t)jj * mb + ii];
      if (p.beta != 0.0f) v += p.beta * load_elem(C, p.ec, ci, p.htab);
      store_elem(C, p.ec, ci, v);
    }
}

// One batch entry: C = alpha * op(A) op(B) + beta * C, block by block.
void gemm_batch_entry(GemmPlan& p, const char* A, const char* B, char* C) {
  const GemmArgs& g = p.g;
  const int m = g.m, n = g.n, k = g.k;
  const size_t esa = elem_bytes(p.ea), esb = elem_bytes(p.eb);
  for (int j0 = 0; j0 < n; j0 += p.NB) {
    const int nb = std::min(p.NB, n - j0);
    if (p.read_ab) {
      // Columns j0.. of op(B): B's columns j0.. (N, k x nb) or B's rows j0.. (T, nb x k).
      if (p.s.b_n)
        convert_window(B + (size_t)j0 * g.ldb * esb, p.eb, (size_t)g.ldb, k, nb, p.bblk.data(), p.htab);
      else
        convert_window(B + (size_t)j0 * esb, p.eb, (size_t)g.ldb, nb, k, p.bblk.data(), p.htab);
    }
    for (int i0 = 0; i0 < m; i0 += p.MB) {
      const int mb = std::min(p.MB, m - i0);
      if (p.read_ab) {
        // Rows i0.. of op(A): A's rows i0.. (N, mb x k) or A's columns i0.. (T, k x mb).
        if (p.s.a_n)
          convert_window(A + (size_t)i0 * esa, p.ea, (size_t)g.lda, mb, k, p.ablk.data(), p.htab);
        else
          convert_window(A + (size_t)i0 * g.lda * esa, p.ea, (size_t)g.lda, k, mb, p.ablk.data(), p.htab);
        block_product(p.s.a_n, p.s.b_n, p.ablk.data(), p.bblk.data(), p.acc.data(), mb, nb, k, p.scratch);
      } else {
        std::fill(p.acc.begin(), p.acc.begin() + (size_t)mb * nb, 0.0f);
      }
      store_block(p, C, i0, j0, mb, nb);
    }
  }
}

// Sizes the blocks and buffers, then runs every batch entry.
void gemm_compute(GemmPlan& p) {
  const GemmArgs& g = p.g;
  const int m = g.m, n = g.n, k = g.k;
  // Blocks: MB rows of op(A) by NB columns of op(B), each over all of k, converted to fp32 once
  // per block. The op(A) block (about 512 KiB) stays in L2 between its conversion and its product;
  // the op(B) block (about 8 MiB) is reused by every op(A) block. At least 16 rows/columns each.
  const int64_t a_budget = (int64_t)1 << 17, b_budget = (int64_t)1 << 21;  // floats
  p.MB = (int)std::min<int64_t>(m, std::max<int64_t>(16, a_budget / std::max(1, k)));
  p.NB = (int)std::min<int64_t>(n, std::max<int64_t>(16, b_budget / std::max(1, k)));
  p.ablk.resize(p.read_ab ? (size_t)k * p.MB : 0);
  p.bblk.resize(p.read_ab ? (size_t)k * p.NB : 0);
  p.acc.resize((size_t)p.MB * p.NB);
  const size_t esa = elem_bytes(p.ea), esb = elem_bytes(p.eb), esc = elem_bytes(p.ec);

  for (int q = 0; q < g.batch; ++q) {
    const char* A = static_cast<const char*>(g.A) + (ptrdiff_t)((long long)q * g.stride_a * (long long)esa);
    const char* B = static_cast<const char*>(g.B) + (ptrdiff_t)((long long)q * g.stride_b * (long long)esb);
    char* C = static_cast<char*>(g.C) + (ptrdiff_t)((long long)q * g.stride_c * (long long)esc);
    gemm_batch_entry(p, A, B, C);
  }
}

// Checks one GEMM and, when `run`, computes and counts it.
cublasStatus_t gemm_checked(cublasPointerMode_t mode, const GemmArgs& g, bool run) {
  const GemmShape s = gemm_shape(g);
  Elem ea, eb, ec;
  const cublasStatus_t checked = check_gemm_args(g, s, &ea, &eb, &ec);
  if (checked != CUBLAS_STATUS_SUCCESS) return checked;
  if (g.m == 0 || g.n == 0 || g.batch == 0) {
    if (run) cuda_emu::count(cuda_emu::Count::cublas_calls);
    return CUBLAS_STATUS_SUCCESS;
  }

  std::string msg;
  float alpha = 0.0f, beta = 0.0f;
  if (!read_scalar(mode, g, "alpha", g.alpha, &alpha, &msg) || !read_scalar(mode, g, "beta", g.beta, &beta, &msg))
    return invalid(msg);
  const bool read_ab = alpha != 0.0f && g.k > 0;
  if (read_ab && (!operand_in_bounds(g, "A", g.A, ea, s.a_rows, s.a_cols, g.lda, g.stride_a, &msg) ||
                  !operand_in_bounds(g, "B", g.B, eb, s.b_rows, s.b_cols, g.ldb, g.stride_b, &msg)))
    return invalid(msg);
  if (!operand_in_bounds(g, "C", g.C, ec, g.m, g.n, g.ldc, g.stride_c, &msg)) return invalid(msg);
  if (!run) return CUBLAS_STATUS_SUCCESS;

  cuda_emu::count(cuda_emu::Count::cublas_calls);
  GemmPlan plan{g, s, ea, eb, ec, alpha, beta, read_ab, half_table(), 0, 0, {}, {}, {}, {}};
  gemm_compute(plan);
  return CUBLAS_STATUS_SUCCESS;
}

// Checks the call, then issues it on the handle's stream (run now, or recorded by a capture).
cublasStatus_t gemm(cublasContext* h, const GemmArgs& g) {
  if (h == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  const cublasPointerMode_t mode = h->pointer_mode;
  const cublasStatus_t checked = gemm_checked(mode, g, false);
  if (checked != CUBLAS_STATUS_SUCCESS) return checked;
  // Host-mode scalars are values of the call: keep copies (the caller's may be gone at replay).
  const bool host_scalars = mode == CUBLAS_POINTER_MODE_HOST;
  float alpha = 0.0f, beta = 0.0f;
  if (host_scalars && g.alpha) std::memcpy(&alpha, g.alpha, sizeof alpha);
  if (host_scalars && g.beta) std::memcpy(&beta, g.beta, sizeof beta);
  auto op = [g, mode, host_scalars, alpha, beta](bool run) mutable -> cudaError_t {
    GemmArgs call = g;
    if (host_scalars) {
      call.alpha = g.alpha ? &alpha : nullptr;
      call.beta = g.beta ? &beta : nullptr;
    }
    return gemm_checked(mode, call, run) == CUBLAS_STATUS_SUCCESS ? cudaSuccess : cudaErrorLaunchFailure;
  };
  const cudaError_t issued = cuda_emu::issue(h->stream, g.fn, op);
  return issued == cudaSuccess ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_EXECUTION_FAILED;
}

}  // namespace

// ---------------------------------------------------------------------------
// Exported cuBLAS API
// ---------------------------------------------------------------------------
extern "C" {

cublasStatus_t CUBLASWINAPI cublasCreate_v2(cublasHandle_t* handle) {
  if (handle == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  *handle = new cublasContext();
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasDestroy_v2(cublasHandle_t handle) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasSetStream_v2(cublasHandle_t handle, cudaStream_t stream) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->stream = stream;
  // As documented: setting the stream resets the workspace to the default pool.
  handle->workspace = nullptr;
  handle->workspace_bytes = 0;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasGetStream_v2(cublasHandle_t handle, cudaStream_t* stream) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (stream == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  *stream = handle->stream;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  // Stored and reported back; results are computed in exact fp32 whatever the mode.
  handle->math_mode = mode;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasGetMathMode(cublasHandle_t handle, cublasMath_t* mode) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (mode == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  *mode = handle->math_mode;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasSetPointerMode_v2(cublasHandle_t handle, cublasPointerMode_t mode) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (mode != CUBLAS_POINTER_MODE_HOST && mode != CUBLAS_POINTER_MODE_DEVICE) return CUBLAS_STATUS_INVALID_VALUE;
  handle->pointer_mode = mode;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasGetPointerMode_v2(cublasHandle_t handle, cublasPointerMode_t* mode) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (mode == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  *mode = handle->pointer_mode;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasSetWorkspace_v2(cublasHandle_t handle, void* workspace, size_t bytes) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (workspace != nullptr) {
    // cuBLAS requires at least 256-byte alignment; the emulator also requires device memory.
    if (reinterpret_cast<uintptr_t>(workspace) % 256 != 0)
      return invalid("cublasSetWorkspace_v2: workspace pointer is not 256-byte aligned");
    std::string why;
    if (bytes > 0 && !cuda_emu::device_range_ok(workspace, bytes, &why))
      return invalid("cublasSetWorkspace_v2: workspace of " + std::to_string(bytes) +
                     " bytes is not inside one device allocation: " + why);
  }
  handle->workspace = workspace;
  handle->workspace_bytes = bytes;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa,
                                         cublasOperation_t transb, int m, int n, int k, const void* alpha,
                                         const void* A, cudaDataType Atype, int lda, const void* B,
                                         cudaDataType Btype, int ldb, const void* beta, void* C,
                                         cudaDataType Ctype, int ldc, cublasComputeType_t computeType,
                                         cublasGemmAlgo_t algo) {
  GemmArgs g{"cublasGemmEx", transa, transb, m, n, k, alpha, A, Atype, lda, 0, B, Btype, ldb, 0,
             beta, C, Ctype, ldc, 0, 1, computeType, algo};
  return gemm(handle, g);
}

cublasStatus_t CUBLASWINAPI cublasGemmStridedBatchedEx(
    cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k,
    const void* alpha, const void* A, cudaDataType Atype, int lda, long long int strideA, const void* B,
    cudaDataType Btype, int ldb, long long int strideB, const void* beta, void* C, cudaDataType Ctype,
    int ldc, long long int strideC, int batchCount, cublasComputeType_t computeType, cublasGemmAlgo_t algo) {
  GemmArgs g{"cublasGemmStridedBatchedEx", transa, transb, m, n, k, alpha, A, Atype, lda, strideA, B, Btype,
             ldb, strideB, beta, C, Ctype, ldc, strideC, batchCount, computeType, algo};
  return gemm(handle, g);
}

cublasStatus_t CUBLASWINAPI cublasSgemm_v2(cublasHandle_t handle, cublasOperation_t transa,
                                           cublasOperation_t transb, int m, int n, int k, const float* alpha,
                                           const float* A, int lda, const float* B, int ldb, const float* beta,
                                           float* C, int ldc) {
  GemmArgs g{"cublasSgemm_v2", transa, transb, m, n, k, alpha, A, CUDA_R_32F, lda, 0, B, CUDA_R_32F, ldb,
             0, beta, C, CUDA_R_32F, ldc, 0, 1, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT};
  return gemm(handle, g);
}

const char* CUBLASWINAPI cublasGetStatusName(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
  }
  return "CUBLAS_STATUS_UNKNOWN";
}

const char* CUBLASWINAPI cublasGetStatusString(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "success";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized (null handle)";
    case CUBLAS_STATUS_ALLOC_FAILED: return "resource allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "an invalid value was passed to the function";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "the device does not support the requested feature";
    case CUBLAS_STATUS_MAPPING_ERROR: return "access to device memory failed";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "the GPU program failed to execute";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "an internal operation failed";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "the requested functionality is not supported";
    case CUBLAS_STATUS_LICENSE_ERROR: return "license error";
  }
  return "unknown cuBLAS status";
}

}  // extern "C"
