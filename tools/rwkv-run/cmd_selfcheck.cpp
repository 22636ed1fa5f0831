// rwkv-run selfcheck: reports the build and, with a GPU path, the device.
#include <cstdio>
#include <cstring>

#include "commands.h"
#include "runtime/version.h"
#ifdef RWKV_HAVE_GPU
#include <cuda_runtime.h>
#endif

int cmd_selfcheck(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      std::printf("usage: rwkv-run selfcheck\n  Prints the build and the device it would run on.\n");
      return 0;
    }
    std::fprintf(stderr, "rwkv-run selfcheck: unknown option '%s'\n", argv[i]);
    return 2;
  }
  std::printf("rwkv-run %s\n", rwkv::version_string());
#ifdef RWKV_HAVE_GPU
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n == 0) {
    // Not an error: the CPU backend runs without a GPU.
    std::printf("gpu: none usable (%s); the CPU backend will be used\n",
                e != cudaSuccess ? cudaGetErrorString(e) : "no device");
    return 0;
  }
  cudaDeviceProp p;
  cudaGetDeviceProperties(&p, 0);
  std::printf("gpu 0: %s, sm_%d%d, %.1f GiB\n", p.name, p.major, p.minor,
              p.totalGlobalMem / 1073741824.0);
#else
  std::printf("gpu: not built (CPU only)\n");
#endif
  return 0;
}
