// tests/emu_standalone/race_demo.cpp: kernels with deliberate bugs, run as
// their own processes so that a sanitizer can flag them (see CMakeLists.txt):
//   race_demo missing   block reduction with its first __syncthreads removed:
//                       the TSan build must report a data race
//   race_demo correct   the same kernel with the barrier: no report, right sum
//   race_demo oob       a kernel that stores one element past its allocation:
//                       the ASan build must report a heap-buffer-overflow
#include <cstdio>
#include <cstring>
#include <vector>

#include "kernels/common/cuda_compat.cuh"

template <bool kWithBarrier>
__global__ void tree_sum_kernel(const float* x, float* out) {
  __shared__ float buf[128];
  buf[threadIdx.x] = x[threadIdx.x];
  if (kWithBarrier) __syncthreads();
  for (int stride = 64; stride > 0; stride /= 2) {
    if ((int)threadIdx.x < stride) buf[threadIdx.x] += buf[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[0] = buf[0];
}

__global__ void store_past_end_kernel(float* out, int n) {
  out[threadIdx.x] = 1.0f;  // launched with n + 1 threads
  (void)n;
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "";
  std::vector<float> x(128);
  for (int i = 0; i < 128; ++i) x[i] = (float)(i + 1);
  float *dx = nullptr, *dout = nullptr;
  cudaMalloc(&dx, 128 * sizeof(float));
  cudaMalloc(&dout, sizeof(float));
  cudaMemcpy(dx, x.data(), 128 * sizeof(float), cudaMemcpyHostToDevice);
  if (!std::strcmp(mode, "missing") || !std::strcmp(mode, "correct")) {
    auto* k = !std::strcmp(mode, "missing") ? tree_sum_kernel<false> : tree_sum_kernel<true>;
    LAUNCH_KERNEL(k, dim3(1), dim3(128), 0, nullptr, dx, dout);
    float sum = 0;
    cudaMemcpy(&sum, dout, sizeof(float), cudaMemcpyDeviceToHost);
    std::printf("engine %s: sum %.1f (expected %.1f)\n", cuda_emu::engine_name(), sum, 128 * 129 / 2.0);
    return sum == 128 * 129 / 2.0f ? 0 : 1;
  }
  if (!std::strcmp(mode, "oob")) {
    float* d = nullptr;
    cudaMalloc(&d, 100 * sizeof(float));
    LAUNCH_KERNEL(store_past_end_kernel, dim3(1), dim3(101), 0, nullptr, d, 100);
    std::printf("store past the end was not caught\n");
    return 1;
  }
  std::fprintf(stderr, "usage: race_demo missing|correct|oob\n");
  return 2;
}
