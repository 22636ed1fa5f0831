// tests/runtime/test_cpu_golden.cpp: the CPU reference backend against the
// official outputs (testdata/golden, pip rwkv 0.8.32). Every folder found is
// checked; new folders are picked up without code changes.
//   fp32 folders ("cpu fp32" strategy): every file the manifest lists, logits
//     within 1e-4 absolute, states within 1e-4 relative (absolute below 1).
//   the same with a bf16 checkpoint's matrices held in bf16 (the CPU's default
//     for such a file), and fp32 checkpoints held in bf16 / fp16 within the
//     official bf16 path's own error;
//   "__cpu-bf16" folders (official bf16 compute): distance reported; sanity:
//     by the triangle inequality it cannot exceed the manifest's own fp32-vs-bf16
//     distance by more than our fp32 error bound (1e-4).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <memory>

#include "cpu_golden_util.h"
#include "runtime/cpu/cpu_backend.h"
#include "runtime/engine/open_backend.h"

namespace {

constexpr double kLogitTol = 1e-4;
constexpr double kStateRelTol = 1e-4;

struct Stats {
  double logits = 0, state_abs = 0, state_rel = 0;
};

const std::vector<float>* logits_for(const golden::Outputs& o, const std::string& key) {
  if (key == "logits_rnn.f32") return &o.logits_rnn;
  if (key == "logits_seq_full.f32") return &o.logits_seq_full;
  if (key == "logits_seq_last.f32") return &o.logits_seq_last;
  if (key == "logits_seq_chunked.f32") return &o.logits_seq_chunked;
  return nullptr;
}

// Offset of the state tensor a "state_*/NNN_<name>.f32" key names; throws if none.
size_t state_offset(const rwkv::StateLayout& layout, const std::string& file, size_t* numel) {
  for (size_t i = 0; i < layout.tensors().size(); ++i)
    if (layout.file_name(i) == file) {
      *numel = layout.tensors()[i].numel;
      return layout.tensors()[i].offset;
    }
  throw rwkv::Error("no state tensor matches golden file " + file);
}

// Every fp32-compute golden folder (with `bf16_checkpoints_only`, those of
// checkpoints stored in bf16) through a CpuBackend holding its matrices in
// `dense`: every file within the fp32 bounds. Returns the folders checked.
size_t check_fp32_goldens(rwkv::DType dense, bool bf16_checkpoints_only) {
  const auto names = golden::list_folders();
  size_t n_checked = 0;
  std::printf("\n%-32s %12s %12s %12s (matrices held in %s)\n", "golden folder (cpu fp32)", "max|dlogit|",
              "max|dstate|", "max rel", rwkv::dtype_name(dense));
  for (const std::string& name : names) {
    const golden::Folder f = golden::read_folder(name);
    if (f.bf16_compute()) continue;
    INFO("golden folder " << name << ", matrices held in " << rwkv::dtype_name(dense));
    REQUIRE(f.strategy == "cpu fp32");
    auto model = rwkv::load_model(testdata_path(f.model_file));
    if (bf16_checkpoints_only && rwkv::stored_matrix_dtype(*model) != rwkv::DType::bf16) continue;
    rwkv::CpuOptions options;
    options.weights.dense = dense;
    rwkv::CpuBackend be(*model, options);
    const rwkv::StateLayout& layout = be.state_layout();

    // The state list of the manifest is our layout: same order, names, shapes.
    REQUIRE(f.state.size() == layout.tensors().size());
    for (size_t i = 0; i < f.state.size(); ++i) {
      CHECK(f.state[i].index == i);
      CHECK(f.state[i].name == layout.tensors()[i].name);
      CHECK(f.state[i].shape == layout.tensors()[i].shape);
    }

    const golden::Outputs out = golden::run_all_modes(be, f.tokens, f.chunk_split);
    Stats st;
    for (const golden::GoldenFile& gf : f.files) {
      INFO("file " << gf.key);
      const std::vector<float> ref = golden::read_f32(f.dir + "/" + gf.key);
      REQUIRE(ref.size() == gf.numel());
      if (const std::vector<float>* got = logits_for(out, gf.key)) {
        REQUIRE(got->size() == ref.size());
        const double d = golden::max_abs_diff(got->data(), ref.data(), ref.size());
        CHECK(d <= kLogitTol);
        st.logits = std::max(st.logits, d);
        continue;
      }
      const size_t slash = gf.key.find('/');
      REQUIRE(slash != std::string::npos);
      const std::string dir = gf.key.substr(0, slash), file = gf.key.substr(slash + 1);
      size_t numel = 0;
      const size_t off = state_offset(layout, file, &numel);
      REQUIRE(numel == ref.size());
      std::vector<const std::vector<float>*> mine;
      if (dir == "state_rnn_after_tok0") {
        mine = {&out.state_after_tok0};
      } else if (dir == "state_rnn_final") {
        // pip's sequence and chunked runs end in the same state (manifest max_abs_diff).
        mine = {&out.state_rnn_final, &out.state_seq_final, &out.state_chunked_final};
      } else {
        FAIL("unknown kind of golden file: " << gf.key);
      }
      for (const auto* s : mine) {
        const double rel = golden::max_rel_diff(s->data() + off, ref.data(), numel);
        CHECK(rel <= kStateRelTol);
        st.state_rel = std::max(st.state_rel, rel);
        st.state_abs = std::max(st.state_abs, golden::max_abs_diff(s->data() + off, ref.data(), numel));
      }
    }
    std::printf("%-32s %12.3g %12.3g %12.3g\n", name.c_str(), st.logits, st.state_abs, st.state_rel);
    ++n_checked;
  }
  return n_checked;
}

}  // namespace

TEST_CASE("cpu backend reproduces every official fp32 golden folder", "[cpu][golden]") {
  CHECK(check_fp32_goldens(rwkv::DType::f32, false) > 0);
}

// A bf16 checkpoint held in bf16 multiplies the very values the fp32 path
// widens: only the order of the fp32 sums differs, so the fp32 bounds hold.
TEST_CASE("cpu backend with bf16 checkpoints held in bf16 reproduces their fp32 golden folders", "[cpu][golden]") {
  CHECK(check_fp32_goldens(rwkv::DType::bf16, true) >= 4);
}

// Checkpoints held in bf16 or fp16 (weights rounded once, fp32 sums): every
// logit of every mode within the official bf16 path's own RNN-mode error. The
// model is the fp32 checkpoint where the test data has one (tiny-*: X for the
// official X-bf16 path), so the rounding is real; else the bf16 checkpoint
// (synth-*: exact in bf16, rounded again in fp16).
TEST_CASE("cpu backend bf16/fp16 weights stay within the official bf16 path's error", "[cpu][golden]") {
  std::printf("\n%-36s %5s %12s %12s\n", "cpu low precision vs fp32 golden", "dtype", "max|dlogit|",
              "official bf16");
  const std::vector<std::string> names = golden::list_folders();
  size_t n_checked = 0, n_rounded = 0;
  for (const std::string& name : names) {
    const golden::Folder bf = golden::read_folder(name);
    if (!bf.bf16_compute()) continue;
    REQUIRE(bf.bf16_vs_fp32_rnn > 0);
    std::string ref_name = name.substr(0, name.find("__cpu-bf16"));  // X-bf16
    const std::string fp32_name = ref_name.substr(0, ref_name.size() - 5);  // X
    REQUIRE(ref_name.compare(ref_name.size() - 5, 5, "-bf16") == 0);
    if (std::find(names.begin(), names.end(), fp32_name) != names.end()) ref_name = fp32_name;
    const golden::Folder ref = golden::read_folder(ref_name);
    REQUIRE(ref.strategy == "cpu fp32");
    auto model = rwkv::load_model(testdata_path(ref.model_file));
    for (rwkv::DType dt : {rwkv::DType::bf16, rwkv::DType::f16}) {
      INFO("golden folder " << ref.name << ", weights " << rwkv::dtype_name(dt));
      rwkv::CpuOptions options;
      options.weights.dense = dt;
      rwkv::CpuBackend be(*model, options);
      if (rwkv::stored_matrix_dtype(*model) == rwkv::DType::f32) ++n_rounded;
      const golden::Outputs out = golden::run_all_modes(be, ref.tokens, ref.chunk_split);
      double dl = 0;
      for (const golden::GoldenFile& gf : ref.files)
        if (const std::vector<float>* got = logits_for(out, gf.key)) {
          const std::vector<float> want = golden::read_f32(ref.dir + "/" + gf.key);
          REQUIRE(want.size() == got->size());
          dl = std::max(dl, golden::max_abs_diff(got->data(), want.data(), want.size()));
        }
      std::printf("%-36s %5s %12.3g %12.3g\n", ref.name.c_str(), rwkv::dtype_name(dt), dl, bf.bf16_vs_fp32_rnn);
      CHECK(dl <= bf.bf16_vs_fp32_rnn);
      ++n_checked;
    }
  }
  CHECK(n_checked >= 8);
  CHECK(n_rounded >= 8);  // the five tiny fp32 checkpoints, bf16 and fp16 each
}

TEST_CASE("cpu backend fp32 path vs the official bf16-compute goldens (report)", "[cpu][golden]") {
  const auto names = golden::list_folders();
  std::printf("\n%-36s %14s %14s %14s\n", "golden folder (cpu bf16 compute)", "rnn max|d|",
              "official fp32", "seq_last max|d|");
  for (const std::string& name : names) {
    const golden::Folder f = golden::read_folder(name);
    if (!f.bf16_compute()) continue;
    INFO("golden folder " << name);
    auto model = rwkv::load_model(testdata_path(f.model_file));
    rwkv::CpuBackend be(*model);
    const golden::Outputs out = golden::run_all_modes(be, f.tokens, f.chunk_split);
    const std::vector<float> rnn = golden::read_f32(f.dir + "/logits_rnn.f32");
    const std::vector<float> last = golden::read_f32(f.dir + "/logits_seq_last.f32");
    REQUIRE(rnn.size() == out.logits_rnn.size());
    REQUIRE(last.size() == out.logits_seq_last.size());
    const double d = golden::max_abs_diff(out.logits_rnn.data(), rnn.data(), rnn.size());
    const double dl = golden::max_abs_diff(out.logits_seq_last.data(), last.data(), last.size());
    std::printf("%-36s %14.4g %14.4g %14.4g\n", name.c_str(), d, f.bf16_vs_fp32_rnn, dl);
    CHECK(std::isfinite(d));
    if (f.bf16_vs_fp32_rnn >= 0) CHECK(d <= f.bf16_vs_fp32_rnn + kLogitTol);
  }
}
