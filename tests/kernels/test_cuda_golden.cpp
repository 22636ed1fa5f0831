// Tests that the CUDA backend (in the emu build: every kernel on the SIMT
// emulator, every GEMM on the cuBLAS stand-in) reproduces the official
// outputs (testdata/golden) in RNN mode, sequence mode and the chunked run.
//   fp32 weights: logits within 1e-3 absolute of the 'cpu fp32' goldens,
//     states within 1e-3 relative (absolute below magnitude 1).
//   bf16 and fp16 weights: the largest logit error against the 'cpu fp32' golden
//     of the same checkpoint is no larger than the official 'cpu bf16' path's
//     own error (the __cpu-bf16 folder's vs_cpu_fp32_strategy_golden figure).
//   bf16 state (CudaOptions::state_dtype, the WKV matrix state stored in bf16 between calls):
//     in RNN mode (one forward per token, so the state is rounded after every token), with bf16
//     and with fp32 weights, the same bound as bf16 weights: the official 'cpu bf16' error.
// Chunked WKV (CudaOptions::wkv_chunk_min_tokens 1, rounds of up to 40 rows): every round of more
//   than 16 rows runs the chunked kernels (v4, v5.x, v6, v7); the same bounds.
// max_rows is small, so long sequences run in several rounds. Each check runs twice: with the
// GEMV decode path for rounds of up to 16 rows (the default: RNN mode and short rounds take it,
// longer rounds cuBLAS) and with gemv_max_rows = 0 (cuBLAS for every round).
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstring>

#include "cuda_engine_util.h"
#include "runtime/cpu_golden_util.h"

namespace {

constexpr double kFp32LogitTol = 1e-3;
constexpr double kFp32StateRelTol = 1e-3;

double max_logit_error(const golden::Folder& f, const golden::Outputs& o) {
  double worst = 0;
  for (const auto& file : f.files) {
    const std::vector<float>* got = nullptr;
    if (file.key == "logits_rnn.f32") got = &o.logits_rnn;
    if (file.key == "logits_seq_full.f32") got = &o.logits_seq_full;
    if (file.key == "logits_seq_last.f32") got = &o.logits_seq_last;
    if (file.key == "logits_seq_chunked.f32") got = &o.logits_seq_chunked;
    if (!got) continue;
    const auto ref = golden::read_f32(f.dir + "/" + file.key);
    REQUIRE(ref.size() == got->size());
    const double d = golden::max_abs_diff(got->data(), ref.data(), ref.size());
    INFO(file.key);
    CHECK(d == d);  // no NaN
    worst = std::max(worst, d);
  }
  return worst;
}

}  // namespace

namespace {

// max_rows 20 and the default wkv_chunk_min_tokens (64): every WKV runs token by token. The chunked
// runs: wkv_chunk_min_tokens 1, so every round of more than gemv_max_rows (16) rows takes the
// chunked kernels (the prefills and the chunked run, in rounds of up to 40 rows, which cut the
// chunks at odd places); the one-token RNN steps stay on the decode path (the kernel tests cover
// one-token chunks).
void check_fp32_goldens(int gemv_max_rows, bool chunked_wkv = false) {
  std::printf("\n%-30s %12s %12s (gemv_max_rows %d%s)\n", "cuda fp32 vs golden", "max|dlogit|", "max rel dstate",
              gemv_max_rows, chunked_wkv ? ", chunked WKV" : "");
  for (const std::string& name : golden::list_folders()) {
    const golden::Folder f = golden::read_folder(name);
    if (f.bf16_compute()) continue;
    INFO("golden folder " << name << ", gemv_max_rows " << gemv_max_rows);
    auto model = rwkv::load_model(testdata_path(f.model_file));
    rwkv::CudaOptions opt;
    opt.dtype = rwkv::DType::f32;
    opt.max_rows = chunked_wkv ? 40 : 20;
    opt.n_slots = 1;
    opt.gemv_max_rows = gemv_max_rows;
    if (chunked_wkv) opt.wkv_chunk_min_tokens = 1;
    rwkv::Engine be(*model, cuda_test::engine_options(opt));
    rwkv::Backend& host = be.host_backend();
    const golden::Outputs o = golden::run_all_modes(host, f.tokens, f.chunk_split);
    const double dl = max_logit_error(f, o);
    CHECK(dl <= kFp32LogitTol);

    double ds = 0;
    const rwkv::StateLayout& layout = host.state_layout();
    for (const auto& file : f.files) {
      const bool after0 = file.key.rfind("state_rnn_after_tok0/", 0) == 0;
      const bool final_ = file.key.rfind("state_rnn_final/", 0) == 0;
      if (!after0 && !final_) continue;
      const std::string base = file.key.substr(file.key.find('/') + 1);
      size_t i = 0;
      while (i < layout.tensors().size() && layout.file_name(i) != base) ++i;
      REQUIRE(i < layout.tensors().size());
      const auto& t = layout.tensors()[i];
      const auto ref = golden::read_f32(f.dir + "/" + file.key);
      REQUIRE(ref.size() == t.numel);
      const std::vector<float>& st = after0 ? o.state_after_tok0 : o.state_rnn_final;
      ds = std::max(ds, golden::max_rel_diff(st.data() + t.offset, ref.data(), t.numel));
      // Prefill and the chunked run end in the state of T decode steps.
      if (final_) {
        ds = std::max(ds, golden::max_rel_diff(o.state_seq_final.data() + t.offset, ref.data(), t.numel));
        ds = std::max(ds, golden::max_rel_diff(o.state_chunked_final.data() + t.offset, ref.data(), t.numel));
      }
    }
    CHECK(ds <= kFp32StateRelTol);
    std::printf("%-30s %12.3g %12.3g\n", name.c_str(), dl, ds);
  }
}

void check_low_precision_goldens(int gemv_max_rows, bool chunked_wkv = false) {
  std::printf("\n%-36s %5s %12s %12s (gemv_max_rows %d%s)\n", "cuda low precision vs fp32 golden", "dtype",
              "max|dlogit|", "official bf16", gemv_max_rows, chunked_wkv ? ", chunked WKV" : "");
  for (const std::string& name : golden::list_folders()) {
    const golden::Folder bf = golden::read_folder(name);
    if (!bf.bf16_compute()) continue;
    REQUIRE(bf.bf16_vs_fp32_rnn > 0);
    const std::string fp32_name = name.substr(0, name.find("__cpu-bf16"));
    const golden::Folder ref = golden::read_folder(fp32_name);
    REQUIRE(ref.strategy == "cpu fp32");
    auto model = rwkv::load_model(testdata_path(ref.model_file));
    for (rwkv::DType dt : {rwkv::DType::bf16, rwkv::DType::f16}) {
      INFO("golden folder " << fp32_name << ", weights " << rwkv::dtype_name(dt) << ", gemv_max_rows "
                            << gemv_max_rows);
      rwkv::CudaOptions opt;
      opt.dtype = dt;
      opt.max_rows = chunked_wkv ? 40 : 24;
      opt.gemv_max_rows = gemv_max_rows;
      if (chunked_wkv) opt.wkv_chunk_min_tokens = 1;
      rwkv::Engine be(*model, cuda_test::engine_options(opt));
      rwkv::Backend& host = be.host_backend();
      const golden::Outputs o = golden::run_all_modes(host, ref.tokens, ref.chunk_split);
      const double dl = max_logit_error(ref, o);
      std::printf("%-36s %5s %12.3g %12.3g\n", fp32_name.c_str(), rwkv::dtype_name(dt), dl,
                  bf.bf16_vs_fp32_rnn);
      CHECK(dl <= bf.bf16_vs_fp32_rnn);
    }
  }
}

// RNN-mode logits of the CUDA backend with `weights` and a bf16 state against the fp32 goldens of
// every checkpoint with an official bf16 error; v4 (no matrix state) must give the fp32 state's bits.
void check_bf16_state_goldens(rwkv::DType weights) {
  std::printf("\n%-36s %7s %12s %12s\n", "cuda bf16 state vs fp32 golden (rnn)", "weights", "max|dlogit|",
              "official bf16");
  for (const std::string& name : golden::list_folders()) {
    const golden::Folder bf = golden::read_folder(name);
    if (!bf.bf16_compute()) continue;
    REQUIRE(bf.bf16_vs_fp32_rnn > 0);
    const golden::Folder ref = golden::read_folder(name.substr(0, name.find("__cpu-bf16")));
    REQUIRE(ref.strategy == "cpu fp32");
    auto model = rwkv::load_model(testdata_path(ref.model_file));
    INFO("golden folder " << ref.name << ", weights " << rwkv::dtype_name(weights));
    auto rnn_logits = [&](rwkv::DType state_dtype) {
      rwkv::CudaOptions opt;
      opt.dtype = weights;
      opt.state_dtype = state_dtype;
      rwkv::Engine be(*model, cuda_test::engine_options(opt));
      rwkv::Backend& host = be.host_backend();
      const size_t V = (size_t)host.info().n_vocab, T = ref.tokens.size();
      std::vector<float> st(host.state_layout().size()), logits(T * V);
      host.init_state(st.data());
      for (size_t t = 0; t < T; ++t)
        golden::run_seq(host, &ref.tokens[t], 1, st, rwkv::LogitsMode::all, &logits[t * V]);
      return logits;
    };
    const std::vector<float> got = rnn_logits(rwkv::DType::bf16);
    if (model->info.arch == rwkv::Arch::v4) {  // no att.kv: the bf16 state changes nothing
      const std::vector<float> fp32_state = rnn_logits(rwkv::DType::f32);
      CHECK(std::memcmp(got.data(), fp32_state.data(), got.size() * sizeof(float)) == 0);
      continue;
    }
    const std::vector<float> want = golden::read_f32(ref.dir + "/logits_rnn.f32");
    REQUIRE(want.size() == got.size());
    const double dl = golden::max_abs_diff(got.data(), want.data(), want.size());
    std::printf("%-36s %7s %12.3g %12.3g\n", ref.name.c_str(), rwkv::dtype_name(weights), dl, bf.bf16_vs_fp32_rnn);
    CHECK(dl <= bf.bf16_vs_fp32_rnn);
  }
}

}  // namespace

TEST_CASE("cuda backend fp32 reproduces every official fp32 golden folder", "[gpu][cuda][golden]") {
  check_fp32_goldens(16);
}

TEST_CASE("cuda backend fp32 reproduces every official fp32 golden folder, cuBLAS only (gemv_max_rows 0)",
          "[gpu][cuda][golden]") {
  check_fp32_goldens(0);
}

TEST_CASE("cuda backend bf16/fp16 errors stay within the official bf16 path's error",
          "[gpu][cuda][golden]") {
  check_low_precision_goldens(16);
}

TEST_CASE("cuda backend bf16/fp16 errors stay within the official bf16 path's error, cuBLAS only",
          "[gpu][cuda][golden]") {
  check_low_precision_goldens(0);
}

TEST_CASE("cuda backend fp32 with the chunked WKV in every prefill round reproduces every fp32 golden folder",
          "[gpu][cuda][golden]") {
  check_fp32_goldens(16, true);
}

TEST_CASE("cuda backend bf16/fp16 with the chunked WKV in every prefill round: errors within the official bf16 "
          "path's error",
          "[gpu][cuda][golden]") {
  check_low_precision_goldens(16, true);
}

TEST_CASE("cuda backend bf16 state with bf16 weights: RNN-mode errors within the official bf16 path's error",
          "[gpu][cuda][golden]") {
  check_bf16_state_goldens(rwkv::DType::bf16);
}

TEST_CASE("cuda backend bf16 state with fp32 weights: RNN-mode errors within the official bf16 path's error",
          "[gpu][cuda][golden]") {
  check_bf16_state_goldens(rwkv::DType::f32);
}
