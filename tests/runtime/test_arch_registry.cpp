// Tests of the version registry (runtime/arch/): every version's schema
// accepts its synthetic model and the golden checkpoints, rejects a wrong shape
// naming the tensor; state pieces and load-time transforms follow
// docs/rwkv-math.md (sections 3.1-3.2, 4.2-4.3, 5.4, 6.1-6.2).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "runtime/arch/arch.h"
#include "runtime/arch/weights.h"
#include "runtime/backend/state_layout.h"
#include "runtime/model/synth.h"
#include "testdata.h"

namespace {

const rwkv::Arch kAll[] = {rwkv::Arch::v4,   rwkv::Arch::v5_0, rwkv::Arch::v5_1,
                           rwkv::Arch::v5_2, rwkv::Arch::v6,   rwkv::Arch::v7};

// A small model of version `a`: C = 64, 3 layers, heads of 16.
rwkv::SynthSpec small_spec(rwkv::Arch a) {
  rwkv::SynthSpec s;
  s.arch = a;
  s.size = "test";
  s.n_embd = 64;
  s.n_layer = 3;
  s.n_vocab = 100;
  s.n_ffn = 224;
  s.head_size = 16;
  s.lora_w = s.lora_a = s.lora_g = 16;
  s.lora_v = 8;
  s.lora_maa = 8;
  s.lora_decay = 16;
  return s;
}

// The golden checkpoints: official .pth files and rwkv.cpp files.
std::vector<std::string> golden_model_files() {
  std::vector<std::string> out;
  for (const char* dir : {"models", "rwkvcpp"})
    for (const auto& e : std::filesystem::directory_iterator(testdata_path(dir))) {
      const std::string ext = e.path().extension().string();
      if (ext == ".pth" || (ext == ".bin" && e.path().filename().string().rfind("tiny-", 0) == 0))
        out.push_back(e.path().string());
    }
  std::sort(out.begin(), out.end());
  return out;
}

// Every tensor of `m` is in the schema with its shape; every required one is in `m`.
void check_schema_matches(const rwkv::Model& m) {
  std::set<std::string> schema_names;
  int64_t params = 0;
  for (const rwkv::TensorSpec& t : rwkv::model_tensors(m.info, &m)) {
    CAPTURE(t.name);
    schema_names.insert(t.name);
    const rwkv::Tensor* have = m.find(t.name);
    if (!have) {
      CHECK_FALSE(t.required);
      continue;
    }
    CHECK(have->shape == t.shape);
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    params += n;
  }
  for (const auto& kv : m.tensors()) {
    CAPTURE(kv.first);
    CHECK(schema_names.count(kv.first) == 1);
  }
  CHECK(params == m.info.params);
}

// A copy of `src` (views of its tensors) with tensor `name` replaced by zeros of `shape`.
std::unique_ptr<rwkv::Model> reshaped(const rwkv::Model& src, const std::string& name, std::vector<int64_t> shape) {
  auto m = std::make_unique<rwkv::Model>();
  m->info.path = "edited";
  for (const auto& kv : src.tensors())
    if (kv.first != name) m->add_view(kv.second);
  rwkv::Tensor t;
  t.name = name;
  t.shape = std::move(shape);
  m->add_owned(t, std::vector<uint8_t>(size_t(t.numel()) * 4));
  return m;
}

}  // namespace

TEST_CASE("arch registry: one spec per version, names round-trip, dispatch predicates") {
  for (rwkv::Arch a : kAll) {
    CAPTURE(rwkv::arch_name(a));
    const rwkv::ArchSpec& spec = rwkv::arch_spec(a);
    CHECK(spec.arch() == a);
    rwkv::Arch back = rwkv::Arch::v7;
    REQUIRE(rwkv::arch_from_name(rwkv::arch_name(a), &back));
    CHECK(back == a);
    CHECK(spec.is_v5() == (a == rwkv::Arch::v5_0 || a == rwkv::Arch::v5_1 || a == rwkv::Arch::v5_2));
    CHECK(spec.has_heads() == (a != rwkv::Arch::v4));
  }
  rwkv::Arch unused;
  CHECK_FALSE(rwkv::arch_from_name("5", &unused));
  CHECK_FALSE(rwkv::arch_from_name("v7", &unused));
}

TEST_CASE("arch registry: every version's schema accepts its synthetic model") {
  for (rwkv::Arch a : kAll) {
    CAPTURE(rwkv::arch_name(a));
    auto m = rwkv::make_synth_model(small_spec(a), rwkv::DType::f32, 7);  // runs check_model
    CHECK(m->info.arch == a);
    CHECK(m->info.n_layer == 3);
    if (a != rwkv::Arch::v4) {
      CHECK(m->info.n_head == 4);
      CHECK(m->info.head_size == 16);
    }
    check_schema_matches(*m);
  }
}

TEST_CASE("arch registry: the schema accepts every golden checkpoint") {
  const std::vector<std::string> files = golden_model_files();
  REQUIRE(files.size() >= 10);
  std::set<rwkv::Arch> seen;
  for (const std::string& f : files) {
    CAPTURE(f);
    auto m = rwkv::load_model(f);
    seen.insert(m->info.arch);
    check_schema_matches(*m);
  }
  // The golden set covers v4, 5.1, 5.2, v6 and v7.
  CHECK(seen.size() == 5);
}

TEST_CASE("arch registry: a wrong shape is rejected naming the tensor and the expected shape") {
  for (rwkv::Arch a : kAll) {
    CAPTURE(rwkv::arch_name(a));
    auto m = rwkv::make_synth_model(small_spec(a), rwkv::DType::f32, 7);
    // Every tensor of layer 1 (the hyper-parameters come from layer 0) with an extra leading dimension.
    int tried = 0;
    for (const rwkv::TensorSpec& t : rwkv::model_tensors(m->info, m.get())) {
      if (t.name.rfind("blocks.1.", 0) != 0 || !m->find(t.name)) continue;
      CAPTURE(t.name);
      std::vector<int64_t> bad = t.shape;
      bad.insert(bad.begin(), 2);
      auto edited = reshaped(*m, t.name, bad);
      std::string error = "(accepted)";
      try {
        rwkv::check_model(*edited, "edited");
      } catch (const rwkv::Error& e) {
        error = e.what();
      }
      CHECK(error.find("tensor '" + t.name + "' has shape " + rwkv::shape_str(bad)) != std::string::npos);
      CHECK(error.find("expected") != std::string::npos);
      tried++;
    }
    CHECK(tried >= 15);
  }
}

TEST_CASE("arch registry: state pieces per layer and the initial state") {
  for (rwkv::Arch a : kAll) {
    CAPTURE(rwkv::arch_name(a));
    auto m = rwkv::make_synth_model(small_spec(a), rwkv::DType::f32, 7);
    const rwkv::ModelInfo& in = m->info;
    const rwkv::StateLayout layout(in);
    const size_t C = size_t(in.n_embd), L = size_t(in.n_layer);
    // v4: x_prev twice, then aa, bb, pp over the attention width; v5+: one [H,N,N] matrix.
    const size_t per_layer = a == rwkv::Arch::v4 ? 2 * C + 3 * size_t(in.n_att)
                                                 : 2 * C + size_t(in.n_head) * in.head_size * in.head_size;
    CHECK(layout.size() == L * per_layer);
    CHECK(layout.tensors().size() == L * (a == rwkv::Arch::v4 ? 5 : 3));
    CHECK(layout.tensors().front().name == "blocks.0.att.x_prev");
    CHECK(layout.tensors().back().name == "blocks.2.ffn.x_prev");
    const std::vector<float> s = rwkv::initial_state(*m, layout);
    for (const rwkv::StateTensor& t : layout.tensors()) {
      CAPTURE(t.name);
      const bool pp = t.name.find(".att.pp") != std::string::npos;
      for (size_t i = 0; i < t.numel; i++) REQUIRE(s[t.offset + i] == (pp ? -1e30f : 0.0f));
    }
  }
}

TEST_CASE("arch registry: load-time transforms follow the math of each version") {
  SECTION("v4: decay -exp(time_decay), bonus time_first as stored") {
    auto m = rwkv::make_synth_model(small_spec(rwkv::Arch::v4), rwkv::DType::f32, 3);
    const rwkv::ModelWeights w = rwkv::load_weights(*m);
    const std::vector<float> td = m->get("blocks.1.att.time_decay").to_f32();
    const std::vector<float> tf = m->get("blocks.1.att.time_first").to_f32();
    for (size_t i = 0; i < td.size(); i++) {
      CHECK(w.layers[1].decay[i] == -std::exp(td[i]));
      CHECK(w.layers[1].bonus[i] == tf[i]);
    }
  }
  SECTION("v5.0: per-head decay exp(-exp(w)) broadcast over the head, no gate") {
    auto m = rwkv::make_synth_model(small_spec(rwkv::Arch::v5_0), rwkv::DType::f32, 3);
    const rwkv::ModelWeights w = rwkv::load_weights(*m);
    const std::vector<float> td = m->get("blocks.2.att.time_decay").to_f32();  // [H]
    REQUIRE(td.size() == 4);
    for (size_t c = 0; c < 64; c++) CHECK(w.layers[2].decay[c] == std::exp(-std::exp(td[c / 16])));
    CHECK(w.layers[2].att_g.w.empty());
  }
  SECTION("v7: LoRA matrices transposed into [out, in]") {
    auto m = rwkv::make_synth_model(small_spec(rwkv::Arch::v7), rwkv::DType::f32, 3);
    const rwkv::ModelWeights w = rwkv::load_weights(*m);
    const rwkv::Tensor& w1 = m->get("blocks.1.att.w1");  // [C, D]
    const int C = int(w1.shape[0]), D = int(w1.shape[1]);
    REQUIRE(w.layers[1].w1.out == D);
    REQUIRE(w.layers[1].w1.in == C);
    for (int i = 0; i < C; i++)
      for (int o = 0; o < D; o++) REQUIRE(w.layers[1].w1.w[size_t(o) * C + i] == w1.at(int64_t(i) * D + o));
    CHECK_FALSE(w.layers[0].has_v_mix);
    CHECK(w.layers[1].has_v_mix);
  }
}

TEST_CASE("arch registry: rwkv.cpp detection and rules") {
  CHECK(rwkv::detect_ggml_arch({"blocks.0.att.x_rwkvag"}) == rwkv::Arch::v7);
  CHECK(rwkv::detect_ggml_arch({"blocks.0.att.time_maa_x"}) == rwkv::Arch::v6);
  CHECK(rwkv::detect_ggml_arch({"blocks.0.att.ln_x.weight"}) == rwkv::Arch::v5_2);
  CHECK(rwkv::detect_ggml_arch({"blocks.0.att.time_decay"}) == rwkv::Arch::v4);
  for (rwkv::Arch a : kAll) {
    CAPTURE(rwkv::arch_name(a));
    std::set<std::string> suffixes;
    for (const rwkv::GgmlRule& r : rwkv::arch_spec(a).ggml_rules()) {
      CHECK(suffixes.insert(r.suffix).second);
      CHECK((r.shape == rwkv::GgmlShape::split) == !r.parts.empty());
    }
  }
}

TEST_CASE("arch registry: dispatch predicates and LoRA widths agree with each golden checkpoint's tensors") {
  for (const std::string& f : golden_model_files()) {
    CAPTURE(f);
    auto m = rwkv::load_model(f);
    const rwkv::ModelInfo& in = m->info;
    const rwkv::ArchSpec& spec = rwkv::arch_spec(in.arch);
    auto has = [&](const char* name) { return m->find(name) != nullptr; };
    CHECK(spec.has_gate_matrix() == has("blocks.0.att.gate.weight"));
    CHECK(spec.has_ffn_receptance() == has("blocks.0.ffn.receptance.weight"));
    CHECK(spec.has_value_residual() == has("blocks.1.att.v1"));
    // v4/v5 store time_mix_* (current-weighted); v6 time_maa_*, v7 x_* (previous-weighted).
    CHECK(spec.mixes_toward_previous() == !has("blocks.0.att.time_mix_k"));
    // The LoRA widths are the second dimension of each LoRA's first matrix.
    std::map<std::string, int> expected;
    auto width = [&](const char* name, int64_t div) { return int(m->get(name).shape[1] / div); };
    if (has("blocks.1.att.w1")) {
      expected = {{"w", width("blocks.1.att.w1", 1)}, {"a", width("blocks.1.att.a1", 1)},
                  {"v", width("blocks.1.att.v1", 1)}, {"g", width("blocks.1.att.g1", 1)}};
    } else if (has("blocks.0.att.time_maa_w1")) {
      expected = {{"time_maa", width("blocks.0.att.time_maa_w1", 5)},
                  {"time_decay", width("blocks.0.att.time_decay_w1", 1)}};
    }
    std::map<std::string, int> got;
    for (const auto& w : spec.lora_widths(in)) got[w.name] = w.width;
    CHECK(got == expected);
  }
}
