// Tests that the SIMT emulator (cuda_emu/) runs CUDA kernels with CUDA's
// semantics and fails loudly where a GPU would misbehave.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "emu/child_process.h"
#include "kernels/common/cuda_compat.cuh"

namespace {

// ---- kernels under test -----------------------------------------------------

// Sum of each row of x [rows, n]: every warp reduces with shuffles, lane 0
// parks the warp's partial in shared memory, then ONLY warp 0 shuffles the
// partials. One block per row; blockDim a multiple of 32.
__global__ void block_sum_kernel(const float* x, int n, float* out) {
  __shared__ float partial[32];
  const float* row = x + (size_t)blockIdx.x * n;
  float v = 0.0f;
  for (int i = threadIdx.x; i < n; i += blockDim.x) v += row[i];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nwarps = blockDim.x / 32;
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    float p = lane < nwarps ? partial[lane] : 0.0f;
    for (int o = 16; o > 0; o >>= 1) p += __shfl_down_sync(0xffffffffu, p, o);
    if (lane == 0) out[blockIdx.x] = p;
  }
}

// Every warp collective flavour; out has 10 values per thread.
__global__ void warp_ops_kernel(int* out) {
  const int lane = threadIdx.x % 32;
  int* o = out + threadIdx.x * 10;
  o[0] = __shfl_sync(0xffffffffu, lane * 10, (lane * 7) % 32);
  o[1] = __shfl_sync(0xffffffffu, lane * 10, 3, 8);
  o[2] = __shfl_xor_sync(0xffffffffu, lane * 10, 3, 16);
  o[3] = __shfl_down_sync(0xffffffffu, lane * 10, 5);
  o[4] = __shfl_up_sync(0xffffffffu, lane * 10, 3, 8);
  o[5] = (int)__ballot_sync(0xffffffffu, lane % 3 == 0);
  o[6] = __any_sync(0xffffffffu, lane == 17);
  o[7] = __all_sync(0xffffffffu, lane < 40);
  o[8] = __all_sync(0xffffffffu, lane < 31);
  __syncwarp();
  o[9] = (int)__activemask();
}

// warp_gather (the emulator's own collective, for emulated warp-wide instructions): every lane of
// the mask publishes lane * 100, then lane + 7 (the odd lanes of the second warp are outside its
// mask: they return at once and read 0 for each other). out: 64 values a thread.
__global__ void warp_gather_kernel(int64_t* out) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const unsigned mask = warp == 0 ? 0xffffffffu : 0x55555555u;
  if (!((mask >> lane) & 1u)) return;
  int64_t* o = out + threadIdx.x * 64;
  const uint64_t* first = ::cuda_emu::warp_gather(mask, (uint64_t)(lane * 100), __FILE__, __LINE__);
  for (int l = 0; l < 32; ++l) o[l] = (int64_t)first[l];
  const uint64_t* second = ::cuda_emu::warp_gather(mask, (uint64_t)(lane + 7), __FILE__, __LINE__);
  for (int l = 0; l < 32; ++l) o[32 + l] = (int64_t)second[l];
}

// Threads past n return at once; the rest still meet at __syncthreads.
__global__ void early_exit_kernel(const float* x, int n, float* out) {
  __shared__ float buf[256];
  if ((int)threadIdx.x >= n) return;
  buf[threadIdx.x] = x[threadIdx.x];
  __syncthreads();
  out[threadIdx.x] = buf[n - 1 - threadIdx.x];
}

__global__ void indices_kernel(int* out) {
  const int block = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const int thread = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  const int nthreads = blockDim.x * blockDim.y * blockDim.z;
  out[block * nthreads + thread] = block * 100000 + thread;
}

__global__ void atomics_kernel(float* fsum, int* imax, unsigned* count) {
  atomicAdd(fsum, 1.0f);
  atomicMax(imax, (int)(blockIdx.x * blockDim.x + threadIdx.x));
  atomicAdd(count, 1u);
}

__global__ void dynamic_smem_kernel(float* out) {
  DYNAMIC_SHARED(float, smem);
  out[threadIdx.x] = smem[threadIdx.x];  // read before any write: poison
}

__global__ void copy_kernel(const float* in, float* out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = in[i];
}

// Lanes 0-15 of warp 1 wait at the block barrier while lanes 16-31 wait at a
// full-warp shuffle that needs lanes 0-15: a deadlock on any GPU.
__global__ void deadlock_kernel(float* out) {
  if (threadIdx.x >= 32 && threadIdx.x < 48) {
    __syncthreads();
  } else if (threadIdx.x >= 48) {
    out[threadIdx.x] = __shfl_sync(0xffffffffu, 1.0f, 0);
  } else {
    __syncthreads();
  }
}

__global__ void bad_mask_kernel(float* out) {
  // lane 5 calls a shuffle whose mask does not name it
  out[threadIdx.x] = __shfl_sync(threadIdx.x == 5 ? 0x1u : 0xffffffffu, 1.0f, 0);
}

template <class T>
T* device_copy(const std::vector<T>& h) {
  T* d = nullptr;
  REQUIRE(cudaMalloc(&d, h.size() * sizeof(T)) == cudaSuccess);
  REQUIRE(cudaMemcpy(d, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice) == cudaSuccess);
  return d;
}
template <class T>
std::vector<T> host_copy(const T* d, size_t n) {
  std::vector<T> h(n);
  REQUIRE(cudaMemcpy(h.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost) == cudaSuccess);
  return h;
}

}  // namespace

TEST_CASE("emu: block reduction where only warp 0 shuffles the partials", "[emu]") {
  const uint32_t seed = 1234;
  CAPTURE(seed, cuda_emu::engine_name());
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (int n : {1, 31, 200, 1000, 4099}) {
    for (int threads : {32, 96, 224, 1024}) {
      CAPTURE(n, threads);
      const int rows = 3;
      std::vector<float> x(rows * n);
      for (auto& v : x) v = dist(rng);
      float* dx = device_copy(x);
      float* dout = nullptr;
      REQUIRE(cudaMalloc(&dout, rows * sizeof(float)) == cudaSuccess);
      LAUNCH_KERNEL(block_sum_kernel, dim3(rows), dim3(threads), 0, nullptr, dx, n, dout);
      REQUIRE(cudaGetLastError() == cudaSuccess);
      auto out = host_copy(dout, rows);
      for (int r = 0; r < rows; ++r) {
        double ref = 0;
        for (int i = 0; i < n; ++i) ref += x[r * n + i];
        REQUIRE(std::fabs(out[r] - ref) <= 1e-5 * (1.0 + std::sqrt((double)n)));
      }
      cudaFree(dx);
      cudaFree(dout);
    }
  }
}

TEST_CASE("emu: warp shuffles, votes and masks follow CUDA's definitions", "[emu]") {
  const int threads = 64;
  int* d = nullptr;
  REQUIRE(cudaMalloc(&d, threads * 10 * sizeof(int)) == cudaSuccess);
  LAUNCH_KERNEL(warp_ops_kernel, dim3(1), dim3(threads), 0, nullptr, d);
  REQUIRE(cudaGetLastError() == cudaSuccess);
  auto out = host_copy(d, threads * 10);
  unsigned ballot = 0;
  for (int l = 0; l < 32; ++l)
    if (l % 3 == 0) ballot |= 1u << l;
  for (int t = 0; t < threads; ++t) {
    const int lane = t % 32;
    const int* o = &out[t * 10];
    CAPTURE(t);
    CHECK(o[0] == ((lane * 7) % 32) * 10);
    CHECK(o[1] == ((lane / 8) * 8 + 3) * 10);
    CHECK(o[2] == (lane ^ 3) * 10);
    CHECK(o[3] == (lane + 5 < 32 ? lane + 5 : lane) * 10);
    CHECK(o[4] == ((lane % 8) >= 3 ? lane - 3 : lane) * 10);
    CHECK((unsigned)o[5] == ballot);
    CHECK(o[6] == 1);
    CHECK(o[7] == 1);
    CHECK(o[8] == 0);
    CHECK(((unsigned)o[9] >> lane) & 1u);  // (lanes run in turn: see device.h)
  }
  cudaFree(d);
}

TEST_CASE("emu: warp_gather gives every lane of the mask each lane's published value", "[emu]") {
  const int threads = 64;
  int64_t* d = nullptr;
  REQUIRE(cudaMalloc(&d, threads * 64 * sizeof(int64_t)) == cudaSuccess);
  REQUIRE(cudaMemset(d, 0xff, threads * 64 * sizeof(int64_t)) == cudaSuccess);
  LAUNCH_KERNEL(warp_gather_kernel, dim3(1), dim3(threads), 0, nullptr, d);
  REQUIRE(cudaGetLastError() == cudaSuccess);
  const std::vector<int64_t> out = host_copy(d, threads * 64);
  for (int t = 0; t < threads; ++t) {
    const int lane = t % 32, warp = t / 32;
    CAPTURE(t);
    const int64_t* o = &out[t * 64];
    if (warp == 1 && lane % 2 == 1) {  // outside the mask: returned at once, wrote nothing
      CHECK(o[0] == -1);
      continue;
    }
    for (int l = 0; l < 32; ++l) {
      CAPTURE(l);
      const bool in_mask = warp == 0 || l % 2 == 0;
      CHECK(o[l] == (in_mask ? l * 100 : 0));
      CHECK(o[32 + l] == (in_mask ? l + 7 : 0));
    }
  }
  cudaFree(d);
}

TEST_CASE("emu: threads that return early leave the block barrier", "[emu]") {
  const int n = 100;
  std::vector<float> x(n);
  for (int i = 0; i < n; ++i) x[i] = (float)i;
  float* dx = device_copy(x);
  float* dout = nullptr;
  REQUIRE(cudaMalloc(&dout, n * sizeof(float)) == cudaSuccess);
  LAUNCH_KERNEL(early_exit_kernel, dim3(1), dim3(256), 0, nullptr, dx, n, dout);
  REQUIRE(cudaGetLastError() == cudaSuccess);
  auto out = host_copy(dout, n);
  for (int i = 0; i < n; ++i) CHECK(out[i] == (float)(n - 1 - i));
  cudaFree(dx);
  cudaFree(dout);
}

TEST_CASE("emu: 3-D grid and block indices", "[emu]") {
  const dim3 grid(3, 2, 2), block(5, 3, 2);
  const int nb = 12, nt = 30;
  int* d = nullptr;
  REQUIRE(cudaMalloc(&d, nb * nt * sizeof(int)) == cudaSuccess);
  LAUNCH_KERNEL(indices_kernel, grid, block, 0, nullptr, d);
  REQUIRE(cudaGetLastError() == cudaSuccess);
  auto out = host_copy(d, nb * nt);
  for (int b = 0; b < nb; ++b)
    for (int t = 0; t < nt; ++t) REQUIRE(out[b * nt + t] == b * 100000 + t);
  cudaFree(d);
}

TEST_CASE("emu: atomics from every thread of several blocks", "[emu]") {
  float* f = nullptr;
  int* m = nullptr;
  unsigned* c = nullptr;
  REQUIRE(cudaMalloc(&f, sizeof(float)) == cudaSuccess);
  REQUIRE(cudaMalloc(&m, sizeof(int)) == cudaSuccess);
  REQUIRE(cudaMalloc(&c, sizeof(unsigned)) == cudaSuccess);
  REQUIRE(cudaMemset(f, 0, sizeof(float)) == cudaSuccess);
  REQUIRE(cudaMemset(m, 0, sizeof(int)) == cudaSuccess);
  REQUIRE(cudaMemset(c, 0, sizeof(unsigned)) == cudaSuccess);
  LAUNCH_KERNEL(atomics_kernel, dim3(4), dim3(256), 0, nullptr, f, m, c);
  REQUIRE(cudaGetLastError() == cudaSuccess);
  CHECK(host_copy(f, 1)[0] == 1024.0f);
  CHECK(host_copy(m, 1)[0] == 1023);
  CHECK(host_copy(c, 1)[0] == 1024u);
  cudaFree(f);
  cudaFree(m);
  cudaFree(c);
}

TEST_CASE("emu: fresh device memory and dynamic shared memory hold NaN bytes", "[emu]") {
  float* d = nullptr;
  REQUIRE(cudaMalloc(&d, 64 * sizeof(float)) == cudaSuccess);
  auto raw = host_copy(d, 64);
  for (float v : raw) CHECK(std::isnan(v));
  std::vector<__half> h(8);
  std::vector<__nv_bfloat16> b(8);
  REQUIRE(cudaMemcpy(h.data(), d, sizeof(__half) * 8, cudaMemcpyDeviceToHost) == cudaSuccess);
  REQUIRE(cudaMemcpy(b.data(), d, sizeof(__nv_bfloat16) * 8, cudaMemcpyDeviceToHost) == cudaSuccess);
  for (auto v : h) CHECK(std::isnan(__half2float(v)));
  for (auto v : b) CHECK(std::isnan(__bfloat162float(v)));

  REQUIRE(cudaMemset(d, 0, 64 * sizeof(float)) == cudaSuccess);
  LAUNCH_KERNEL(dynamic_smem_kernel, dim3(2), dim3(64), 64 * sizeof(float), nullptr, d);
  REQUIRE(cudaGetLastError() == cudaSuccess);
  for (float v : host_copy(d, 64)) CHECK(std::isnan(v));
  cudaFree(d);
}

TEST_CASE("emu: invalid launch configurations are reported by cudaGetLastError", "[emu]") {
  float* d = nullptr;
  REQUIRE(cudaMalloc(&d, 2048 * sizeof(float)) == cudaSuccess);
  REQUIRE(cudaMemset(d, 0, 2048 * sizeof(float)) == cudaSuccess);
  LAUNCH_KERNEL(copy_kernel, dim3(1), dim3(1025), 0, nullptr, d, d, 4);
  CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
  LAUNCH_KERNEL(copy_kernel, dim3(1), dim3(32, 32, 2), 0, nullptr, d, d, 4);
  CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
  LAUNCH_KERNEL(copy_kernel, dim3(0), dim3(32), 0, nullptr, d, d, 4);
  CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
  LAUNCH_KERNEL(copy_kernel, dim3(1, 70000), dim3(32), 0, nullptr, d, d, 4);
  CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
  CHECK(cudaGetLastError() == cudaSuccess);  // the error was cleared by the read

  // Over 48 KiB of dynamic shared memory needs the opt-in attribute.
  LAUNCH_KERNEL(dynamic_smem_kernel, dim3(1), dim3(32), 64 * 1024, nullptr, d);
  CHECK(cudaGetLastError() == cudaErrorInvalidValue);
  REQUIRE(cudaFuncSetAttribute((const void*)dynamic_smem_kernel,
                               cudaFuncAttributeMaxDynamicSharedMemorySize, 64 * 1024) == cudaSuccess);
  LAUNCH_KERNEL(dynamic_smem_kernel, dim3(1), dim3(32), 64 * 1024, nullptr, d);
  CHECK(cudaGetLastError() == cudaSuccess);
  CHECK(cudaFuncSetAttribute((const void*)dynamic_smem_kernel,
                             cudaFuncAttributeMaxDynamicSharedMemorySize, 300 * 1024) == cudaErrorInvalidValue);
  cudaGetLastError();
  cudaFree(d);
}

TEST_CASE("emu: host and freed pointers passed to a kernel are rejected", "[emu]") {
  std::vector<float> host(64, 1.0f);
  float* d = nullptr;
  REQUIRE(cudaMalloc(&d, 64 * sizeof(float)) == cudaSuccess);
  REQUIRE(cudaMemset(d, 0, 64 * sizeof(float)) == cudaSuccess);

  LAUNCH_KERNEL(copy_kernel, dim3(1), dim3(64), 0, nullptr, host.data(), d, 64);
  CHECK(cudaGetLastError() == cudaErrorIllegalAddress);
  CHECK(cuda_emu::last_report().find("argument 0") != std::string::npos);
  for (float v : host_copy(d, 64)) CHECK(v == 0.0f);  // the kernel did not run

  float* gone = nullptr;
  REQUIRE(cudaMalloc(&gone, 64 * sizeof(float)) == cudaSuccess);
  REQUIRE(cudaFree(gone) == cudaSuccess);
  LAUNCH_KERNEL(copy_kernel, dim3(1), dim3(64), 0, nullptr, d, gone, 64);
  CHECK(cudaGetLastError() == cudaErrorIllegalAddress);
  CHECK(cuda_emu::last_report().find("freed") != std::string::npos);
  CHECK(cudaFree(gone) == cudaErrorInvalidValue);  // double free
  cudaGetLastError();
  cudaFree(d);
}

TEST_CASE("emu: copies outside an allocation are rejected", "[emu]") {
  float* d = nullptr;
  REQUIRE(cudaMalloc(&d, 10 * sizeof(float)) == cudaSuccess);
  std::vector<float> h(11, 0.0f);
  CHECK(cudaMemcpy(d, h.data(), 11 * sizeof(float), cudaMemcpyHostToDevice) == cudaErrorInvalidValue);
  CHECK(cuda_emu::last_report().find("runs past its allocation") != std::string::npos);
  CHECK(cudaMemcpy(d + 1, h.data(), 10 * sizeof(float), cudaMemcpyHostToDevice) == cudaErrorInvalidValue);
  CHECK(cudaMemcpy(h.data(), h.data() + 1, 4, cudaMemcpyDeviceToHost) == cudaErrorInvalidValue);
  CHECK(cudaMemcpy(d, h.data(), 10 * sizeof(float), cudaMemcpyHostToDevice) == cudaSuccess);
  CHECK(cudaMemset(d, 0, 41) == cudaErrorInvalidValue);
  cudaGetLastError();
  cudaFree(d);
}

TEST_CASE("emu: device memory accounting and out-of-memory", "[emu]") {
  size_t free0 = 0, total = 0;
  REQUIRE(cudaMemGetInfo(&free0, &total) == cudaSuccess);
  void* p = nullptr;
  REQUIRE(cudaMalloc(&p, 1 << 20) == cudaSuccess);
  size_t free1 = 0;
  REQUIRE(cudaMemGetInfo(&free1, &total) == cudaSuccess);
  CHECK(free0 - free1 == (1u << 20));
  void* huge = nullptr;
  CHECK(cudaMalloc(&huge, total + 1) == cudaErrorMemoryAllocation);
  CHECK(huge == nullptr);
  cudaGetLastError();
  cudaFree(p);
}

TEST_CASE("emu: a deadlock is reported with where each thread waits", "[emu][death]") {
  auto r = run_in_child([] {
    float* d = nullptr;
    cudaMalloc(&d, 64 * sizeof(float));
    LAUNCH_KERNEL(deadlock_kernel, dim3(1), dim3(64), 0, nullptr, d);
  });
  CAPTURE(r.err);
  CHECK_FALSE(r.exited);
  CHECK(r.err.find("deadlock") != std::string::npos);
  CHECK(r.err.find("deadlock_kernel") != std::string::npos);
  CHECK(r.err.find("waits at __syncthreads") != std::string::npos);
  CHECK(r.err.find("waits at a warp collective") != std::string::npos);
  CHECK(r.err.find("test_emu_engine.cpp") != std::string::npos);
}

TEST_CASE("emu: a shuffle whose mask leaves out the calling lane aborts", "[emu][death]") {
  auto r = run_in_child([] {
    float* d = nullptr;
    cudaMalloc(&d, 32 * sizeof(float));
    LAUNCH_KERNEL(bad_mask_kernel, dim3(1), dim3(32), 0, nullptr, d);
  });
  CAPTURE(r.err);
  CHECK_FALSE(r.exited);
  CHECK(r.err.find("not in its mask") != std::string::npos);
}

TEST_CASE("emu: device properties describe an sm_90-class device", "[emu]") {
  cudaDeviceProp p;
  REQUIRE(cudaGetDeviceProperties(&p, 0) == cudaSuccess);
  CHECK(p.warpSize == 32);
  CHECK(p.maxThreadsPerBlock == 1024);
  CHECK(p.major == 9);
  int n = 0;
  REQUIRE(cudaGetDeviceCount(&n) == cudaSuccess);
  CHECK(n == 1);
  CHECK(cudaGetDeviceProperties(&p, 1) == cudaErrorInvalidDevice);
  cudaGetLastError();
}
