// cuda_emu/device.h: CUDA device built-ins for a host compiler.
//
// Included (through kernels/common/cuda_compat.cuh) when a .cu file is compiled
// by g++/clang instead of nvcc. It maps threadIdx/blockIdx/blockDim/gridDim,
// __shared__, __syncthreads, warp collectives, atomics and the fast-math
// intrinsics onto the SIMT emulator in cuda_emu/src. The real CUDA headers
// provide dim3, __half, __nv_bfloat16 and the runtime API prototypes.
//
// Only two spellings differ from plain CUDA (see kernels/common/cuda_compat.cuh):
//   LAUNCH_KERNEL(kernel, grid, block, smem, stream, args...)   instead of <<<...>>>
//   DYNAMIC_SHARED(type, name)                                   instead of extern __shared__
#pragma once
#ifdef __CUDACC__
#error "cuda_emu/device.h is for host compilers; nvcc uses the real built-ins"
#endif

#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <cuda_bf16.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>

#include "cuda_emu/memory.h"

namespace cuda_emu {

struct BlockState;  // engine-private

// Per emulated thread: what the CUDA built-in variables return.
struct ThreadCtx {
  uint3 thread_idx;
  uint3 block_idx;
  dim3 block_dim;
  dim3 grid_dim;
  unsigned linear = 0;  // linear thread index in the block
  unsigned lane = 0;    // linear % 32
  unsigned warp = 0;    // linear / 32
  char* dyn_smem = nullptr;
  BlockState* block = nullptr;
};

// The emulated thread running on this OS thread (fiber engine: switched on
// every fiber switch; thread engine: one OS thread per emulated thread).
inline thread_local ThreadCtx* tls_ctx = nullptr;

inline ThreadCtx& ctx() { return *tls_ctx; }

// Block-wide barrier over the block's live threads (a thread that returned
// has left it, as PTX `exit` does).
void syncthreads(const char* file, int line);

enum class WarpOp : int { shfl = 1, ballot, any, all, sync, gather };

// One warp collective: every lane in `mask` must call it; returns this lane's
// result (the value of lane src for shfl, the vote for ballot/any/all).
uint64_t warp_collective(WarpOp op, unsigned mask, uint64_t value, int src_lane,
                         const char* file, int line);
unsigned active_mask();
inline void syncwarp(const char* file, int line, unsigned mask = 0xffffffffu) {
  warp_collective(WarpOp::sync, mask, 0, 0, file, line);
}

// Every lane of `mask` publishes `mine`; returns the 32 lanes' published values (0 for lanes outside
// the mask), valid until this lane's next warp collective. Emulator only, with no CUDA counterpart:
// one collective where 32 shuffles would move the same values, for emulated warp-wide instructions
// (the tensor-core product of kernels/common/mma.cuh publishes a pointer to each lane's fragments).
inline const uint64_t* warp_gather(unsigned mask, uint64_t mine, const char* file, int line) {
  return reinterpret_cast<const uint64_t*>(warp_collective(WarpOp::gather, mask, mine, 0, file, line));
}

template <class T>
T shfl_from(unsigned mask, T v, int src, const char* file, int line) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value,
                "warp shuffles move at most 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  bits = warp_collective(WarpOp::shfl, mask, bits, src, file, line);
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}

template <class T>
T shfl_sync(const char* f, int l, unsigned mask, T v, int src_lane, int width = 32) {
  int lane = (int)ctx().lane;
  int base = lane & ~(width - 1);
  return shfl_from(mask, v, base + (src_lane & (width - 1)), f, l);
}
template <class T>
T shfl_xor_sync(const char* f, int l, unsigned mask, T v, int lane_mask, int width = 32) {
  int lane = (int)ctx().lane;
  int src = lane ^ lane_mask;
  if ((src & ~(width - 1)) > (lane & ~(width - 1))) src = lane;  // later group: own value
  return shfl_from(mask, v, src, f, l);
}
template <class T>
T shfl_down_sync(const char* f, int l, unsigned mask, T v, unsigned delta, int width = 32) {
  int lane = (int)ctx().lane;
  int src = ((lane & (width - 1)) + (int)delta < width) ? lane + (int)delta : lane;
  return shfl_from(mask, v, src, f, l);
}
template <class T>
T shfl_up_sync(const char* f, int l, unsigned mask, T v, unsigned delta, int width = 32) {
  int lane = (int)ctx().lane;
  int src = ((lane & (width - 1)) >= (int)delta) ? lane - (int)delta : lane;
  return shfl_from(mask, v, src, f, l);
}

// ---- launch ---------------------------------------------------------------
struct LaunchConfig {
  const char* name;
  const void* func;
  dim3 grid;
  dim3 block;
  size_t smem;
  cudaStream_t stream;
};

// Checks the configuration as a GPU would; on failure sets the error that
// cudaGetLastError returns and returns false.
bool validate_launch(const LaunchConfig& cfg);
// A pointer kernel argument must be null or inside a live device allocation.
bool check_pointer_arg(const LaunchConfig& cfg, int index, const void* p);
// Runs every block of the grid, each thread calling thunk(arg).
void run_grid(const LaunchConfig& cfg, void (*thunk)(void*), void* arg);
// Name of the engine that runs kernels: "fiber" or "threads".
const char* engine_name();

template <class T>
bool check_arg(const LaunchConfig& cfg, int index, const T& v) {
  if constexpr (std::is_pointer<T>::value) {
    return check_pointer_arg(cfg, index, (const void*)v);
  } else {
    return true;
  }
}

// Runs a launch now, or records it when cfg.stream captures (graph.cpp):
// op(false) checks the launch, op(true) checks and runs it. Errors go to
// cudaGetLastError, as a launch's do.
void submit_launch(const LaunchConfig& cfg, std::function<cudaError_t(bool run)> op);
// The checks and the grid of one launch; counts it when it runs.
cudaError_t checked_launch(const LaunchConfig& cfg, bool run, bool args_ok, void (*thunk)(void*), void* arg);

template <class... KArgs, class... Args>
void launch(const char* name, void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem,
            cudaStream_t stream, Args&&... args) {
  static_assert(sizeof...(KArgs) == sizeof...(Args), "wrong number of kernel arguments");
  using Params = std::tuple<std::decay_t<KArgs>...>;
  // Arguments are converted and copied once, as a kernel launch does (a graph
  // keeps this copy); every thread then receives its own copy (kernels may
  // modify their parameters).
  Params params{std::decay_t<KArgs>(std::forward<Args>(args))...};
  LaunchConfig cfg{name, (const void*)kernel, grid, block, smem, stream};
  submit_launch(cfg, [cfg, kernel, params](bool run) -> cudaError_t {
    // Pointer arguments are checked only once the configuration is valid.
    bool ok = validate_launch(cfg);
    int index = 0;
    if (ok) std::apply([&](const auto&... p) { ((ok = check_arg(cfg, index++, p) && ok), ...); }, params);
    struct Call {
      void (*kernel)(KArgs...);
      const Params* params;
    } call{kernel, &params};
    return checked_launch(cfg, run, ok, [](void* a) {
      auto* c = static_cast<Call*>(a);
      std::apply(c->kernel, *c->params);
    }, &call);
  });
}

// ---- atomics (GCC builtins: exact under the fiber engine, seen by TSan) ----
template <class T>
T atomic_add_float(T* p, T v) {
  using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  U* up = reinterpret_cast<U*>(p);
  U old = __atomic_load_n(up, __ATOMIC_RELAXED);
  for (;;) {
    T f;
    std::memcpy(&f, &old, sizeof(T));
    T n = f + v;
    U nb;
    std::memcpy(&nb, &n, sizeof(T));
    if (__atomic_compare_exchange_n(up, &old, nb, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
      return f;
  }
}

}  // namespace cuda_emu

// ---- built-in variables ---------------------------------------------------
#define threadIdx (::cuda_emu::tls_ctx->thread_idx)
#define blockIdx (::cuda_emu::tls_ctx->block_idx)
#define blockDim (::cuda_emu::tls_ctx->block_dim)
#define gridDim (::cuda_emu::tls_ctx->grid_dim)
static constexpr int warpSize = 32;

// __shared__ variables live once per kernel instantiation; blocks run one after
// another, so static storage has the right sharing. (Blind spot: its contents
// persist between blocks; dynamic shared memory is poisoned per block.)
#undef __shared__
#define __shared__ static
#ifndef __launch_bounds__
#define __launch_bounds__(...)
#endif

// ---- synchronisation and warp collectives ----------------------------------
#define __syncthreads() ::cuda_emu::syncthreads(__FILE__, __LINE__)
#define __syncwarp(...) ::cuda_emu::syncwarp(__FILE__, __LINE__, ##__VA_ARGS__)
#define __shfl_sync(...) ::cuda_emu::shfl_sync(__FILE__, __LINE__, __VA_ARGS__)
#define __shfl_xor_sync(...) ::cuda_emu::shfl_xor_sync(__FILE__, __LINE__, __VA_ARGS__)
#define __shfl_down_sync(...) ::cuda_emu::shfl_down_sync(__FILE__, __LINE__, __VA_ARGS__)
#define __shfl_up_sync(...) ::cuda_emu::shfl_up_sync(__FILE__, __LINE__, __VA_ARGS__)
#define __ballot_sync(mask, pred) ((unsigned)::cuda_emu::warp_collective( \
    ::cuda_emu::WarpOp::ballot, (mask), (pred) ? 1 : 0, 0, __FILE__, __LINE__))
#define __any_sync(mask, pred) ((int)::cuda_emu::warp_collective( \
    ::cuda_emu::WarpOp::any, (mask), (pred) ? 1 : 0, 0, __FILE__, __LINE__))
#define __all_sync(mask, pred) ((int)::cuda_emu::warp_collective( \
    ::cuda_emu::WarpOp::all, (mask), (pred) ? 1 : 0, 0, __FILE__, __LINE__))
// Lanes of the warp that have not exited. Blind spot: emulated lanes run in
// turn, so lanes that already returned are missing even where a GPU would
// still run them converged; kernels should pass explicit masks.
inline unsigned __activemask() { return ::cuda_emu::active_mask(); }
inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

// ---- atomics --------------------------------------------------------------
inline int atomicAdd(int* p, int v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
inline unsigned atomicAdd(unsigned* p, unsigned v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) {
  return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
}
inline float atomicAdd(float* p, float v) { return ::cuda_emu::atomic_add_float(p, v); }
inline double atomicAdd(double* p, double v) { return ::cuda_emu::atomic_add_float(p, v); }
inline int atomicSub(int* p, int v) { return __atomic_fetch_sub(p, v, __ATOMIC_SEQ_CST); }
inline unsigned atomicSub(unsigned* p, unsigned v) { return __atomic_fetch_sub(p, v, __ATOMIC_SEQ_CST); }
inline int atomicExch(int* p, int v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
inline unsigned atomicExch(unsigned* p, unsigned v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
inline float atomicExch(float* p, float v) {
  uint32_t b;
  std::memcpy(&b, &v, 4);
  b = __atomic_exchange_n(reinterpret_cast<uint32_t*>(p), b, __ATOMIC_SEQ_CST);
  float r;
  std::memcpy(&r, &b, 4);
  return r;
}
inline int atomicCAS(int* p, int cmp, int v) {
  __atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return cmp;
}
inline unsigned atomicCAS(unsigned* p, unsigned cmp, unsigned v) {
  __atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return cmp;
}
inline unsigned long long atomicCAS(unsigned long long* p, unsigned long long cmp,
                                    unsigned long long v) {
  __atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return cmp;
}
template <class T>
inline T atomic_minmax_(T* p, T v, bool is_max) {
  T old = __atomic_load_n(p, __ATOMIC_RELAXED);
  while ((is_max ? v > old : v < old) &&
         !__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
  }
  return old;
}
inline int atomicMax(int* p, int v) { return atomic_minmax_(p, v, true); }
inline unsigned atomicMax(unsigned* p, unsigned v) { return atomic_minmax_(p, v, true); }
inline int atomicMin(int* p, int v) { return atomic_minmax_(p, v, false); }
inline unsigned atomicMin(unsigned* p, unsigned v) { return atomic_minmax_(p, v, false); }
inline int atomicAnd(int* p, int v) { return __atomic_fetch_and(p, v, __ATOMIC_SEQ_CST); }
inline unsigned atomicAnd(unsigned* p, unsigned v) { return __atomic_fetch_and(p, v, __ATOMIC_SEQ_CST); }
inline int atomicOr(int* p, int v) { return __atomic_fetch_or(p, v, __ATOMIC_SEQ_CST); }
inline unsigned atomicOr(unsigned* p, unsigned v) { return __atomic_fetch_or(p, v, __ATOMIC_SEQ_CST); }

// ---- math intrinsics ------------------------------------------------------
// glibc declares __expf/__logf (extern "C", noexcept) without exporting them.
extern "C" inline float __expf(float x) noexcept { return ::expf(x); }
extern "C" inline float __logf(float x) noexcept { return ::logf(x); }
inline float __powf(float a, float b) { return ::powf(a, b); }
inline float __sinf(float x) { return ::sinf(x); }
inline float __cosf(float x) { return ::cosf(x); }
inline float __tanf(float x) { return ::tanf(x); }
inline float __exp10f(float x) { return ::powf(10.0f, x); }
inline float __log2f(float x) { return ::log2f(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return ::sqrtf(x); }
inline float __fmaf_rn(float a, float b, float c) { return ::fmaf(a, b, c); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
inline float rsqrtf(float x) { return 1.0f / ::sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / ::sqrt(x); }
inline unsigned __float_as_uint(float x) { unsigned u; std::memcpy(&u, &x, 4); return u; }
inline int __float_as_int(float x) { int u; std::memcpy(&u, &x, 4); return u; }
inline float __uint_as_float(unsigned u) { float x; std::memcpy(&x, &u, 4); return x; }
inline float __int_as_float(int u) { float x; std::memcpy(&x, &u, 4); return x; }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned)x); }
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline float min(float a, float b) { return ::fminf(a, b); }
inline float max(float a, float b) { return ::fmaxf(a, b); }
template <class T>
inline T __ldg(const T* p) { return *p; }

// Half-precision helpers that cuda_fp16.hpp / cuda_bf16.hpp provide only for
// device code.
inline __half hexp(__half x) { return __float2half(::expf(__half2float(x))); }
inline __half hrsqrt(__half x) { return __float2half(1.0f / ::sqrtf(__half2float(x))); }
