// Tests that official .pth checkpoints load with the version, hyper-parameters,
// tensor names, shapes and values that testdata's manifests describe.
#include <catch2/catch.hpp>

#include <algorithm>

#include "runtime/core/half_float.h"
#include "runtime/model/model.h"
#include "runtime/tests_model_helpers.h"

using model_testdata::Expected;

TEST_CASE("pth: every testdata checkpoint loads with the manifests' version and hyper-parameters") {
  for (const Expected& e : model_testdata::pth_models()) {
    CAPTURE(e.file);
    auto m = rwkv::load_model(testdata_path(e.file));
    const rwkv::ModelInfo& in = m->info;
    CHECK(in.format == "pth");
    CHECK(std::string(rwkv::arch_name(in.arch)) == e.version);
    CHECK(in.n_embd == e.n_embd);
    CHECK(in.n_layer == e.n_layer);
    CHECK(in.n_vocab == e.n_vocab);
    CHECK(in.n_ffn == e.n_ffn);
    if (e.n_att >= 0) CHECK(in.n_att == e.n_att);
    if (e.n_head >= 0) CHECK(in.n_head == e.n_head);
    if (e.head_size >= 0) CHECK(in.head_size == e.head_size);
    check_lora(in, e.lora);
    if (e.params >= 0) CHECK(in.params == e.params);
  }
}

TEST_CASE("pth: tensor names and shapes equal those listed in the models manifests") {
  for (const Expected& e : model_testdata::pth_models()) {
    CAPTURE(e.file);
    REQUIRE(!e.shapes.empty());
    auto m = rwkv::load_model(testdata_path(e.file));
    CHECK(shapes_of(*m) == e.shapes);
  }
}

TEST_CASE("pth: synthetic checkpoints' extremes equal the bf16-rounded ranges in synthetic_models.json") {
  // The ranges were taken from the fp32 tensors before the cast to bf16;
  // rounding is monotonic, so min/max of the bf16 tensor are the rounded ones.
  for (const Expected& e : model_testdata::pth_models()) {
    if (e.ranges.empty()) continue;
    CAPTURE(e.file);
    auto m = rwkv::load_model(testdata_path(e.file));
    for (const auto& kv : e.ranges) {
      CAPTURE(kv.first);
      const rwkv::Tensor& t = m->get(kv.first);
      REQUIRE(t.dtype == rwkv::DType::bf16);
      std::vector<float> v = t.to_f32();
      auto mm = std::minmax_element(v.begin(), v.end());
      CHECK(*mm.first == rwkv::bf16_to_f32(rwkv::f32_to_bf16(float(kv.second.first))));
      CHECK(*mm.second == rwkv::bf16_to_f32(rwkv::f32_to_bf16(float(kv.second.second))));
    }
  }
}

TEST_CASE("pth: each tiny -bf16 checkpoint is its fp32 checkpoint rounded to bf16") {
  rwkv::Json tiny = model_testdata::read_json("models/tiny_models.json");
  for (const auto& kv : tiny.items()) {
    CAPTURE(kv.key());
    auto f32 = rwkv::load_model(testdata_path("models/" + kv.value().at("fp32").get<std::string>()));
    auto b16 = rwkv::load_model(testdata_path("models/" + kv.value().at("bf16").get<std::string>()));
    REQUIRE(f32->tensors().size() == b16->tensors().size());
    for (const auto& t : f32->tensors()) {
      CAPTURE(t.first);
      const rwkv::Tensor& a = t.second;
      const rwkv::Tensor& b = b16->get(t.first);
      REQUIRE(a.dtype == rwkv::DType::f32);
      REQUIRE(b.dtype == rwkv::DType::bf16);
      REQUIRE(a.shape == b.shape);
      int64_t bad = 0;
      for (int64_t i = 0; i < a.numel(); i++)
        if (rwkv::f32_to_bf16(a.at(i)) != rwkv::f32_to_bf16(b.at(i))) bad++;
      CHECK(bad == 0);
    }
  }
}

TEST_CASE("pth: tensor data are views into the mapped file, aligned for their dtype") {
  auto m = rwkv::load_model(testdata_path("models/tiny-rwkv-7v0-834K.pth"));
  const uint8_t* lo = m->file_->data();
  const uint8_t* hi = lo + m->file_->size();
  for (const auto& kv : m->tensors()) {
    const uint8_t* p = static_cast<const uint8_t*>(kv.second.data);
    CHECK(p >= lo);
    CHECK(p + kv.second.nbytes <= hi);
    CHECK(reinterpret_cast<uintptr_t>(p) % rwkv::dtype_size(kv.second.dtype) == 0);
  }
}
