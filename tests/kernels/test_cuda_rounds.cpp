// tests/kernels/test_cuda_rounds.cpp: how the CUDA backend sizes and fills its rounds
// (runtime/cuda/cuda_backend.h): the automatic max_rows (the pure choice, the workspace bytes per
// row it divides by, the backend's use of it), the round options' checks, ragged batches of
// prompts of different lengths across round boundaries against each prompt alone and the CPU,
// and the prefill profile (CudaOptions::profile_prefill).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "cuda_engine_util.h"
#include "runtime/cpu/cpu_backend.h"
#include "runtime/cpu_golden_util.h"
#include "runtime/cuda/cuda_weights.h"
#include "runtime/cuda/workspace.h"
#include "runtime/sampler/sampler.h"
#if RWKV_CUDA_EMU
#include "cuda_emu/counters.h"
#endif

namespace {

// fp32 weights: logits within 1e-3 absolute, states 1e-3 relative, the fp32 golden tolerance
// (test_cuda_golden.cpp). Rows in other rounds meet GEMMs of other shapes (and, in rounds of at most
// gemv_max_rows rows, the GEMV path), whose fp32 sums run in other orders: measured up to 2e-4 on
// the v6 model's logits (magnitude ~10), 2e-5 on the others.
constexpr double kTol = 1e-3;
constexpr size_t MiB = size_t(1) << 20;

const char* const kTinyModels[] = {"models/tiny-rwkv-4v0-660K.pth", "models/tiny-rwkv-5v2-730K.pth",
                                   "models/tiny-rwkv-6v0-1m.pth", "models/tiny-rwkv-7v0-834K.pth"};

// Every prompt's logits for every token (LogitsMode::all) and final state, the prompts in one
// batch (together) or each in a call of its own.
struct Outputs {
  std::vector<std::vector<float>> logits, states;
};

Outputs prefill(rwkv::Backend& be, const std::vector<std::vector<int32_t>>& prompts, bool together) {
  const size_t S = be.state_layout().size(), V = (size_t)be.info().n_vocab;
  Outputs o;
  for (const auto& p : prompts) {
    o.logits.emplace_back(p.size() * V);
    o.states.emplace_back(S);
    be.init_state(o.states.back().data());
  }
  if (!together) {
    for (size_t s = 0; s < prompts.size(); ++s)
      golden::run_seq(be, prompts[s].data(), prompts[s].size(), o.states[s], rwkv::LogitsMode::all,
                      o.logits[s].data());
    return o;
  }
  rwkv::Batch b;
  b.logits = rwkv::LogitsMode::all;
  size_t rows = 0;
  for (size_t s = 0; s < prompts.size(); ++s) {
    b.seqs.push_back({prompts[s].data(), prompts[s].size(), o.states[s].data(), S});
    rows += prompts[s].size();
  }
  std::vector<float> all(rows * V);
  be.forward(b, all.data());
  size_t row = 0;  // LogitsMode::all: the sequences' rows one after the other
  for (size_t s = 0; s < prompts.size(); ++s) {
    std::copy(all.begin() + (long)(row * V), all.begin() + (long)((row + prompts[s].size()) * V),
              o.logits[s].begin());
    row += prompts[s].size();
  }
  return o;
}

// The largest logit difference and the largest relative state difference.
std::pair<double, double> max_diff(const Outputs& a, const Outputs& b) {
  double dl = 0, ds = 0;
  for (size_t s = 0; s < a.logits.size(); ++s) {
    dl = std::max(dl, golden::max_abs_diff(a.logits[s].data(), b.logits[s].data(), a.logits[s].size()));
    ds = std::max(ds, golden::max_rel_diff(a.states[s].data(), b.states[s].data(), a.states[s].size()));
  }
  return {dl, ds};
}

// The ragged batch below, on `file` with the given switches.
void check_ragged_prefill(const char* file, int chunk_min, int gemv_max_rows) {
  INFO(file << " wkv_chunk_min_tokens " << chunk_min << " gemv_max_rows " << gemv_max_rows);
  auto model = rwkv::load_model(testdata_path(file));
  const int V = model->info.n_vocab;
  std::vector<std::vector<int32_t>> prompts;
  for (int n : {1, 7, 40, 100}) {
    prompts.emplace_back();
    for (int t = 0; t < n; ++t) prompts.back().push_back((t * 37 + 11 * n + 5) % V);
  }
  rwkv::CudaOptions opt;
  opt.dtype = rwkv::DType::f32;
  opt.max_rows = 24;
  opt.n_slots = 4;
  opt.gemv_max_rows = gemv_max_rows;
  opt.wkv_chunk_min_tokens = chunk_min;
  rwkv::Engine gpu(*model, cuda_test::engine_options(opt));
  rwkv::Backend& gpu_host = gpu.host_backend();
  rwkv::CpuBackend cpu(*model);
  const Outputs together = prefill(gpu_host, prompts, true);
  const Outputs alone = prefill(gpu_host, prompts, false);
  const Outputs reference = prefill(cpu, prompts, true);
  const auto d_alone = max_diff(together, alone), d_cpu = max_diff(together, reference);
  CAPTURE(d_alone.first, d_alone.second, d_cpu.first, d_cpu.second);
  CHECK(d_alone.first <= kTol);
  CHECK(d_alone.second <= kTol);
  CHECK(d_cpu.first <= kTol);
  CHECK(d_cpu.second <= kTol);
}

}  // namespace

TEST_CASE("cuda rounds: the automatic max_rows from free memory, bytes per row and bounds", "[cuda][rounds]") {
  using rwkv::cuda::choose_max_rows;
  const size_t row = 300000;  // bytes per row
  // Plenty of memory: the cap.
  CHECK(choose_max_rows(size_t(100) << 30, row, 512, 4096) == 4096);
  // Between floor and cap: what fits after the margin, max(512 MiB, free / 16), a multiple of 64.
  const size_t small_free = 2048 * MiB;  // margin 512 MiB: 5368 rows fit, 5312 taken
  CHECK(choose_max_rows(small_free, row, 512, 8192) == int((small_free - 512 * MiB) / row / 64 * 64));
  CHECK(choose_max_rows(small_free, row, 512, 8192) == 5312);
  const size_t large_free = size_t(16) << 30;  // margin 1 GiB (free / 16)
  CHECK(choose_max_rows(large_free, 4 * MiB, 512, 8192) == int((large_free - large_free / 16) / (4 * MiB) / 64 * 64));
  CHECK(choose_max_rows(large_free, 4 * MiB, 512, 8192) == 3840);
  // The margin is at least 512 MiB.
  CHECK(choose_max_rows(1024 * MiB, 1 * MiB, 64, 4096) == 512);
  // Below the floor with the margin, but the floor fits without it: as many as fit, up to the floor.
  CHECK(choose_max_rows(600 * MiB, 1 * MiB, 512, 4096) == 512);
  CHECK(choose_max_rows(300 * MiB, 1 * MiB, 512, 4096) == 300);
  // Not even one row: 1 (the allocation then reports what does not fit).
  CHECK(choose_max_rows(100, 1 * MiB, 512, 4096) == 1);
  // A cap below the floor wins; a floor that is not a multiple of 64 is kept.
  CHECK(choose_max_rows(size_t(100) << 30, row, 512, 300) == 300);
  CHECK(choose_max_rows(size_t(1) << 30, 1 * MiB, 500, 4096) == 512);
  CHECK(choose_max_rows(560 * MiB + 500 * MiB, 1 * MiB, 500, 4096) == 512);
  // Deterministic and monotonic in the free memory.
  int last = 0;
  for (size_t f = 64 * MiB; f <= (size_t(64) << 30); f *= 2) {
    const int r = choose_max_rows(f, row, 512, 8192);
    CHECK(r == choose_max_rows(f, row, 512, 8192));
    CHECK(r >= last);
    CHECK(r >= 1);
    CHECK(r <= 8192);
    last = r;
  }
}

TEST_CASE("cuda rounds: Workspace::bytes_per_row counts every plane", "[gpu][cuda][rounds]") {
  for (const char* file : kTinyModels)
    for (rwkv::DType dt : {rwkv::DType::f32, rwkv::DType::bf16}) {
      INFO(file << " " << rwkv::dtype_name(dt));
      auto model = rwkv::load_model(testdata_path(file));
      const rwkv::cuda::CudaWeights w = rwkv::cuda::upload_weights(*model, dt);
      for (int R : {1, 24, 77}) {
        const rwkv::cuda::Workspace ws(model->info, w, R);
        CHECK(ws.bytes() == size_t(R) * rwkv::cuda::Workspace::bytes_per_row(model->info, w));
      }
    }
}

TEST_CASE("cuda rounds: the backend chooses max_rows unless it is given", "[gpu][cuda][rounds]") {
  auto model = rwkv::load_model(testdata_path("models/tiny-rwkv-7v0-834K.pth"));
  rwkv::CudaOptions opt;
  opt.dtype = rwkv::DType::f32;
  {
    rwkv::CudaBackend be(*model, opt);  // max_rows 0: automatic, bounded by kAutoMaxRowsCap
    CHECK(be.max_rows_automatic());
    CHECK(be.max_rows() == rwkv::cuda::kAutoMaxRowsCap);  // a tiny model leaves the memory free
    CHECK(be.workspace_bytes() ==
          size_t(be.max_rows()) * (be.workspace_bytes() / size_t(be.max_rows())));
  }
  {
    opt.max_rows_cap = 1000;  // plenty of (emulated or real) memory for 1000 tiny rows: the cap
    rwkv::CudaBackend be(*model, opt);
    CHECK(be.max_rows_automatic());
    CHECK(be.max_rows() == 1000);
  }
  {
    opt.max_rows = 24;
    rwkv::CudaBackend be(*model, opt);
    CHECK(!be.max_rows_automatic());
    CHECK(be.max_rows() == 24);
  }
  // Through the engine: the chosen value is reported; bad values are InputErrors on every device.
  rwkv::CudaOptions eng;
  eng.dtype = rwkv::DType::f32;
  rwkv::Engine engine(*model, cuda_test::engine_options(eng));
  CHECK(engine.max_rows() == rwkv::cuda::kAutoMaxRowsCap);
  CHECK(engine.max_rows_automatic());
  for (const char* device : {"cpu", "cuda:0"}) {
    INFO(device);
    rwkv::EngineOptions bad;
    bad.device = device;
    bad.backend.max_rows = -1;
    CHECK_THROWS_AS(rwkv::Engine(*model, bad), rwkv::InputError);
    bad.backend.max_rows = 65536;
    CHECK_THROWS_WITH(rwkv::Engine(*model, bad), Catch::Contains("max_rows must be in [0, 65535]"));
    bad.backend.max_rows = 0;
    bad.backend.wkv_chunk_min_tokens = -1;
    CHECK_THROWS_WITH(rwkv::Engine(*model, bad), Catch::Contains("wkv_chunk_min_tokens") &&
                                                    Catch::Contains("never chunked"));
    bad.backend.wkv_chunk_min_tokens = 70000;
    CHECK_THROWS_AS(rwkv::Engine(*model, bad), rwkv::InputError);
    bad.backend.wkv_chunk_min_tokens = 64;
    bad.backend.wkv_carry_split_slots = -2;
    CHECK_THROWS_WITH(rwkv::Engine(*model, bad), Catch::Contains("wkv_carry_split_slots") &&
                                                    Catch::Contains("-1: automatic"));
    bad.backend.wkv_carry_split_slots = -1;
    for (int parts : {1, 4, -1}) {
      bad.backend.wkv_split_parts = parts;
      CHECK_THROWS_WITH(rwkv::Engine(*model, bad), Catch::Contains("wkv_split_parts must be 0 (automatic), 2 or 3"));
    }
  }
  opt.max_rows = 65536;
  CHECK_THROWS_WITH(rwkv::CudaBackend(*model, opt), Catch::Contains("max_rows must be in [1, 65535]"));
  opt.max_rows = 0;
  opt.wkv_chunk_min_tokens = -2;
  CHECK_THROWS_WITH(rwkv::CudaBackend(*model, opt), Catch::Contains("wkv_chunk_min_tokens"));
  opt.wkv_chunk_min_tokens = 64;
  opt.wkv_carry_split_slots = rwkv::cuda::kMaxCarrySplitSlots + 1;
  CHECK_THROWS_WITH(rwkv::CudaBackend(*model, opt), Catch::Contains("wkv_carry_split_slots"));
  opt.wkv_carry_split_slots = -1;
  opt.wkv_split_parts = 1;
  CHECK_THROWS_WITH(rwkv::CudaBackend(*model, opt), Catch::Contains("wkv_split_parts"));
}

// Prompts of lengths 1, 7, 40 and 100 in one batch with max_rows 24: rounds of shares 6, then 8
// and 12 as prompts finish, each prompt's rows split at places that are not the ones it has alone
// (gemv_max_rows 16: a round of at most 16 rows takes the decode path; 0: never).
// Every row's logits and every final state equal the prompt run alone and the CPU backend's.
// wkv_chunk_min_tokens 0 and 4: the same batch with every round sequential, and with the rounds
// whose sequences average >= 4 rows chunked (the sequential and chunked WKV meeting in one prompt);
// gemv_max_rows 16 and 0.
TEST_CASE("cuda rounds: ragged prompts prefill together as each alone, across round boundaries",
          "[gpu][cuda][rounds][batch][long]") {
  for (const char* file : kTinyModels) {
    check_ragged_prefill(file, 0, 16);  // every round sequential; short rounds on the decode path
    check_ragged_prefill(file, 4, 16);
    check_ragged_prefill(file, 4, 0);   // every round on the cuBLAS path
  }
}

TEST_CASE("cuda rounds: the prefill profile times prefill rounds only and changes no result",
          "[gpu][cuda][rounds]") {
  auto model = rwkv::load_model(testdata_path("models/tiny-rwkv-7v0-834K.pth"));
  const size_t V = (size_t)model->info.n_vocab;
  std::vector<int32_t> prompt(40);
  for (size_t t = 0; t < prompt.size(); ++t) prompt[t] = (int32_t)((t * 13 + 1) % V);
  std::vector<std::vector<float>> logits;
  for (bool profile : {false, true}) {
    rwkv::CudaOptions opt;
    opt.dtype = rwkv::DType::f32;
    opt.max_rows = 24;  // the 40-token prompt: two prefill rounds
    opt.profile_prefill = profile;
    rwkv::CudaBackend be(*model, opt);
    const size_t S = be.state_layout().size();
    rwkv::Batch b;
    b.logits = rwkv::LogitsMode::last;
    b.seqs.push_back({prompt.data(), prompt.size(), be.slot(0), S});
    logits.emplace_back(2 * V);
#if RWKV_CUDA_EMU
    const cuda_emu::Counters before = cuda_emu::counters();
#endif
    be.forward(b, logits.back().data());
#if RWKV_CUDA_EMU
    const uint64_t gemms = (cuda_emu::counters() - before).cublas_calls;
#endif
    const int32_t next = 3;
    b.seqs[0] = {&next, 1, be.slot(0), S};
    for (int step = 0; step < 3; ++step) be.forward(b, logits.back().data() + V);  // decode: graphs
    CHECK(be.graphs_captured() == 1);
    const rwkv::cuda::PrefillSplit split = be.prefill_split();
    using Part = rwkv::cuda::PrefillPart;
    if (!profile) {
      CHECK(split.rounds == 0);
      continue;
    }
    CHECK(split.rounds == 2);  // the decode steps are not profiled
    CHECK(split.round_ms >= 0);
    CHECK(split.part_ms(Part::gemm) >= 0);
    CHECK(split.part_ms(Part::wkv) >= 0);
    // Spans lie inside their rounds.
    CHECK(split.part_ms(Part::gemm) + split.part_ms(Part::wkv) <= split.round_ms + 1e-3);
    // Every WKV launch (one per layer and round) and every GEMM is inside a span of its part.
    CHECK(split.part_spans(Part::wkv) == 2 * model->info.n_layer);
#if RWKV_CUDA_EMU
    CHECK(split.part_spans(Part::gemm) == (long long)gemms);  // one span per cuBLAS call
#endif
    CHECK(split.part_spans(Part::gemm) > split.part_spans(Part::wkv));
    // A one-round prefill drawn on the device (forward_sample) is profiled too.
    rwkv::Sampler sampler{rwkv::SamplerParams{}};
    rwkv::Sampler* samplers[1] = {&sampler};
    int32_t drawn = 0;
    b.seqs[0] = {prompt.data(), 20, be.slot(0), S};
    be.forward_sample(b, samplers, &drawn);
    be.finish_sampling(samplers, 1);
    CHECK(be.prefill_split().rounds == 3);
    be.reset_prefill_split();
    CHECK(be.prefill_split().rounds == 0);
  }
  CHECK(logits[0] == logits[1]);  // bit for bit
}

namespace {

long long pieces_spans(const rwkv::cuda::PrefillSplit& s, rwkv::cuda::PrefillPiece piece) {
  return s.piece_spans[(int)piece];
}

// One profiled two-round prefill of `file` on the cuBLAS path (chunked WKV from 16 tokens): each
// kind of launch is marked as many times as the layers launch it, and (emulated build) every
// kernel launch of the rounds lies inside a piece's span.
void check_prefill_pieces(const char* file) {
  using rwkv::cuda::PrefillPiece;
  INFO(file);
  auto model = rwkv::load_model(testdata_path(file));
  const rwkv::ModelInfo& mi = model->info;
  rwkv::CudaOptions opt;
  opt.dtype = rwkv::DType::f32;
  opt.max_rows = 80;  // a 100-token prompt: rounds of 80 and 20 rows, both above gemv_max_rows
  opt.wkv_chunk_min_tokens = 16;
  opt.profile_prefill = true;
  rwkv::CudaBackend be(*model, opt);
  std::vector<int32_t> prompt(100);
  for (size_t t = 0; t < prompt.size(); ++t) prompt[t] = (int32_t)((t * 7 + 3) % (size_t)mi.n_vocab);
  rwkv::Batch b;
  b.logits = rwkv::LogitsMode::last;
  b.seqs.push_back({prompt.data(), prompt.size(), be.slot(0), be.state_layout().size()});
  std::vector<float> logits((size_t)mi.n_vocab);
#if RWKV_CUDA_EMU
  const cuda_emu::Counters before = cuda_emu::counters();
#endif
  be.forward(b, logits.data());
  const rwkv::cuda::PrefillSplit s = be.prefill_split();
  REQUIRE(s.rounds == 2);
  const long long rounds = 2, L = mi.n_layer;
  const bool v6 = mi.arch == rwkv::Arch::v6, v7 = mi.arch == rwkv::Arch::v7;
  CHECK(pieces_spans(s, PrefillPiece::gather) == rounds * 2);  // embedding, the last rows of x
  CHECK(pieces_spans(s, PrefillPiece::layernorm) == rounds);    // the head's: LN1 and LN2 start the mixes
  // LN1 with the time mix's first mixes (v6: then the ddlerp), LN2 with the channel mix's, the
  // shift store.
  CHECK(pieces_spans(s, PrefillPiece::shift) == rounds * L * (v6 ? 4 : 3));
  // LoRA middles (v6: maa and decay tanh; v7 one launch), relu^2 (v4-v6 also the receptance gate).
  CHECK(pieces_spans(s, PrefillPiece::activation) == rounds * L * (v6 ? 4 : 2));
  CHECK(pieces_spans(s, PrefillPiece::lora) == rounds * (v7 ? 8 * L - 2 : v6 ? 4 * L : 0));  // v7 layer 0: no v LoRA
  CHECK(pieces_spans(s, PrefillPiece::head) == rounds);
  // The full-width GEMMs by role: one call each a layer (k v r (g) batched in one); v7 has no
  // channel-mix receptance.
  for (PrefillPiece p : {PrefillPiece::att_proj, PrefillPiece::att_out, PrefillPiece::ffn_key, PrefillPiece::ffn_value})
    CHECK(pieces_spans(s, p) == rounds * L);
  CHECK(pieces_spans(s, PrefillPiece::ffn_r) == (v7 ? 0 : rounds * L));
  const bool passes = v7 && mi.head_size >= 32;  // the chunked v7 kernel in three passes
  for (PrefillPiece p : {PrefillPiece::wkv_prepare, PrefillPiece::wkv_carry, PrefillPiece::wkv_output})
    CHECK(pieces_spans(s, p) == (passes ? rounds * L : 0));
  CHECK(pieces_spans(s, PrefillPiece::wkv) == (passes ? 0 : rounds * L));
  double pieces_ms = 0;
  for (double ms : s.piece_ms) pieces_ms += ms;
  CHECK(pieces_ms <= s.round_ms + 1e-3);  // spans lie inside their rounds
  using rwkv::cuda::PrefillPart;
  CHECK(s.part_ms(PrefillPart::gemm) + s.part_ms(PrefillPart::wkv) + s.part_ms(PrefillPart::other) ==
        Approx(pieces_ms).margin(1e-6));  // every piece in one part
#if RWKV_CUDA_EMU
  const cuda_emu::Counters ran = cuda_emu::counters() - before;
  CHECK(s.part_spans(PrefillPart::gemm) == (long long)ran.cublas_calls);
  REQUIRE(s.launches_counted);
  // The rounds hold every launch (kernels and cuBLAS calls), and every launch lies in a piece's span.
  CHECK(s.round_launches == (long long)(ran.kernel_launches + ran.cublas_calls));
  long long in_pieces = 0;
  for (long long n : s.piece_launches) in_pieces += n;
  CHECK(in_pieces == s.round_launches);
  // One launch a span (dense weights: a GEMM is one cuBLAS call), except the chunked v4 and
  // v5/v6 WKV (several kernels in one span).
  for (PrefillPiece p : {PrefillPiece::att_proj, PrefillPiece::att_out, PrefillPiece::ffn_key,
                         PrefillPiece::ffn_value, PrefillPiece::ffn_r, PrefillPiece::lora, PrefillPiece::head,
                         PrefillPiece::gather,
                         PrefillPiece::layernorm, PrefillPiece::shift, PrefillPiece::activation,
                         PrefillPiece::wkv_prepare, PrefillPiece::wkv_carry, PrefillPiece::wkv_output})
    CHECK(s.piece_launches[(int)p] == pieces_spans(s, p));
#endif
}

}  // namespace

TEST_CASE("cuda rounds: the prefill profile marks every launch of a round as a piece of its part",
          "[gpu][cuda][rounds]") {
  for (const char* file : kTinyModels) check_prefill_pieces(file);
  check_prefill_pieces("models/synth-rwkv-v7-bf16.pth");  // N = 64: the chunked kernel's three passes
}

// CudaOptions::wkv_carry_split_slots reaches the chunked v7 kernel: at N = 64 the whole shape (0),
// the split one (8 slots: the model's 4 heads twice, not 4 times) and the quarter one (slots for
// every block) sum the state products in other orders, so their logits differ in the last bits,
// each within the fp32 bound of the CPU backend's; and the automatic choice is one of them.
TEST_CASE("cuda rounds: the chunked v7 prefill's pass-2 shape follows wkv_carry_split_slots",
          "[gpu][cuda][rounds]") {
  auto model = rwkv::load_model(testdata_path("models/synth-rwkv-v7-bf16.pth"));
  const rwkv::ModelInfo& mi = model->info;
  REQUIRE(mi.head_size == 64);
  const size_t V = (size_t)mi.n_vocab;
  std::vector<int32_t> prompt(96);
  for (size_t t = 0; t < prompt.size(); ++t) prompt[t] = (int32_t)((t * 11 + 5) % V);
  rwkv::CpuBackend cpu(*model);
  std::vector<float> cpu_state(cpu.state_layout().size()), expected(V);
  cpu.init_state(cpu_state.data());
  rwkv::Batch cb;
  cb.logits = rwkv::LogitsMode::last;
  cb.seqs.push_back({prompt.data(), prompt.size(), cpu_state.data(), cpu_state.size()});
  cpu.forward(cb, expected.data());
  std::vector<std::vector<float>> logits;
  REQUIRE(mi.n_head == 4);
  for (int slots : {0, 8, rwkv::cuda::kMaxCarrySplitSlots, -1}) {
    INFO("wkv_carry_split_slots " << slots);
    rwkv::CudaOptions opt;
    opt.dtype = rwkv::DType::f32;
    opt.wkv_chunk_min_tokens = 16;
    opt.wkv_carry_split_slots = slots;
    rwkv::CudaBackend be(*model, opt);
    rwkv::Batch b;
    b.logits = rwkv::LogitsMode::last;
    b.seqs.push_back({prompt.data(), prompt.size(), be.slot(0), be.state_layout().size()});
    logits.emplace_back(V);
    be.forward(b, logits.back().data());
    for (size_t i = 0; i < V; ++i) REQUIRE(std::fabs(logits.back()[i] - expected[i]) <= kTol);
  }
  CHECK(logits[0] != logits[1]);  // the three shapes ran
  CHECK(logits[1] != logits[2]);
  CHECK(logits[0] != logits[2]);
  CHECK((logits[3] == logits[0] || logits[3] == logits[1] || logits[3] == logits[2]));  // automatic: one of them
}

// The chunked WKV's operand parts (CudaOptions::wkv_split_parts) by the run's precision: three
// with fp32 weights, two with bf16 ones, three when asked; the option reaches the chunked kernels
// of v6 (kernels/wkv5_chunked.cu, v5.x's too) and v7 at N = 64 (two and three parts give other
// bits; the automatic choice is the two-part run's bits). Their errors against the goldens:
// test_cuda_golden.cpp.
TEST_CASE("cuda rounds: the chunked WKV's operand parts follow the weights' dtype and wkv_split_parts",
          "[gpu][cuda][rounds]") {
  for (const char* file : {"models/synth-rwkv-v6-bf16.pth", "models/synth-rwkv-v7-bf16.pth"}) {
    INFO(file);
    auto model = rwkv::load_model(testdata_path(file));
    REQUIRE(model->info.head_size == 64);
    const size_t V = (size_t)model->info.n_vocab;
    std::vector<int32_t> prompt(80);
    for (size_t t = 0; t < prompt.size(); ++t) prompt[t] = (int32_t)((t * 7 + 3) % V);
    auto run = [&](rwkv::DType dtype, int parts, int expect_parts) {
      rwkv::CudaOptions opt;
      opt.dtype = dtype;
      opt.wkv_chunk_min_tokens = 16;
      opt.wkv_split_parts = parts;
      rwkv::CudaBackend be(*model, opt);
      CHECK(be.wkv_split_parts() == expect_parts);
      rwkv::Batch b;
      b.logits = rwkv::LogitsMode::last;
      b.seqs.push_back({prompt.data(), prompt.size(), be.slot(0), be.state_layout().size()});
      std::vector<float> logits(V);
      be.forward(b, logits.data());
      return logits;
    };
    const std::vector<float> automatic = run(rwkv::DType::bf16, 0, 2);
    const std::vector<float> two = run(rwkv::DType::bf16, 2, 2);
    const std::vector<float> three = run(rwkv::DType::bf16, 3, 3);
    CHECK(automatic == two);
    CHECK(two != three);
    run(rwkv::DType::f32, 0, 3);
  }
}
