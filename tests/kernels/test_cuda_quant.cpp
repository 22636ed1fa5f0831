// Tests the CUDA backend with quantized weights (docs/quantization.md; runtime/cuda/gemm.h):
// int8 and q4 models against the official fp32 goldens with the bounds of
// tests/runtime/quant_accuracy_util.h (int8 within the official low-precision error, q4 finite and
// reported), in RNN mode (one token per forward: the quantized GEMV; q4 over the first 24 tokens) and over whole sequences
// (rounds of more than 16 rows: the dequantize + cuBLAS path, with the chunked WKV kernels:
// wkv_chunk_min_tokens 1, max_rows 40); against the CPU backend holding the same quantized
// weights; CUDA-graph decode against uncaptured decode; a ragged batch against one sequence at a
// time; the device bytes of the quantized matrices.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "cuda_batch_util.h"
#include "cuda_engine_util.h"
#include "runtime/arch/weights.h"
#include "runtime/cpu/cpu_backend.h"
#include "runtime/quant_accuracy_util.h"

namespace {

// The CPU backend and the CUDA backend both compute in fp32 from the same quantized values (an
// fp32 checkpoint), in different summation orders: the fp32 golden tolerance of
// tests/kernels/test_cuda_golden.cpp.
constexpr double kSameWeightsTol = 1e-3;

rwkv::CudaOptions quant_options(rwkv::QuantKind kind) {
  rwkv::CudaOptions opt;
  opt.weights.quantize = kind;
  opt.max_rows = 40;
  opt.wkv_chunk_min_tokens = 1;  // every round of more than 16 rows runs the chunked WKV
  return opt;
}

// What the check runs: the golden's tokens one per forward (the decode path; int8, whose bounds
// include the argmax agreement over the whole golden sequence, as tests/runtime/test_quant_accuracy.cpp)
// or, for q4 (reported only; the emulator is slow), the first kQ4RnnTokens of them; and the whole
// sequence in one call (rounds of up to 40 rows: the prefill path with the chunked WKV).
constexpr size_t kQ4RnnTokens = 24;

struct QuantRun {
  std::vector<float> rnn, full;  // [rnn_tokens, V], [T, V]
};

QuantRun run_golden(rwkv::Backend& be, const std::vector<int32_t>& tokens, size_t rnn_tokens) {
  const size_t V = (size_t)be.info().n_vocab, T = tokens.size(), T_rnn = std::min(T, rnn_tokens);
  const size_t S = be.state_layout().size();
  QuantRun r;
  std::vector<float> st(S);
  be.init_state(st.data());
  r.rnn.resize(T_rnn * V);
  for (size_t t = 0; t < T_rnn; ++t) golden::run_seq(be, &tokens[t], 1, st, rwkv::LogitsMode::all, &r.rnn[t * V]);
  be.init_state(st.data());
  r.full.resize(T * V);
  golden::run_seq(be, tokens.data(), T, st, rwkv::LogitsMode::all, r.full.data());
  return r;
}

void check_goldens(rwkv::QuantKind kind) {
  for (const std::string& name : quant_accuracy::fp32_folders()) {
    INFO("golden folder " << name << ", " << rwkv::quant_kind_name(kind));
    const golden::Folder f = golden::read_folder(name);
    auto model = rwkv::load_model(testdata_path(f.model_file));
    rwkv::Engine gpu(*model, cuda_test::engine_options(quant_options(kind)));
    REQUIRE(cuda_test::cuda_backend(gpu).quant() == kind);
    const size_t V = (size_t)model->info.n_vocab;
    const size_t rnn_tokens = kind == rwkv::QuantKind::int8 ? f.tokens.size() : kQ4RnnTokens;
    const QuantRun out = run_golden(gpu.host_backend(), f.tokens, rnn_tokens);
    std::vector<float> rnn = golden::read_f32(f.dir + "/logits_rnn.f32");
    rnn.resize(out.rnn.size());
    const std::vector<float> full = golden::read_f32(f.dir + "/logits_seq_full.f32");
    const quant_accuracy::Error e = quant_accuracy::compare(out.rnn, rnn, V);
    const quant_accuracy::Error e_full = quant_accuracy::compare(out.full, full, V);
    const auto [bound, official_int8] = quant_accuracy::int8_bound(name);
    quant_accuracy::print_row("cuda", name, rwkv::quant_kind_name(kind), e_full,
                              kind == rwkv::QuantKind::int8 ? bound : -1);
    CHECK(e.finite);
    CHECK(e_full.finite);
    if (cuda_test::cuda_backend(gpu).dtype() == rwkv::DType::f32) {
      // The CPU backend with the same quantized weights (fp32 checkpoints: the same fp32 values).
      rwkv::CpuOptions c;
      c.n_threads = 1;
      c.weights.quantize = kind;
      c.int8_rounded_inputs = false;  // the fp32 inputs, as the CUDA kernels multiply them
      rwkv::CpuBackend cpu(*model, c);
      const QuantRun ref = run_golden(cpu, f.tokens, rnn_tokens);
      const double d_rnn = golden::max_abs_diff(out.rnn.data(), ref.rnn.data(), ref.rnn.size());
      const double d_full = golden::max_abs_diff(out.full.data(), ref.full.data(), ref.full.size());
      std::printf("cuda vs cpu, same %s weights: rnn %.3g, sequence %.3g\n", rwkv::quant_kind_name(kind), d_rnn,
                  d_full);
      CHECK(d_rnn <= kSameWeightsTol);
      CHECK(d_full <= kSameWeightsTol);
    }
    if (kind != rwkv::QuantKind::int8) continue;
    REQUIRE(bound > 0);
    CHECK(e.max_abs <= bound);
    CHECK(e_full.max_abs <= bound);
    // Argmax agreement on the decode path, as tests/runtime/test_quant_accuracy.cpp checks it (the
    // prefill path of a 16-bit model rounds the dequantized weights to 16 bits once more: reported).
    if (!official_int8) CHECK(e.argmax_agreement >= 0.95);
    std::printf("     sequence argmax agreement %.3f, decode (%zu tokens) %.3f\n", e_full.argmax_agreement,
                out.rnn.size() / V, e.argmax_agreement);
  }
}

}  // namespace

TEST_CASE("cuda int8 weights stay within the official low-precision error on every golden",
          "[gpu][cuda][golden][quant]") {
  check_goldens(rwkv::QuantKind::int8);
}

TEST_CASE("cuda q4 weights: error against every golden reported, finite, as the CPU's",
          "[gpu][cuda][golden][quant]") {
  check_goldens(rwkv::QuantKind::q4);
}

namespace {

// The tiny models of versions 5.2, 6 and 7 (fp32) and the v6 bf16 one: every quantized layer form
// (v6's ddlerp and decay LoRA, v7's LoRAs), both dense dtypes.
const char* const kModels[] = {"models/tiny-rwkv-5v2-730K.pth", "models/tiny-rwkv-6v0-1m.pth",
                               "models/tiny-rwkv-6v0-1m-bf16.pth", "models/tiny-rwkv-7v0-834K.pth"};

// Prefill of 3 ragged prompts (rounds of more than 16 rows: the dequantize + cuBLAS path), then
// `steps` decode steps of the 3 together (the quantized GEMV), with or without CUDA graphs.
std::vector<float> decode_logits(const rwkv::Model& model, rwkv::QuantKind kind, bool graphs, int steps) {
  rwkv::CudaOptions opt = quant_options(kind);
  opt.graphs = graphs;
  opt.n_slots = 3;
  rwkv::CudaBackend be(model, opt);
  const int V = be.info().n_vocab;
  const size_t S = be.state_layout().size();
  std::vector<std::vector<int32_t>> prompts(3);
  rwkv::Batch batch;
  batch.logits = rwkv::LogitsMode::last;
  for (int i = 0; i < 3; ++i) {
    for (int t = 0; t < 3 + 11 * i; ++t) prompts[(size_t)i].push_back((t * 13 + 5 * i + 1) % V);
    batch.seqs.push_back({prompts[(size_t)i].data(), prompts[(size_t)i].size(), be.slot(i), S});
  }
  std::vector<float> all((size_t)3 * V);
  be.forward(batch, all.data());
  std::vector<float> step_logits((size_t)3 * V);
  std::vector<int32_t> toks(3);
  for (int step = 0; step < steps; ++step) {
    rwkv::Batch d;
    d.logits = rwkv::LogitsMode::last;
    for (int i = 0; i < 3; ++i) {
      toks[(size_t)i] = (step * 17 + 5 * i + 3) % V;
      d.seqs.push_back({&toks[(size_t)i], 1, be.slot(i), S});
    }
    be.forward(d, step_logits.data());
    all.insert(all.end(), step_logits.begin(), step_logits.end());
  }
  if (graphs) CHECK(be.graphs_captured() == 1);
  return all;
}

}  // namespace

TEST_CASE("cuda quantized weights: graph decode gives the bits of uncaptured decode", "[gpu][cuda][graph][quant]") {
  for (const char* file : kModels) {
    auto model = rwkv::load_model(testdata_path(file));
    for (rwkv::QuantKind kind : {rwkv::QuantKind::int8, rwkv::QuantKind::q4}) {
      INFO(file << ", " << rwkv::quant_kind_name(kind));
      const std::vector<float> off = decode_logits(*model, kind, false, 2);
      const std::vector<float> on = decode_logits(*model, kind, true, 2);
      CHECK(std::memcmp(on.data(), off.data(), on.size() * sizeof(float)) == 0);
      bool finite = true;
      for (float v : on) finite = finite && std::isfinite(v);
      CHECK(finite);
    }
  }
}

TEST_CASE("cuda quantized weights: a ragged batch of 3 prompts equals each alone", "[gpu][cuda][batch][quant]") {
  for (const char* file : kModels) {
    // fp32 activations only: a 16-bit model's prefill rounds (cuBLAS on the dequantized copy in 16
    // bits) and decode rounds (the GEMV on the exact values) differ by more than the fp32 bound.
    if (std::string(file).find("bf16") != std::string::npos) continue;
    auto model = rwkv::load_model(testdata_path(file));
    const int V = model->info.n_vocab;
    std::vector<std::vector<int32_t>> prompts(3);
    for (int s = 0; s < 3; ++s)
      for (int t = 0; t < 4 + 9 * s; ++t) prompts[(size_t)s].push_back((t * 31 + 7 * s + 2) % V);
    for (rwkv::QuantKind kind : {rwkv::QuantKind::int8, rwkv::QuantKind::q4}) {
      INFO(file << ", " << rwkv::quant_kind_name(kind));
      rwkv::CudaOptions opt = quant_options(kind);
      // Together the 39 prompt tokens take rounds of 20 and 19 rows (dequantize + cuBLAS, chunked
      // WKV); alone 4 and 13 rows (GEMV), 22 = 20 (cuBLAS) + 2 (GEMV).
      opt.max_rows = 20;
      opt.n_slots = 3;
      rwkv::Engine gpu(*model, cuda_test::engine_options(opt));
      const cuda_test::Run together = cuda_test::run(gpu.host_backend(), prompts, 3, true);
      const cuda_test::Run alone = cuda_test::run(gpu.host_backend(), prompts, 3, false);
      const double d = cuda_test::max_diff(together, alone);
      std::printf("%-44s %-4s together vs alone %.3g\n", file, rwkv::quant_kind_name(kind), d);
      // The rounds cut the prompts at other places (GEMV or dequantize + cuBLAS, chunk boundaries):
      // int8 within the fp32 batch tolerance of tests/kernels/test_cuda_batch.cpp (1e-4). q4's GEMV
      // sums scale * sum(q x) + min * sum(x) per group, two terms that largely cancel (min is about
      // -max |w|), against cuBLAS's sum of (q scale + min) x: its fp32 error is relative to
      // sum |q scale x| + |min x|, several times sum |w x|; so q4 gets kSameWeightsTol, the bound used
      // above for the same weights in other summation orders (cuda vs cpu).
      CHECK(d <= (kind == rwkv::QuantKind::int8 ? 1e-4 : kSameWeightsTol));
    }
  }
}

TEST_CASE("cuda quantized weights: the device holds each matrix's packed bytes and scales exactly",
          "[gpu][cuda][quant]") {
  auto model = rwkv::load_model(testdata_path("models/tiny-rwkv-7v0-834K.pth"));
  rwkv::CudaOptions dense;
  dense.dtype = rwkv::DType::f32;
  const size_t dense_bytes = rwkv::CudaBackend(*model, dense).weight_bytes();
  for (rwkv::QuantKind kind : {rwkv::QuantKind::int8, rwkv::QuantKind::q4}) {
    INFO(rwkv::quant_kind_name(kind));
    rwkv::CudaOptions opt;
    opt.dtype = rwkv::DType::f32;
    opt.weights.quantize = kind;
    rwkv::CudaBackend be(*model, opt);
    // The host's quantized Linears: each replaces out * in fp32 values by its packed bytes and scales.
    const rwkv::ModelWeights host = rwkv::load_weights(*model, opt.weights);
    long long saved = 0;
    auto count = [&](const rwkv::Linear& m) {
      if (m.out == 0 || !m.quantized()) return;
      saved += (long long)m.out * m.in * 4 - (long long)m.q.bytes();
    };
    int quantized = 0;
    for (const rwkv::LayerWeights& L : host.layers)
      rwkv::for_each_linear(L, [&](const rwkv::Linear& m) {
        REQUIRE((m.out == 0 || m.quantized()));
        quantized++;
        count(m);
      });
    CHECK(quantized > 0);
    // The head is quantized under q4 only (runtime/quant/quant_format.h quant_kind_covers_head).
    CHECK(host.head.quantized() == rwkv::quant_kind_covers_head(kind));
    count(host.head);
    CHECK((long long)be.weight_bytes() == (long long)dense_bytes - saved);
    CHECK(be.weight_bytes() <= rwkv::cuda::weight_bytes(*model, rwkv::DType::f32, opt.weights));
    CHECK(be.device_bytes() >= be.weight_bytes() + be.workspace_bytes());
  }
}
