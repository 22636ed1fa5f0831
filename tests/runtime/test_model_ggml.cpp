// Tests that rwkv.cpp ggml files load back into the official model: same
// version, hyper-parameters, names and shapes as the .pth twin and its
// manifests, and the same values (exactly for FP32, fp16-rounded for FP16,
// within the quantisation error for Q4_0..Q8_0).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "runtime/model/ggml_file.h"
#include "runtime/core/half_float.h"
#include "runtime/model/model.h"
#include "runtime/tests_model_helpers.h"

namespace {

struct BinFile {
  std::string path;  // absolute
  std::string tag;   // e.g. "7v0-834K"
  std::string type;  // e.g. "Q5_1"
};

// Every model file in testdata/rwkvcpp (not the expected-logits files).
std::vector<BinFile> bin_files() {
  std::vector<BinFile> out;
  for (const auto& e : std::filesystem::directory_iterator(testdata_path("rwkvcpp"))) {
    std::string name = e.path().filename().string();
    if (name.rfind("tiny-rwkv-", 0) != 0 || e.path().extension() != ".bin") continue;
    std::string stem = name.substr(10, name.size() - 10 - 4);  // "7v0-834K-Q5_1"
    size_t dash = stem.rfind('-');
    out.push_back({e.path().string(), stem.substr(0, dash), stem.substr(dash + 1)});
  }
  std::sort(out.begin(), out.end(), [](const BinFile& a, const BinFile& b) { return a.path < b.path; });
  return out;
}

const model_testdata::Expected* expected_for_tag(const std::vector<model_testdata::Expected>& all,
                                                 const std::string& tag) {
  for (const auto& e : all)
    if (e.file == "models/tiny-rwkv-" + tag + ".pth") return &e;
  return nullptr;
}

double ulp16(uint16_t h) {
  int e = (h >> 10) & 31;
  return e == 0 ? std::ldexp(1.0, -24) : std::ldexp(1.0, e - 25);
}

uint16_t u16_at(const uint8_t* p) { return uint16_t(p[0] | p[1] << 8); }

// The integer level q of element j of a block, read from the file bytes
// (ggml block layouts as documented in docs/testdata.md section 3), and the level
// that stands for zero (so x ~ (q - zero) * d (+ m)).
void raw_level(rwkv::GgmlType t, const uint8_t* blk, int j, int* q, int* zero, int* qmax) {
  using rwkv::GgmlType;
  auto nibble = [&](const uint8_t* qs) { return j < 16 ? qs[j] & 15 : qs[j - 16] >> 4; };
  auto qh_bit = [&](const uint8_t* qh) {
    uint32_t h = uint32_t(qh[0]) | uint32_t(qh[1]) << 8 | uint32_t(qh[2]) << 16 | uint32_t(qh[3]) << 24;
    return int((h >> j) & 1u) << 4;
  };
  switch (t) {
    case GgmlType::q4_0: *q = nibble(blk + 2); *zero = 8; *qmax = 15; break;
    case GgmlType::q4_1: *q = nibble(blk + 4); *zero = 0; *qmax = 15; break;
    case GgmlType::q5_0: *q = nibble(blk + 6) | qh_bit(blk + 2); *zero = 16; *qmax = 31; break;
    case GgmlType::q5_1: *q = nibble(blk + 8) | qh_bit(blk + 4); *zero = 0; *qmax = 31; break;
    case GgmlType::q8_0: *q = int8_t(blk[2 + j]); *zero = 0; *qmax = 127; break;
    default: FAIL("not a quantised type");
  }
}

}  // namespace

TEST_CASE("ggml: every rwkv.cpp file loads with the version, hyper-parameters and shapes of the manifests") {
  auto expected = model_testdata::pth_models();
  auto files = bin_files();
  // Every model file that MANIFEST.sha256 lists is there.
  std::string manifest = model_testdata::read_text(testdata_path("MANIFEST.sha256"));
  size_t listed = 0;
  for (size_t p = 0; (p = manifest.find("rwkvcpp/tiny-rwkv-", p)) != std::string::npos; p++) listed++;
  REQUIRE(listed > 0);
  REQUIRE(files.size() == listed);
  for (const BinFile& f : files) {
    CAPTURE(f.path);
    auto m = rwkv::load_model(f.path);
    const rwkv::ModelInfo& in = m->info;
    CHECK(in.format == "ggml");
    const model_testdata::Expected* e = expected_for_tag(expected, f.tag);
    if (!e) {
      // 6v0-3m ships only as Q5_1 and is in no manifest: it must load as v6.
      CHECK(in.arch == rwkv::Arch::v6);
      continue;
    }
    CHECK(std::string(rwkv::arch_name(in.arch)) == e->version);
    CHECK(in.n_embd == e->n_embd);
    CHECK(in.n_layer == e->n_layer);
    CHECK(in.n_vocab == e->n_vocab);
    CHECK(in.n_ffn == e->n_ffn);
    if (e->n_head >= 0) CHECK(in.n_head == e->n_head);
    if (e->head_size >= 0) CHECK(in.head_size == e->head_size);
    check_lora(in, e->lora);
    CHECK(shapes_of(*m) == e->shapes);
  }
}

TEST_CASE("ggml: FP32 files give the .pth tensors bit for bit, inverse transforms included") {
  // The inverse transforms (log(-x), log(-log(x)), log(x)) are computed in
  // double and rounded once; on these files that reproduces the official
  // fp32 values exactly, so no ulp tolerance is needed.
  for (const BinFile& f : bin_files()) {
    if (f.type != "FP32") continue;
    CAPTURE(f.path);
    auto g = rwkv::load_model(f.path);
    auto p = rwkv::load_model(testdata_path("models/tiny-rwkv-" + f.tag + ".pth"));
    REQUIRE(g->tensors().size() == p->tensors().size());
    for (const auto& kv : p->tensors()) {
      CAPTURE(kv.first);
      const rwkv::Tensor& a = kv.second;
      const rwkv::Tensor& b = g->get(kv.first);
      REQUIRE(a.shape == b.shape);
      REQUIRE(b.dtype == rwkv::DType::f32);
      int64_t differ = 0;
      for (int64_t i = 0; i < a.numel(); i++)
        if (rwkv::f32_bits(a.at(i)) != rwkv::f32_bits(b.at(i))) differ++;
      CHECK(differ == 0);
    }
  }
}

TEST_CASE("ggml: FP16 files hold the .pth tensors rounded to fp16") {
  int files = 0;
  for (const BinFile& f : bin_files()) {
    if (f.type != "FP16") continue;
    files++;
    CAPTURE(f.path);
    auto g = rwkv::load_model(f.path);
    auto p = rwkv::load_model(testdata_path("models/tiny-rwkv-" + f.tag + ".pth"));
    int64_t halves = 0;
    for (const auto& kv : p->tensors()) {
      CAPTURE(kv.first);
      const rwkv::Tensor& a = kv.second;
      const rwkv::Tensor& b = g->get(kv.first);
      REQUIRE(a.shape == b.shape);
      int64_t differ = 0;
      for (int64_t i = 0; i < a.numel(); i++) {
        // fp16 tensors: exactly the round-to-nearest-even fp16 of the official
        // value; the rest (1-D tensors rwkv.cpp keeps in fp32): identical.
        float want = b.dtype == rwkv::DType::f16 ? rwkv::f16_to_f32(rwkv::f32_to_f16(a.at(i))) : a.at(i);
        if (rwkv::f32_bits(want) != rwkv::f32_bits(b.at(i))) differ++;
      }
      CHECK(differ == 0);
      if (b.dtype == rwkv::DType::f16) halves++;
    }
    CHECK(halves > 0);
  }
  CHECK(files >= 2);
}

TEST_CASE("ggml: quantised tensors are within half a quantisation step of the FP32 file's") {
  // ggml's quantisers pick q = round(x / d) (Q4_1/Q5_1: round((x - m) / d))
  // with the fp32 scale d, then store d (and m) as fp16. So
  //   |x - deq| <= s * d + |q - zero| * |d - d16| + |m - m16|
  // with s = 1/2, except s = 1 at the top level of Q4_0/Q5_0 (q clamped to
  // 15 / 31: the range is asymmetric), and |d - d16| <= ulp16(d16) / 2.
  // A 2^-20 relative term covers the fp32 arithmetic of both sides.
  int files = 0;
  for (const BinFile& f : bin_files()) {
    if (f.type[0] != 'Q') continue;
    const std::string ref_path = testdata_path("rwkvcpp/tiny-rwkv-" + f.tag + "-FP32.bin");
    if (!std::filesystem::exists(ref_path)) continue;  // 6v0-3m: no unquantised file
    files++;
    CAPTURE(f.path);
    auto ref = rwkv::load_model(ref_path);
    auto m = rwkv::load_model(f.path);
    auto mf = rwkv::MappedFile::open(f.path);
    rwkv::GgmlFile raw = rwkv::read_ggml_records(*mf);
    int64_t checked = 0;
    for (const rwkv::GgmlRecord& r : raw.records) {
      if (!rwkv::ggml_type_quantized(r.type)) continue;
      CAPTURE(r.name);
      // Quantised records in these files are the big matrices, stored as is.
      const rwkv::Tensor& a = ref->get(r.name);
      const rwkv::Tensor& b = m->get(r.name);
      REQUIRE(a.shape == r.shape);
      REQUIRE(b.shape == r.shape);
      const bool has_min = r.type == rwkv::GgmlType::q4_1 || r.type == rwkv::GgmlType::q5_1;
      // The values ggml's dequantiser gives (the loaded tensor holds them, or for
      // Q5_1 their int8 re-rounding: test_quant_file_ggml.cpp checks that).
      std::vector<float> ggml_values(size_t(a.numel()));
      rwkv::ggml_dequantize(r.type, r.data, uint64_t(a.numel()), ggml_values.data());
      int64_t bad = 0;
      for (int64_t i = 0; i < a.numel(); i++) {
        const uint8_t* blk = r.data + size_t(i / 32) * rwkv::ggml_block_bytes(r.type);
        const uint16_t dh = u16_at(blk), mh = has_min ? u16_at(blk + 2) : 0;
        const double d16 = std::fabs(rwkv::f16_to_f32(dh));
        const double m16 = has_min ? rwkv::f16_to_f32(mh) : 0.0;
        int q = 0, zero = 0, qmax = 0;
        raw_level(r.type, blk, int(i % 32), &q, &zero, &qmax);
        const double k = std::abs(q - zero);
        const double s = (q == qmax && zero > 0) ? 1.0 : 0.5;
        const double x = a.at(i), deq = ggml_values[size_t(i)];
        // the dequantiser itself: (q - zero) * d16 + m16
        if (deq != double(float(float(q - zero) * rwkv::f16_to_f32(dh) + float(m16)))) bad++;
        const double bound = s * (d16 + ulp16(dh) / 2) + k * ulp16(dh) / 2 +
                             (has_min ? ulp16(mh) / 2 : 0.0) +
                             std::ldexp(std::fabs(x) + k * d16 + std::fabs(m16), -20);
        if (std::fabs(x - deq) > bound) bad++;
        checked++;
      }
      CHECK(bad == 0);
    }
    CHECK(checked > 0);
  }
  CHECK(files >= 10);
}
