// Tests that safetensors files written by the runtime load back identically,
// that dtype conversion rounds like PyTorch's casts, that the writer never
// leaves a partial file, and that the reader rejects malformed headers.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "runtime/core/half_float.h"
#include "runtime/model/model.h"
#include "runtime/model/safetensors_writer.h"
#include "runtime/tests_model_helpers.h"

namespace {

bool same_bytes(const rwkv::Tensor& a, const rwkv::Tensor& b) {
  return a.dtype == b.dtype && a.shape == b.shape && a.nbytes == b.nbytes &&
         std::memcmp(a.data, b.data, a.nbytes) == 0;
}

std::vector<std::string> dir_entries(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().filename().string());
  return out;
}

// Loads a safetensors file made of `header` (JSON) and `data`.
std::unique_ptr<rwkv::Model> load_raw_safetensors(const std::string& header, const std::string& data,
                                                  std::vector<uint8_t>* keep) {
  keep->clear();
  uint64_t n = header.size();
  for (int k = 0; k < 8; k++) keep->push_back(uint8_t(n >> (8 * k)));
  keep->insert(keep->end(), header.begin(), header.end());
  keep->insert(keep->end(), data.begin(), data.end());
  return rwkv::load_model(rwkv::MappedFile::from_memory(keep->data(), keep->size(), "test.safetensors"));
}

}  // namespace

TEST_CASE("safetensors: .pth and rwkv.cpp models written as safetensors load back identically") {
  TempDir tmp;
  std::vector<std::string> inputs;
  for (const auto& e : model_testdata::pth_models()) inputs.push_back(testdata_path(e.file));
  inputs.push_back(testdata_path("rwkvcpp/tiny-rwkv-7v0-834K-FP16.bin"));
  inputs.push_back(testdata_path("rwkvcpp/tiny-rwkv-6v0-3m-Q5_1.bin"));
  for (const std::string& in : inputs) {
    CAPTURE(in);
    auto a = rwkv::load_model(in);
    const std::string out = tmp.path + "/model.safetensors";
    rwkv::write_safetensors(*a, out);
    auto b = rwkv::load_model(out);
    CHECK(b->info.format == "safetensors");
    CHECK(b->info.arch == a->info.arch);
    CHECK(b->info.params == a->info.params);
    CHECK(b->info.n_head == a->info.n_head);
    REQUIRE(b->tensors().size() == a->tensors().size());
    for (const auto& kv : a->tensors()) {
      CAPTURE(kv.first);
      if (kv.second.quantized()) {  // written dense: its dequantized values in fp32
        const rwkv::Tensor& t = b->get(kv.first);
        CHECK(t.dtype == rwkv::DType::f32);
        CHECK(t.shape == kv.second.shape);
        CHECK(t.to_f32() == kv.second.to_f32());
        continue;
      }
      CHECK(same_bytes(kv.second, b->get(kv.first)));
      CHECK(reinterpret_cast<uintptr_t>(b->get(kv.first).data) % rwkv::dtype_size(kv.second.dtype) == 0);
    }
  }
  CHECK(dir_entries(tmp.path) == std::vector<std::string>{"model.safetensors"});
}

TEST_CASE("safetensors: converting fp32 to bf16 reproduces PyTorch's cast (the -bf16 .pth files)") {
  TempDir tmp;
  rwkv::Json tiny = model_testdata::read_json("models/tiny_models.json");
  for (const auto& kv : tiny.items()) {
    CAPTURE(kv.key());
    auto f32 = rwkv::load_model(testdata_path("models/" + kv.value().at("fp32").get<std::string>()));
    auto torch_bf16 = rwkv::load_model(testdata_path("models/" + kv.value().at("bf16").get<std::string>()));
    const rwkv::DType bf16 = rwkv::DType::bf16;
    rwkv::write_safetensors(*f32, tmp.path + "/b.safetensors", &bf16);
    auto ours = rwkv::load_model(tmp.path + "/b.safetensors");
    for (const auto& t : torch_bf16->tensors()) {
      CAPTURE(t.first);
      CHECK(same_bytes(t.second, ours->get(t.first)));
    }
  }
}

TEST_CASE("safetensors: converting to fp16 and back to fp32 keeps the fp16-rounded values") {
  TempDir tmp;
  auto f32 = rwkv::load_model(testdata_path("models/tiny-rwkv-5v2-730K.pth"));
  const rwkv::DType f16 = rwkv::DType::f16, fp32 = rwkv::DType::f32;
  rwkv::write_safetensors(*f32, tmp.path + "/h.safetensors", &f16);
  auto half = rwkv::load_model(tmp.path + "/h.safetensors");
  rwkv::write_safetensors(*half, tmp.path + "/f.safetensors", &fp32);
  auto back = rwkv::load_model(tmp.path + "/f.safetensors");
  for (const auto& kv : f32->tensors()) {
    CAPTURE(kv.first);
    const rwkv::Tensor& h = half->get(kv.first);
    const rwkv::Tensor& b = back->get(kv.first);
    REQUIRE(h.dtype == rwkv::DType::f16);
    REQUIRE(b.dtype == rwkv::DType::f32);
    int64_t differ = 0;
    for (int64_t i = 0; i < kv.second.numel(); i++) {
      float want = rwkv::f16_to_f32(rwkv::f32_to_f16(kv.second.at(i)));
      if (rwkv::f32_bits(h.at(i)) != rwkv::f32_bits(want) || rwkv::f32_bits(b.at(i)) != rwkv::f32_bits(want))
        differ++;
    }
    CHECK(differ == 0);
  }
}

TEST_CASE("safetensors: the writer leaves no file behind when it fails or is abandoned") {
  TempDir tmp;
  const std::string out = tmp.path + "/x.safetensors";
  std::vector<rwkv::SafetensorsEntry> entries = {{"a", rwkv::DType::f32, {2, 3}},
                                                 {"b", rwkv::DType::bf16, {4}}};
  {  // abandoned half way
    rwkv::SafetensorsWriter w(out, entries);
    float v[6] = {1, 2, 3, 4, 5, 6};
    w.write_f32(v, 6);
  }
  CHECK(dir_entries(tmp.path).empty());
  {  // finish() with a tensor missing
    rwkv::SafetensorsWriter w(out, entries);
    float v[6] = {1, 2, 3, 4, 5, 6};
    w.write_f32(v, 6);
    CHECK_THROWS_AS(w.finish(), rwkv::Error);
  }
  CHECK(dir_entries(tmp.path).empty());
  {  // too much data
    rwkv::SafetensorsWriter w(out, entries);
    float v[12] = {};
    CHECK_THROWS_AS(w.write_f32(v, 12), rwkv::Error);
  }
  CHECK(dir_entries(tmp.path).empty());
  // an existing file is replaced only when the new one is complete
  {
    std::ofstream(out) << "old";
    rwkv::SafetensorsWriter w(out, entries);
    float v[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    w.write_f32(v, 6);
    CHECK(model_testdata::read_text(out) == "old");
    w.write_f32(v + 6, 4);
    w.finish();
  }
  CHECK(dir_entries(tmp.path) == std::vector<std::string>{"x.safetensors"});
  CHECK_THROWS_AS(rwkv::SafetensorsWriter(tmp.path + "/no/such/dir/y.safetensors", entries), rwkv::Error);
}

TEST_CASE("safetensors: malformed headers are rejected with a message") {
  std::vector<uint8_t> keep;
  const std::string data(16, '\0');
  auto message = [&](const std::string& header) -> std::string {
    try {
      load_raw_safetensors(header, data, &keep);
    } catch (const rwkv::Error& e) {
      return e.what();
    }
    return "(loaded)";
  };
  CHECK_THAT(message(R"({"t":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}})"),
             Catch::Contains("F64"));
  CHECK_THAT(message(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,12]}})"),
             Catch::Contains("data_offsets"));
  CHECK_THAT(message(R"({"t":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}})"),
             Catch::Contains("beyond the end"));
  CHECK_THAT(message(R"({"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})"),
             Catch::Contains("non-negative"));
  CHECK_THAT(message(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})"),
             Catch::Contains("duplicate key"));
  CHECK_THAT(message(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4],}})"),
             Catch::Contains("invalid JSON"));
  CHECK_THAT(message(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}})"),
             Catch::Contains("exactly"));
  CHECK_THAT(message(R"({"__metadata__":{"format":"pt"},"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})"),
             Catch::Contains("emb.weight"));  // valid file, but not an RWKV model
  CHECK_THAT(message("[1,2,3]"), Catch::Contains("not a recognised model file"));
}
