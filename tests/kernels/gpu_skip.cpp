// tests/kernels/gpu_skip.cpp: a test tagged [gpu] on a machine without a usable CUDA device
// (a cuda build on a CPU-only machine) prints why and ends its process with
// gpu_test::kSkipExitCode, which CTest reports as "Skipped" (tests/CMakeLists.txt sets
// SKIP_RETURN_CODE for the [gpu] tests). CTest runs one test case per process, so nothing
// else is cut short; running rwkv_tests by hand on such a machine, select '~[gpu]'.
// In the emu build the emulated device is always there and nothing is skipped.
#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "gpu_test_util.h"

namespace {

class GpuSkipListener : public Catch::TestEventListenerBase {
 public:
  using TestEventListenerBase::TestEventListenerBase;

  void testCaseStarting(Catch::TestCaseInfo const& info) override {
    if (std::find(info.tags.begin(), info.tags.end(), "gpu") == info.tags.end()) return;
    const std::string reason = gpu_test::no_device_reason();
    if (reason.empty()) return;
    std::printf("SKIPPED: %s: %s\n", info.name.c_str(), reason.c_str());
    std::fflush(stdout);
    std::_Exit(gpu_test::kSkipExitCode);
  }
};

}  // namespace

CATCH_REGISTER_LISTENER(GpuSkipListener)
