// Tests that synthetic checkpoints have the released shapes, pass the loader's
// validation, and stream to safetensors exactly as built in memory.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "runtime/model/synth.h"
#include "runtime/tests_model_helpers.h"

namespace {

rwkv::SynthSpec small_spec(const std::string& version) {
  // A released spec scaled down: same structure, small sizes.
  rwkv::SynthSpec s = rwkv::synth_spec(version, rwkv::synth_sizes(version).front());
  s.size = "test";
  s.n_embd = 128;
  s.n_layer = 3;
  s.n_vocab = 300;
  s.n_ffn = 448;
  if (s.arch == rwkv::Arch::v7) s.lora_w = s.lora_a = s.lora_v = s.lora_g = 32;
  return s;
}

double nominal_params(const std::string& size) {  // "1.5B" -> 1.5e9, "169M" -> 1.69e8
  return std::stod(size) * (size.back() == 'B' ? 1e9 : 1e6);
}

}  // namespace

TEST_CASE("synth: every released size has a parameter count in line with its name") {
  // Release names are loose: most count all parameters (v4 169M: 169.3M), but
  // the small World models are named without their 65536-token embedding and
  // head (v7 "0.1B" has 0.19B in total). So: at least 0.9x, at most 2x the name.
  for (const char* v : {"4", "5.2", "6", "7"}) {
    for (const std::string& size : rwkv::synth_sizes(v)) {
      CAPTURE(v, size);
      rwkv::SynthSpec s = rwkv::synth_spec(v, size);
      double params = 0;
      for (const auto& e : rwkv::synth_tensors(s, rwkv::DType::bf16)) {
        double n = 1;
        for (int64_t d : e.shape) n *= double(d);
        params += n;
      }
      CHECK(params > 0.9 * nominal_params(size));
      CHECK(params < 2.0 * nominal_params(size));
    }
  }
  CHECK_THROWS_AS(rwkv::synth_spec("7", "9B"), rwkv::Error);
  CHECK_THROWS_AS(rwkv::synth_spec("8", "1.5B"), rwkv::Error);
}

TEST_CASE("synth: models of each version pass validation with the spec's hyper-parameters") {
  for (const char* v : {"4", "5.2", "6", "7"}) {
    CAPTURE(v);
    rwkv::SynthSpec s = small_spec(v);
    auto m = rwkv::make_synth_model(s, rwkv::DType::bf16, 7);
    CHECK(std::string(rwkv::arch_name(m->info.arch)) == v);
    CHECK(m->info.n_embd == s.n_embd);
    CHECK(m->info.n_layer == s.n_layer);
    CHECK(m->info.n_vocab == s.n_vocab);
    CHECK(m->info.n_ffn == s.n_ffn);
    if (s.arch != rwkv::Arch::v4) CHECK(m->info.head_size == s.head_size);
    CHECK(m->info.lora_w == s.lora_w);
    CHECK(m->info.lora_v == s.lora_v);
    CHECK(m->info.lora_g == s.lora_g);
    CHECK(m->info.lora_maa == s.lora_maa);
    CHECK(m->info.lora_decay == s.lora_decay);
    // layer 0 of v7 has no v0/v1/v2, as in the tiny released-format model
    if (s.arch == rwkv::Arch::v7) CHECK(m->find("blocks.0.att.v1") == nullptr);
  }
}

TEST_CASE("synth: streaming to safetensors writes the in-memory model, and seeds change values") {
  TempDir tmp;
  for (rwkv::DType dt : {rwkv::DType::bf16, rwkv::DType::f32}) {
    rwkv::SynthSpec s = small_spec("7");
    auto m = rwkv::make_synth_model(s, dt, 42);
    const std::string path = tmp.path + "/s.safetensors";
    int calls = 0;
    rwkv::write_synth_safetensors(s, dt, 42, path, [](void* u, uint64_t, uint64_t) { ++*static_cast<int*>(u); },
                                  &calls);
    CHECK(calls > 0);
    auto back = rwkv::load_model(path);
    REQUIRE(back->tensors().size() == m->tensors().size());
    for (const auto& kv : m->tensors()) {
      CAPTURE(kv.first);
      const rwkv::Tensor& b = back->get(kv.first);
      CHECK(b.dtype == dt);
      CHECK(b.shape == kv.second.shape);
      CHECK(std::memcmp(b.data, kv.second.data, b.nbytes) == 0);
    }
    auto other = rwkv::make_synth_model(s, dt, 43);
    CHECK(std::memcmp(other->get("emb.weight").data, m->get("emb.weight").data, 64) != 0);
  }
}

TEST_CASE("synth: values stay inside ranges a trained model has") {
  auto m = rwkv::make_synth_model(small_spec("7"), rwkv::DType::f32, 1);
  for (const auto& kv : m->tensors()) {
    CAPTURE(kv.first);
    std::vector<float> v = kv.second.to_f32();
    auto mm = std::minmax_element(v.begin(), v.end());
    CHECK(std::isfinite(*mm.first));
    CHECK(std::isfinite(*mm.second));
    CHECK(*mm.second > *mm.first);  // not constant
    if (kv.first.find(".x_") != std::string::npos) {
      CHECK(*mm.first >= 0.0f);
      CHECK(*mm.second <= 1.0f);
    }
    if (kv.first.find(".w0") != std::string::npos) CHECK(*mm.second < 0.0f);
  }
}
