// tests/runtime/test_quant_accuracy.cpp: the CPU backend with int8 and q4 weights
// against the official fp32 goldens, with the bounds of tests/runtime/quant_accuracy_util.h,
// in RNN mode (one token per forward) and over the whole sequence.
#include <catch2/catch.hpp>

#include "quant_accuracy_util.h"
#include "runtime/cpu/cpu_backend.h"

namespace {

void check_cpu(rwkv::QuantKind kind) {
  for (const std::string& name : quant_accuracy::fp32_folders()) {
    INFO("golden folder " << name << ", " << rwkv::quant_kind_name(kind));
    const golden::Folder f = golden::read_folder(name);
    auto model = rwkv::load_model(testdata_path(f.model_file));
    rwkv::CpuOptions opt;
    opt.n_threads = 1;
    opt.weights.quantize = kind;
    rwkv::CpuBackend be(*model, opt);
    const size_t V = static_cast<size_t>(be.info().n_vocab);
    const golden::Outputs out = golden::run_all_modes(be, f.tokens, f.chunk_split);
    const std::vector<float> rnn = golden::read_f32(f.dir + "/logits_rnn.f32");
    const std::vector<float> full = golden::read_f32(f.dir + "/logits_seq_full.f32");
    const quant_accuracy::Error e = quant_accuracy::compare(out.logits_rnn, rnn, V);
    const quant_accuracy::Error e_full = quant_accuracy::compare(out.logits_seq_full, full, V);
    const auto [bound, official_int8] = quant_accuracy::int8_bound(name);
    quant_accuracy::print_row("cpu", name, rwkv::quant_kind_name(kind), e, kind == rwkv::QuantKind::int8 ? bound : -1);
    CHECK(e.finite);
    CHECK(e_full.finite);
    // RNN and sequence mode compute the same products: their errors agree closely.
    CHECK(std::fabs(e_full.max_abs - quant_accuracy::compare(out.logits_seq_full, rnn, V).max_abs) < 1e-3);
    if (kind != rwkv::QuantKind::int8) continue;
    REQUIRE(bound > 0);
    CHECK(e.max_abs <= bound);
    CHECK(e_full.max_abs <= bound);
    if (!official_int8) CHECK(e.argmax_agreement >= 0.95);
  }
}

}  // namespace

TEST_CASE("cpu int8 weights stay within the official low-precision error on every golden", "[cpu][golden][quant]") {
  check_cpu(rwkv::QuantKind::int8);
}

TEST_CASE("cpu q4 weights: error against every golden reported, finite", "[cpu][golden][quant]") {
  check_cpu(rwkv::QuantKind::q4);
}
