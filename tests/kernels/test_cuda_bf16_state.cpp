// Tests the CUDA backend's bf16 state (CudaOptions::state_dtype bf16, runtime/cuda/device_state.h):
// the slots hold each layer's att.kv in bf16 (half the room) and every other piece in fp32, while
// everything outside the backend stays the fp32 StateLayout: write_slot rounds the kv pieces to
// nearest even and leaves the rest bit for bit, read_slot widens exactly, copies and resets keep
// the device bits, and state files are the fp32 files of an fp32 state (interchangeable). v4 has
// no matrix state: its device layout is the fp32 one. The accuracy of a bf16 state against the
// goldens is in test_cuda_golden.cpp, the kernels' rounding in test_wkv5.cpp and test_wkv7.cpp.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "cuda_engine_util.h"
#include "runtime/core/half_float.h"
#include "runtime/state/state_file.h"
#include "testdata.h"

namespace {

// x with every att.kv value rounded to bf16.
std::vector<float> kv_rounded(const rwkv::StateLayout& layout, std::vector<float> x) {
  for (int l = 0; l < layout.n_layer(); ++l) {
    const size_t kv = layout.layer(l).kv;
    if (kv == SIZE_MAX) continue;
    for (const rwkv::StateTensor& t : layout.tensors())
      if (t.offset == kv)
        for (size_t e = 0; e < t.numel; ++e) x[kv + e] = rwkv::round_to_bf16(x[kv + e]);
  }
  return x;
}

size_t kv_floats(const rwkv::StateLayout& layout) {
  size_t n = 0;
  for (int l = 0; l < layout.n_layer(); ++l)
    for (const rwkv::StateTensor& t : layout.tensors())
      if (t.offset == layout.layer(l).kv) n += t.numel;
  return n;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

rwkv::CudaOptions bf16_state_options(int n_slots) {
  rwkv::CudaOptions opt;
  opt.n_slots = n_slots;
  opt.state_dtype = rwkv::DType::bf16;
  return opt;
}

}  // namespace

TEST_CASE("cuda backend bf16 state: slots hold att.kv in bf16, reads and writes speak the fp32 layout",
          "[gpu][cuda]") {
  for (const char* file : {"tiny-rwkv-7v0-834K.pth", "tiny-rwkv-5v2-730K.pth", "tiny-rwkv-6v0-1m.pth",
                           "tiny-rwkv-4v0-660K.pth"}) {
    INFO(file);
    auto model = rwkv::load_model(testdata_path(std::string("models/") + file));
    rwkv::CudaBackend be(*model, bf16_state_options(3));
    const rwkv::StateLayout& layout = be.state_layout();
    const size_t S = layout.size(), kv = kv_floats(layout);
    CHECK(be.state_dtype() == rwkv::DType::bf16);
    CHECK((kv == 0) == (model->info.arch == rwkv::Arch::v4));
    CHECK(be.device_state_layout().size() == S - kv / 2);
    CHECK(size_t(be.slot(1) - be.slot(0)) == S - kv / 2);

    std::mt19937 rng(14);
    std::uniform_real_distribution<float> dist(-3.0f, 3.0f);
    std::vector<float> x(S), got(S), again(S);
    for (float& v : x) v = dist(rng);
    const std::vector<float> want = kv_rounded(layout, x);
    be.write_slot(0, x.data());
    be.read_slot(0, got.data());
    CHECK(same_bits(got, want));  // kv rounded to nearest even, every other piece unchanged
    if (kv == 0) CHECK(same_bits(got, x));
    be.copy_slot(0, 2);
    be.read_slot(2, again.data());
    CHECK(same_bits(again, want));
    be.write_slot(1, want.data());  // bf16 values pass unchanged
    be.read_slot(1, again.data());
    CHECK(same_bits(again, want));
    be.reset_slot(1);
    be.read_slot(1, again.data());
    CHECK(same_bits(again, kv_rounded(layout, rwkv::initial_state(*model, layout))));

    // A step on a device-layout slot leaves bf16 values in the kv pieces.
    const int32_t tok = 7;
    rwkv::Batch batch;
    batch.logits = rwkv::LogitsMode::none;
    batch.seqs.push_back({&tok, 1, be.slot(0), S});
    be.forward(batch, nullptr);
    be.read_slot(0, got.data());
    CHECK(!same_bits(got, want));
    CHECK(same_bits(got, kv_rounded(layout, got)));
  }
}

TEST_CASE("cuda backend bf16 state: state files stay fp32 and move between fp32 and bf16 states", "[gpu][cuda]") {
  auto model = rwkv::load_model(testdata_path("models/tiny-rwkv-7v0-834K.pth"));
  rwkv::Engine fp32(*model, cuda_test::engine_options(rwkv::CudaOptions{}));
  rwkv::Engine bf16(*model, cuda_test::engine_options(bf16_state_options(1)));
  const rwkv::StateLayout& layout = fp32.backend().state_layout();
  const size_t S = layout.size();
  REQUIRE(bf16.state_floats() == S);

  std::mt19937 rng(15);
  std::uniform_real_distribution<float> dist(-3.0f, 3.0f);
  std::vector<float> x(S), got(S);
  for (float& v : x) v = dist(rng);
  const std::vector<float> rounded = kv_rounded(layout, x);
  const std::string path = "/tmp/rwkv_bf16_state_test_" + std::to_string(getpid()) + ".rwkvstate";

  // fp32 state -> file -> bf16 state: rounded on the way in.
  fp32.write(0, x.data());
  fp32.save_state(0, path);
  CHECK(std::filesystem::file_size(path) == 104 + 4 * S);
  bf16.load_state(0, path);
  bf16.read(0, got.data());
  CHECK(same_bits(got, rounded));

  // bf16 state -> file: the fp32 file of the widened values, which an fp32 state loads unchanged.
  bf16.save_state(0, path);
  CHECK(std::filesystem::file_size(path) == 104 + 4 * S);
  CHECK(same_bits(rwkv::read_state_file(path, fp32.state_file_model()), rounded));
  fp32.load_state(0, path);
  fp32.read(0, got.data());
  CHECK(same_bits(got, rounded));
  std::remove(path.c_str());
}
