// Tests the emulator's streams, stream capture, CUDA graphs and counters
// (cuda_emu/src/graph.cpp, cuda_emu/include/cuda_emu/counters.h): a replayed
// graph computes what direct execution computes and reads the current contents
// of the buffers it was captured with; the capture rules a GPU enforces fail
// loudly; the counters count exactly the executed work.
#include <catch2/catch.hpp>

#include <cublas_v2.h>

#include <cstring>
#include <functional>
#include <thread>
#include <vector>

#include "cuda_emu/counters.h"
#include "cuda_emu/memory.h"
#include "kernels/common/cuda_compat.cuh"

namespace {

// y[i] = a * x[i] + y[i]
__global__ void axpy_kernel(float a, const float* x, float* y, int n) {
  const int i = (int)(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) y[i] = a * x[i] + y[i];
}

void axpy(float a, const float* x, float* y, int n, cudaStream_t s) {
  LAUNCH_KERNEL(axpy_kernel, dim3((unsigned)((n + 63) / 64)), dim3(64), 0, s, a, x, y, n);
}

struct Stream {
  cudaStream_t s = nullptr;
  Stream() { REQUIRE(cudaStreamCreate(&s) == cudaSuccess); }
  ~Stream() { cudaStreamDestroy(s); }
};

template <class T>
struct Dev {
  T* p = nullptr;
  explicit Dev(size_t n) { REQUIRE(cudaMalloc((void**)&p, n * sizeof(T)) == cudaSuccess); }
  ~Dev() { cudaFree(p); }
};

template <class T>
struct Pinned {
  T* p = nullptr;
  explicit Pinned(size_t n) { REQUIRE(cudaMallocHost((void**)&p, n * sizeof(T)) == cudaSuccess); }
  ~Pinned() { cudaFreeHost(p); }
};

// A step: upload x, y += 2x, a cuBLAS product z = W y (W is 2 x n, all ones
// in row 0 and 1..n in row 1), download z. Issued on s.
struct Step {
  static constexpr int n = 100;
  Dev<float> x{n}, y{n}, w{2 * n}, z{2};
  Pinned<float> x_host{n}, z_host{2};
  cublasHandle_t h = nullptr;

  explicit Step(cudaStream_t s) {
    REQUIRE(cublasCreate(&h) == CUBLAS_STATUS_SUCCESS);
    REQUIRE(cublasSetStream(h, s) == CUBLAS_STATUS_SUCCESS);
    std::vector<float> wh(2 * n);
    for (int i = 0; i < n; ++i) {
      wh[(size_t)i * 2] = 1.0f;                 // column-major 2 x n: W(0, i)
      wh[(size_t)i * 2 + 1] = (float)(i + 1);   // W(1, i)
    }
    REQUIRE(cudaMemcpy(w.p, wh.data(), wh.size() * 4, cudaMemcpyHostToDevice) == cudaSuccess);
    REQUIRE(cudaMemset(y.p, 0, n * 4) == cudaSuccess);
  }
  ~Step() { cublasDestroy(h); }

  void issue(cudaStream_t s) {
    REQUIRE(cudaMemcpyAsync(x.p, x_host.p, n * 4, cudaMemcpyHostToDevice, s) == cudaSuccess);
    axpy(2.0f, x.p, y.p, n, s);
    REQUIRE(cudaGetLastError() == cudaSuccess);
    const float one = 1.0f, zero = 0.0f;  // host scalars: read at the call, as cuBLAS does
    REQUIRE(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 1, n, &one, w.p, 2, y.p, n, &zero, z.p, 2) ==
            CUBLAS_STATUS_SUCCESS);
    REQUIRE(cudaMemcpyAsync(z_host.p, z.p, 8, cudaMemcpyDeviceToHost, s) == cudaSuccess);
  }
  void fill_x(float base) {
    for (int i = 0; i < n; ++i) x_host.p[i] = base + (float)(i % 7);
  }
};

// The step computed on the host: y accumulates 2x over the steps.
void expected_z(const std::vector<float>& y, float* z) {
  double s0 = 0, s1 = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    s0 += y[i];
    s1 += (double)(i + 1) * y[i];
  }
  z[0] = (float)s0;
  z[1] = (float)s1;
}

cudaGraphExec_t capture(cudaStream_t s, const std::function<void()>& work) {
  REQUIRE(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal) == cudaSuccess);
  work();
  cudaGraph_t g = nullptr;
  REQUIRE(cudaStreamEndCapture(s, &g) == cudaSuccess);
  REQUIRE(g != nullptr);
  cudaGraphExec_t e = nullptr;
  REQUIRE(cudaGraphInstantiate(&e, g, 0) == cudaSuccess);
  REQUIRE(cudaGraphDestroy(g) == cudaSuccess);
  return e;
}

// Begins a capture on s, runs `bad` (which must fail with `expected`), and checks
// that the capture was invalidated.
void expect_capture_broken(cudaStream_t s, const std::function<cudaError_t()>& bad, cudaError_t expected) {
  REQUIRE(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal) == cudaSuccess);
  CHECK(bad() == expected);
  cudaStreamCaptureStatus st = cudaStreamCaptureStatusNone;
  REQUIRE(cudaStreamIsCapturing(s, &st) == cudaSuccess);
  CHECK(st == cudaStreamCaptureStatusInvalidated);
  cudaGraph_t g = nullptr;
  CHECK(cudaStreamEndCapture(s, &g) == cudaErrorStreamCaptureInvalidated);
  CHECK(g == nullptr);
  REQUIRE(cudaStreamIsCapturing(s, &st) == cudaSuccess);
  CHECK(st == cudaStreamCaptureStatusNone);
  cudaGetLastError();
}

}  // namespace

TEST_CASE("emu graph: replay computes what direct execution computes, on the current buffer contents",
          "[emu][graph]") {
  Stream s;
  Step direct(s.s), graphed(s.s);
  cudaGraphExec_t exec = capture(s.s, [&] { graphed.issue(s.s); });
  // Capture recorded, ran nothing: y is still zero, z_host untouched.
  std::vector<float> y(Step::n);
  REQUIRE(cudaMemcpy(y.data(), graphed.y.p, Step::n * 4, cudaMemcpyDeviceToHost) == cudaSuccess);
  for (float v : y) REQUIRE(v == 0.0f);

  std::vector<float> y_ref(Step::n, 0.0f);
  for (int step = 0; step < 4; ++step) {
    // New data at the same pinned address each step: the graph's copy reads it.
    direct.fill_x(0.5f * (float)step);
    graphed.fill_x(0.5f * (float)step);
    for (int i = 0; i < Step::n; ++i) y_ref[(size_t)i] += 2.0f * direct.x_host.p[i];
    direct.issue(s.s);
    REQUIRE(cudaGraphLaunch(exec, s.s) == cudaSuccess);
    REQUIRE(cudaStreamSynchronize(s.s) == cudaSuccess);
    float z_ref[2];
    expected_z(y_ref, z_ref);
    INFO("step " << step);
    CHECK(graphed.z_host.p[0] == direct.z_host.p[0]);
    CHECK(graphed.z_host.p[1] == direct.z_host.p[1]);
    CHECK(direct.z_host.p[0] == Approx(z_ref[0]).epsilon(1e-6));
    CHECK(direct.z_host.p[1] == Approx(z_ref[1]).epsilon(1e-6));
  }
  size_t n_nodes = 0;
  cudaGraph_t g = nullptr;
  REQUIRE(cudaStreamBeginCapture(s.s, cudaStreamCaptureModeGlobal) == cudaSuccess);
  graphed.issue(s.s);
  REQUIRE(cudaStreamEndCapture(s.s, &g) == cudaSuccess);
  REQUIRE(cudaGraphGetNodes(g, nullptr, &n_nodes) == cudaSuccess);
  CHECK(n_nodes == 4);  // H2D copy, kernel, GEMM, D2H copy
  CHECK(cudaGraphDestroy(g) == cudaSuccess);
  CHECK(cudaGraphExecDestroy(exec) == cudaSuccess);
}

TEST_CASE("emu graph: counters count executed work exactly, direct and replayed", "[emu][graph]") {
  Stream s;
  Step step(s.s);
  step.fill_x(1.0f);
  const int n = Step::n;

  cuda_emu::reset_counters();
  cuda_emu::Counters c = cuda_emu::counters();
  CHECK(c.kernel_launches == 0);
  CHECK(c.host_syncs == 0);

  step.issue(s.s);
  REQUIRE(cudaStreamSynchronize(s.s) == cudaSuccess);
  c = cuda_emu::counters();
  CHECK(c.kernel_launches == 1);
  CHECK(c.cublas_calls == 1);
  CHECK(c.graph_launches == 0);
  CHECK(c.host_syncs == 1);
  CHECK(c.bytes_h2d == (uint64_t)n * 4);
  CHECK(c.bytes_d2h == 8);
  CHECK(c.bytes_d2d == 0);
  CHECK(c.pageable_copies == 0);

  // Recording counts nothing.
  const cuda_emu::Counters before_capture = cuda_emu::counters();
  cudaGraphExec_t exec = capture(s.s, [&] { step.issue(s.s); });
  const cuda_emu::Counters rec = cuda_emu::counters() - before_capture;
  CHECK(rec.kernel_launches == 0);
  CHECK(rec.cublas_calls == 0);
  CHECK(rec.bytes_h2d == 0);
  CHECK(rec.bytes_d2h == 0);
  CHECK(rec.host_syncs == 0);

  // Three replays: one graph launch each, plus its nodes' work.
  const cuda_emu::Counters before = cuda_emu::counters();
  for (int i = 0; i < 3; ++i) REQUIRE(cudaGraphLaunch(exec, s.s) == cudaSuccess);
  const cuda_emu::Counters d = cuda_emu::counters() - before;
  CHECK(d.graph_launches == 3);
  CHECK(d.kernel_launches == 3);
  CHECK(d.cublas_calls == 3);
  CHECK(d.bytes_h2d == 3ull * n * 4);
  CHECK(d.bytes_d2h == 3ull * 8);
  CHECK(d.host_syncs == 0);

  // Synchronous calls and device-to-device copies; a pageable async copy.
  cuda_emu::reset_counters();
  std::vector<float> pageable(n, 1.0f);
  REQUIRE(cudaMemcpy(step.x.p, pageable.data(), n * 4, cudaMemcpyHostToDevice) == cudaSuccess);
  REQUIRE(cudaMemset(step.y.p, 0, n * 4) == cudaSuccess);
  REQUIRE(cudaMemcpyAsync(step.y.p, step.x.p, n * 4, cudaMemcpyDeviceToDevice, s.s) == cudaSuccess);
  REQUIRE(cudaMemcpyAsync(pageable.data(), step.y.p, n * 4, cudaMemcpyDeviceToHost, s.s) == cudaSuccess);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  cudaEvent_t ev;
  REQUIRE(cudaEventCreate(&ev) == cudaSuccess);
  REQUIRE(cudaEventRecord(ev, s.s) == cudaSuccess);
  REQUIRE(cudaEventSynchronize(ev) == cudaSuccess);
  REQUIRE(cudaEventDestroy(ev) == cudaSuccess);
  c = cuda_emu::counters();
  CHECK(c.host_syncs == 4);  // cudaMemcpy, cudaMemset, cudaDeviceSynchronize, cudaEventSynchronize
  CHECK(c.bytes_h2d == (uint64_t)n * 4);
  CHECK(c.bytes_d2d == (uint64_t)n * 4);
  CHECK(c.bytes_d2h == (uint64_t)n * 4);
  CHECK(c.pageable_copies == 1);
  CHECK(c.kernel_launches == 0);
  CHECK(cudaGraphExecDestroy(exec) == cudaSuccess);
}

TEST_CASE("emu graph: synchronous calls during a capture fail and invalidate it", "[emu][graph]") {
  Stream s;
  Dev<float> d(16);
  std::vector<float> host(16, 0.0f);
  expect_capture_broken(s.s, [&] { return cudaMemcpy(d.p, host.data(), 64, cudaMemcpyHostToDevice); },
                        cudaErrorStreamCaptureImplicit);
  expect_capture_broken(s.s, [&] { return cudaMemset(d.p, 0, 64); }, cudaErrorStreamCaptureImplicit);
  expect_capture_broken(s.s, [&] { return cudaStreamSynchronize(s.s); }, cudaErrorStreamCaptureUnsupported);
  expect_capture_broken(s.s, [&] { return cudaDeviceSynchronize(); }, cudaErrorStreamCaptureUnsupported);
  expect_capture_broken(s.s, [&] {
    void* p = nullptr;
    return cudaMalloc(&p, 64);
  }, cudaErrorStreamCaptureUnsupported);
  expect_capture_broken(s.s, [&] { return cudaFree(d.p); }, cudaErrorStreamCaptureUnsupported);
  // A launch on the legacy default stream: the error comes from cudaGetLastError.
  expect_capture_broken(s.s, [&] {
    axpy(1.0f, d.p, d.p, 16, nullptr);
    return cudaGetLastError();
  }, cudaErrorStreamCaptureImplicit);
  // d is still allocated and usable after all of it.
  CHECK(cudaMemset(d.p, 0, 64) == cudaSuccess);
  CHECK(cuda_emu::device_range_ok(d.p, 64, nullptr));
}

TEST_CASE("emu graph: a pageable async copy during a capture is refused", "[emu][graph]") {
  Stream s;
  Dev<float> d(16);
  std::vector<float> pageable(16, 0.0f);
  std::string why;
  expect_capture_broken(s.s, [&] {
    const cudaError_t e = cudaMemcpyAsync(d.p, pageable.data(), 64, cudaMemcpyHostToDevice, s.s);
    why = cuda_emu::last_report();
    return e;
  }, cudaErrorStreamCaptureUnsupported);
  CHECK(why.find("pageable") != std::string::npos);
  expect_capture_broken(s.s, [&] {
    return cudaMemcpyAsync(pageable.data(), d.p, 64, cudaMemcpyDeviceToHost, s.s);
  }, cudaErrorStreamCaptureUnsupported);
  // Pinned memory is fine, also through cudaHostAlloc.
  float* pinned = nullptr;
  REQUIRE(cudaHostAlloc((void**)&pinned, 64, cudaHostAllocDefault) == cudaSuccess);
  cudaGraphExec_t e = capture(s.s, [&] {
    REQUIRE(cudaMemcpyAsync(d.p, pinned, 64, cudaMemcpyHostToDevice, s.s) == cudaSuccess);
    REQUIRE(cudaMemsetAsync(d.p, 0, 32, s.s) == cudaSuccess);
  });
  for (int i = 0; i < 16; ++i) pinned[i] = (float)i;
  REQUIRE(cudaGraphLaunch(e, s.s) == cudaSuccess);
  std::vector<float> back(16);
  REQUIRE(cudaMemcpy(back.data(), d.p, 64, cudaMemcpyDeviceToHost) == cudaSuccess);
  for (int i = 0; i < 16; ++i) CHECK(back[(size_t)i] == (i < 8 ? 0.0f : (float)i));
  CHECK(cudaGraphExecDestroy(e) == cudaSuccess);
  CHECK(cudaFreeHost(pinned) == cudaSuccess);
  // Freed pinned memory is pageable again as far as the emulator knows: no double free.
  CHECK(cudaFreeHost(pinned) == cudaErrorInvalidValue);
  cudaGetLastError();
}

TEST_CASE("emu graph: misuse of captures and graph handles is reported", "[emu][graph]") {
  Stream s;
  cudaGraph_t g = nullptr;
  CHECK(cudaStreamEndCapture(s.s, &g) == cudaErrorIllegalState);  // never begun
  CHECK(cudaStreamBeginCapture(nullptr, cudaStreamCaptureModeGlobal) == cudaErrorStreamCaptureUnsupported);
  REQUIRE(cudaStreamBeginCapture(s.s, cudaStreamCaptureModeGlobal) == cudaSuccess);
  CHECK(cudaStreamBeginCapture(s.s, cudaStreamCaptureModeGlobal) == cudaErrorIllegalState);
  REQUIRE(cudaStreamEndCapture(s.s, &g) == cudaSuccess);  // an empty graph
  cudaGraphExec_t e = nullptr;
  REQUIRE(cudaGraphInstantiate(&e, g, 0) == cudaSuccess);
  CHECK(cudaGraphDestroy(g) == cudaSuccess);
  CHECK(cudaGraphDestroy(g) == cudaErrorInvalidValue);
  CHECK(cudaGraphInstantiate(&e, g, 0) == cudaErrorInvalidValue);  // destroyed graph; e is cleared
  CHECK(e == nullptr);
  REQUIRE(cudaStreamBeginCapture(s.s, cudaStreamCaptureModeGlobal) == cudaSuccess);
  REQUIRE(cudaStreamEndCapture(s.s, &g) == cudaSuccess);
  REQUIRE(cudaGraphInstantiate(&e, g, 0) == cudaSuccess);
  REQUIRE(cudaGraphDestroy(g) == cudaSuccess);
  CHECK(cudaGraphLaunch(e, s.s) == cudaSuccess);  // the exec outlives its graph
  CHECK(cudaGraphExecDestroy(e) == cudaSuccess);
  CHECK(cudaGraphExecDestroy(e) == cudaErrorInvalidValue);
  CHECK(cudaGraphLaunch(e, s.s) == cudaErrorInvalidResourceHandle);
  cudaGetLastError();
}

TEST_CASE("emu graph: arguments are checked when recorded and again when replayed", "[emu][graph]") {
  Stream s;
  float* x = nullptr;
  REQUIRE(cudaMalloc((void**)&x, 64 * 4) == cudaSuccess);
  // Recorded with a valid buffer, replayed after it was freed: the replay fails loudly.
  cudaGraphExec_t e = capture(s.s, [&] { axpy(1.0f, x, x, 64, s.s); });
  REQUIRE(cudaGraphLaunch(e, s.s) == cudaSuccess);
  REQUIRE(cudaFree(x) == cudaSuccess);
  CHECK(cudaGraphLaunch(e, s.s) == cudaErrorIllegalAddress);
  CHECK(cuda_emu::last_report().find("cudaGraphLaunch: node 0") != std::string::npos);
  CHECK(cudaGraphExecDestroy(e) == cudaSuccess);
  cudaGetLastError();
  // A bad launch during a capture fails at once and records nothing.
  REQUIRE(cudaStreamBeginCapture(s.s, cudaStreamCaptureModeGlobal) == cudaSuccess);
  LAUNCH_KERNEL(axpy_kernel, dim3(1), dim3(2048), 0, s.s, 1.0f, (const float*)nullptr, (float*)nullptr, 0);
  CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
  cudaGraph_t g = nullptr;
  REQUIRE(cudaStreamEndCapture(s.s, &g) == cudaSuccess);
  size_t n = 99;
  REQUIRE(cudaGraphGetNodes(g, nullptr, &n) == cudaSuccess);
  CHECK(n == 0);
  CHECK(cudaGraphDestroy(g) == cudaSuccess);
}

TEST_CASE("emu graph: another thread's synchronous calls break only captures they depend on", "[emu][graph]") {
  Dev<float> d(16);
  std::vector<float> host(16, 1.0f);
  auto other_thread = [&] {
    std::thread t([&] {
      CHECK(cudaMemcpy(d.p, host.data(), 64, cudaMemcpyHostToDevice) == cudaSuccess);
      void* p = nullptr;
      CHECK(cudaMalloc(&p, 64) == cudaSuccess);
      CHECK(cudaFree(p) == cudaSuccess);
      CHECK(cudaDeviceSynchronize() == cudaSuccess);
    });
    t.join();
  };
  // A non-blocking stream capturing thread-locally is not disturbed.
  cudaStream_t nb = nullptr;
  REQUIRE(cudaStreamCreateWithFlags(&nb, cudaStreamNonBlocking) == cudaSuccess);
  REQUIRE(cudaStreamBeginCapture(nb, cudaStreamCaptureModeThreadLocal) == cudaSuccess);
  axpy(1.0f, d.p, d.p, 16, nb);
  other_thread();
  cudaGraph_t g = nullptr;
  CHECK(cudaStreamEndCapture(nb, &g) == cudaSuccess);
  CHECK(cudaGraphDestroy(g) == cudaSuccess);
  // But this thread's own unsafe call breaks it.
  expect_capture_broken(nb, [] {
    void* p = nullptr;
    return cudaMalloc(&p, 64);
  }, cudaErrorStreamCaptureUnsupported);
  CHECK(cudaStreamDestroy(nb) == cudaSuccess);
  CHECK(cudaStreamDestroy(nb) == cudaErrorInvalidResourceHandle);

  // A blocking stream's capture depends on the legacy stream: another thread's cudaMemcpy fails
  // and invalidates it.
  Stream s;
  REQUIRE(cudaStreamBeginCapture(s.s, cudaStreamCaptureModeThreadLocal) == cudaSuccess);
  std::thread t([&] {
    CHECK(cudaMemcpy(d.p, host.data(), 64, cudaMemcpyHostToDevice) == cudaErrorStreamCaptureImplicit);
  });
  t.join();
  CHECK(cudaStreamEndCapture(s.s, &g) == cudaErrorStreamCaptureInvalidated);
  cudaGetLastError();
}
