// tests/runtime/test_quant_file.cpp: quantized safetensors files (runtime/quant/quant_file.h):
// a file written by write_quantized_safetensors loads to the same weights as quantizing
// at load (bit for bit), re-quantizing keeps or goes through fp32, hostile files are
// refused with an error naming the tensor, and the backend byte estimate
// (runtime/quant/weight_bytes.h) matches what load_weights holds.
#include <catch2/catch.hpp>

#include <cstring>
#include <fstream>
#include <iterator>
#include <map>

#include "runtime/arch/weights.h"
#include "runtime/core/half_float.h"
#include "runtime/engine/open_backend.h"
#include "runtime/model/readers.h"
#include "runtime/model/safetensors_writer.h"
#include "runtime/quant/quant_file.h"
#include "runtime/quant/weight_bytes.h"
#include "runtime/tests_model_helpers.h"

using Catch::Matchers::Contains;

namespace {

const char* kTinyModels[] = {"tiny-rwkv-4v0-660K", "tiny-rwkv-5v1-730K", "tiny-rwkv-5v2-730K",
                             "tiny-rwkv-6v0-1m", "tiny-rwkv-7v0-834K"};

std::string tiny_pth(const std::string& stem, bool bf16 = false) {
  return testdata_path("models/" + stem + (bf16 ? "-bf16" : "") + ".pth");
}

std::vector<rwkv::Linear*> linears(rwkv::ModelWeights& w) {
  std::vector<rwkv::Linear*> out = {&w.head};
  for (auto& L : w.layers) rwkv::for_each_linear(L, [&](rwkv::Linear& m) { out.push_back(&m); });
  return out;
}

bool same_quant(const rwkv::QuantMatrix& a, const rwkv::QuantMatrix& b) {
  return a.kind == b.kind && a.out == b.out && a.in == b.in && a.group == b.group && a.q == b.q &&
         a.scale == b.scale && a.min == b.min;
}

// Every Linear of the two weight sets holds the same quantized bytes (or the
// same fp32 values), and the embedding and head match.
void check_same_weights(rwkv::ModelWeights a, rwkv::ModelWeights b) {
  CHECK(a.emb == b.emb);
  CHECK(a.ln_out_w == b.ln_out_w);
  const auto la = linears(a), lb = linears(b);
  REQUIRE(la.size() == lb.size());
  int quantized = 0, differ = 0;
  for (size_t i = 0; i < la.size(); ++i) {
    if (la[i]->quantized() != lb[i]->quantized()) differ++;
    else if (la[i]->quantized()) differ += !same_quant(la[i]->q, lb[i]->q), quantized++;
    else differ += la[i]->w != lb[i]->w;
  }
  CHECK(differ == 0);
  CHECK(quantized > 0);
}

// A safetensors file of `header` (JSON) and `data`, read by read_safetensors only.
void read_raw(const std::string& header, const std::string& data) {
  std::vector<uint8_t> bytes;
  const uint64_t n = header.size();
  for (int k = 0; k < 8; k++) bytes.push_back(uint8_t(n >> (8 * k)));
  bytes.insert(bytes.end(), header.begin(), header.end());
  bytes.insert(bytes.end(), data.begin(), data.end());
  rwkv::Model m;
  rwkv::read_safetensors(rwkv::MappedFile::from_memory(bytes.data(), bytes.size(), "q.safetensors"), m);
  // Reading every element of every tensor must stay in bounds.
  for (const auto& kv : m.tensors()) kv.second.to_f32();
}

std::string entry(const std::string& name, const std::string& dtype, const std::string& shape, size_t begin,
                  size_t end) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" +
         std::to_string(begin) + "," + std::to_string(end) + "]}";
}

std::string meta(const std::string& kind, const std::string& transposed = "") {
  return "\"__metadata__\":{\"rwkv_run.quant\":\"1\",\"rwkv_run.quant_kind\":\"" + kind +
         "\",\"rwkv_run.quant_transposed\":\"" + transposed + "\"}";
}

}  // namespace

TEST_CASE("quant file: every version and kind loads to the weights --dtype int8|q4 makes at load", "[quant]") {
  TempDir tmp;
  for (const char* stem : kTinyModels)
    for (rwkv::QuantKind kind : {rwkv::QuantKind::int8, rwkv::QuantKind::q4}) {
      CAPTURE(stem, rwkv::quant_kind_name(kind));
      auto src = rwkv::load_model(tiny_pth(stem));
      const std::string out = tmp.path + "/q.safetensors";
      const rwkv::QuantizeReport r = rwkv::write_quantized_safetensors(*src, kind, out);
      CHECK(r.quantized > 0);
      CHECK(r.kept == 0);
      auto q = rwkv::load_model(out);
      CHECK(q->info.arch == src->info.arch);
      CHECK(q->info.params == src->info.params);
      REQUIRE(q->tensors().size() == src->tensors().size());
      int stored_quantized = 0;
      for (const auto& kv : q->tensors()) {
        const rwkv::Tensor& t = kv.second;
        CAPTURE(kv.first);
        CHECK(t.shape == src->get(kv.first).shape);
        const rwkv::MatrixUse use = rwkv::matrix_use(q->info.arch, t.name, t.shape);
        const bool matrix = use == rwkv::MatrixUse::linear || use == rwkv::MatrixUse::lora;
        // The head only under q4 (runtime/quant/quant_format.h quant_kind_covers_head).
        const bool covered = kv.first != "head.weight" || rwkv::quant_kind_covers_head(kind);
        CHECK(t.quantized() == (matrix && covered));
        if (!t.quantized()) continue;
        stored_quantized++;
        CHECK(t.quant.kind == kind);
        CHECK(t.quant.group == rwkv::default_quant_group(kind, t.quant.in));
        CHECK(t.quant_transposed == (use == rwkv::MatrixUse::lora));
      }
      CHECK(stored_quantized == r.quantized);
      // --dtype int8|q4 at load on the source; on the file, that and the format the
      // factory picks for it by default (runtime/engine/open_backend.h).
      rwkv::WeightFormat at_load;
      at_load.quantize = kind;
      check_same_weights(rwkv::load_weights(*src, at_load), rwkv::load_weights(*q, at_load));
      check_same_weights(rwkv::load_weights(*src, at_load),
                         rwkv::load_weights(*q, rwkv::weight_format(rwkv::BackendOptions{}, *q)));
    }
}

TEST_CASE("quant file: re-quantizing keeps a kind's tensors, another kind goes through fp32", "[quant]") {
  TempDir tmp;
  auto src = rwkv::load_model(tiny_pth("tiny-rwkv-7v0-834K", true));  // bf16: dense tensors keep bf16
  rwkv::write_quantized_safetensors(*src, rwkv::QuantKind::int8, tmp.path + "/a.safetensors");
  auto a = rwkv::load_model(tmp.path + "/a.safetensors");
  CHECK(a->get("blocks.0.ln1.weight").dtype == rwkv::DType::bf16);
  CHECK(a->get("emb.weight").dtype == rwkv::DType::bf16);
  CHECK_FALSE(a->get("emb.weight").quantized());

  const rwkv::QuantizeReport same = rwkv::write_quantized_safetensors(*a, rwkv::QuantKind::int8, tmp.path + "/b.safetensors");
  CHECK(same.quantized == 0);
  CHECK(same.kept > 0);
  auto b = rwkv::load_model(tmp.path + "/b.safetensors");
  for (const auto& kv : a->tensors()) {
    CAPTURE(kv.first);
    const rwkv::Tensor& x = kv.second;
    const rwkv::Tensor& y = b->get(kv.first);
    REQUIRE(x.quantized() == y.quantized());
    if (x.quantized())
      CHECK(same_quant(rwkv::copy_quant(x.quant), rwkv::copy_quant(y.quant)));
    else
      CHECK(std::memcmp(x.data, y.data, x.nbytes) == 0);
  }

  rwkv::write_quantized_safetensors(*a, rwkv::QuantKind::q4, tmp.path + "/c.safetensors");
  auto c = rwkv::load_model(tmp.path + "/c.safetensors");
  rwkv::WeightFormat q4;
  q4.quantize = rwkv::QuantKind::q4;
  check_same_weights(rwkv::load_weights(*a, q4), rwkv::load_weights(*c, q4));
}

TEST_CASE("quant file: rwkv.cpp matrices in the asked kind are kept as stored (group 32)", "[quant]") {
  TempDir tmp;
  auto g = rwkv::load_model(testdata_path("rwkvcpp/tiny-rwkv-7v0-834K-Q8_0.bin"));
  const rwkv::QuantizeReport r = rwkv::write_quantized_safetensors(*g, rwkv::QuantKind::int8, tmp.path + "/g.safetensors");
  CHECK(r.kept > 0);
  auto q = rwkv::load_model(tmp.path + "/g.safetensors");
  const rwkv::Tensor& k = q->get("blocks.0.att.key.weight");
  REQUIRE(k.quantized());
  CHECK(k.quant.group == 32);
  CHECK(same_quant(rwkv::copy_quant(k.quant), rwkv::copy_quant(g->get("blocks.0.att.key.weight").quant)));
  rwkv::WeightFormat int8;
  int8.quantize = rwkv::QuantKind::int8;
  check_same_weights(rwkv::load_weights(*g, int8), rwkv::load_weights(*q, int8));
}

TEST_CASE("quant file: dense output of a quantized model holds its dequantized values", "[quant]") {
  TempDir tmp;
  auto src = rwkv::load_model(tiny_pth("tiny-rwkv-6v0-1m"));
  rwkv::write_quantized_safetensors(*src, rwkv::QuantKind::q4, tmp.path + "/q.safetensors");
  auto q = rwkv::load_model(tmp.path + "/q.safetensors");
  rwkv::write_safetensors(*q, tmp.path + "/d.safetensors");
  auto d = rwkv::load_model(tmp.path + "/d.safetensors");
  for (const auto& kv : q->tensors()) {
    CAPTURE(kv.first);
    const rwkv::Tensor& t = d->get(kv.first);
    CHECK_FALSE(t.quantized());
    CHECK(t.shape == kv.second.shape);
    CHECK(t.to_f32() == kv.second.to_f32());
  }
}

TEST_CASE("quant file: hostile quantized entries are refused naming the tensor", "[quant]") {
  // head.weight as int8 [32, 64] with group 32: q 2048 bytes, scale 32 x 2 x 2 = 128 bytes.
  const std::string q8(2048, '\1'), sc(128, '\0');
  const std::string ok_int8 = "{" + meta("int8") + "," + entry("head.weight.qweight", "I8", "[32,64]", 0, 2048) + "," +
                              entry("head.weight.qscale", "F16", "[32,2]", 2048, 2176) + "," +
                              entry("head.weight.qmin", "F16", "[32,2]", 2176, 2304) + "}";
  REQUIRE_NOTHROW(read_raw(ok_int8, q8 + sc + sc));
  auto refused = [](const std::string& header, const std::string& data, const std::string& why) {
    CAPTURE(header);
    REQUIRE_THROWS_WITH(read_raw(header, data), Contains(why));
  };
  // truncated: the scales run past the end
  refused(ok_int8, q8 + sc.substr(0, 100), "beyond the end of the file");
  // wrong scale shape (rows)
  refused("{" + meta("int8") + "," + entry("head.weight.qweight", "I8", "[32,64]", 0, 2048) + "," +
              entry("head.weight.qscale", "F16", "[16,4]", 2048, 2176) + "}",
          q8 + sc, "head.weight.qscale has shape [16, 4]");
  // bad group: 4 groups of 16
  refused("{" + meta("int8") + "," + entry("head.weight.qweight", "I8", "[32,64]", 0, 2048) + "," +
              entry("head.weight.qscale", "F16", "[32,4]", 2048, 2304) + "}",
          q8 + std::string(256, '\0'), "group size must be a multiple of 32");
  // kind mismatch: I8 values in a q4 file
  refused("{" + meta("q4") + "," + entry("head.weight.qweight", "I8", "[32,64]", 0, 2048) + "," +
              entry("head.weight.qscale", "F16", "[32,2]", 2048, 2176) + "," +
              entry("head.weight.qmin", "F16", "[32,2]", 2176, 2304) + "}",
          q8 + sc + sc, "kind mismatch");
  // missing parts
  refused("{" + meta("int8") + "," + entry("head.weight.qweight", "I8", "[32,64]", 0, 2048) + "}", q8,
          "quantized tensor 'head.weight': missing part head.weight.qscale");
  refused("{" + meta("q4") + "," + entry("head.weight.qweight", "U8", "[32,32]", 0, 1024) + "," +
              entry("head.weight.qscale", "F16", "[32,2]", 1024, 1152) + "}",
          std::string(1024, '\0') + sc, "missing part head.weight.qmin");
  refused("{" + meta("int8") + "," + entry("head.weight.qscale", "F16", "[32,2]", 0, 128) + "}", sc,
          "missing part head.weight.qweight");
  // int8 without its offsets
  refused("{" + meta("int8") + "," + entry("head.weight.qweight", "I8", "[32,64]", 0, 2048) + "," +
              entry("head.weight.qscale", "F16", "[32,2]", 2048, 2176) + "}",
          q8 + sc, "missing part head.weight.qmin");
  // q4 offsets of another shape
  refused("{" + meta("q4") + "," + entry("head.weight.qweight", "U8", "[32,32]", 0, 1024) + "," +
              entry("head.weight.qscale", "F16", "[32,2]", 1024, 1152) + "," +
              entry("head.weight.qmin", "F16", "[32,1]", 1152, 1216) + "}",
          std::string(1024, '\0') + sc + sc.substr(0, 64), "head.weight.qmin and head.weight.qscale differ");
  // rows not a multiple of 32 inputs
  refused("{" + meta("int8") + "," + entry("head.weight.qweight", "I8", "[32,48]", 0, 1536) + "," +
              entry("head.weight.qscale", "F16", "[32,1]", 1536, 1600) + "}",
          std::string(1536, '\0') + sc.substr(0, 64), "not a multiple of 32");
  // unknown kind, unknown layout, parts without metadata, a stray transposed name
  refused("{" + meta("q3") + "}", "", "unknown quantized kind 'q3'");
  refused("{\"__metadata__\":{\"rwkv_run.quant\":\"2\"}}", "", "layout version '2'");
  refused("{" + entry("head.weight.qweight", "I8", "[32,64]", 0, 2048) + "}", q8, "no rwkv_run.quant");
  refused("{" + meta("int8", "blocks.0.att.w1") + "}", "", "names 'blocks.0.att.w1', which is not a quantized tensor");
  // I8 outside a quantized tensor; a dense and a quantized tensor of one name
  refused("{" + entry("head.weight", "I8", "[32,64]", 0, 2048) + "}", q8, "I8 and U8 only in quantized tensors");
  refused("{" + meta("int8") + "," + entry("head.weight", "F32", "[1]", 0, 4) + "," +
              entry("head.weight.qweight", "I8", "[32,64]", 4, 2052) + "," +
              entry("head.weight.qscale", "F16", "[32,2]", 2052, 2180) + "," +
              entry("head.weight.qmin", "F16", "[32,2]", 2180, 2308) + "}",
          std::string(4, '\0') + q8 + sc + sc, "duplicate tensor 'head.weight'");
}

TEST_CASE("quant file: fp16 parts at odd addresses are copied, not read misaligned", "[quant]") {
  // A hostile file can place a scale table at an odd offset; the tensor then owns a copy.
  std::vector<uint8_t> buf(64, 0);
  for (int i = 0; i < 32; ++i) buf[size_t(i)] = uint8_t(int8_t(i - 16));
  const uint16_t half = rwkv::f32_to_f16(0.5f), quarter = rwkv::f32_to_f16(0.25f);
  std::memcpy(&buf[33], &half, 2);     // odd addresses inside the vector
  std::memcpy(&buf[37], &quarter, 2);
  rwkv::QuantFileMeta m8;
  m8.present = true;
  m8.kind = rwkv::QuantKind::int8;
  std::map<std::string, std::map<std::string, rwkv::StoredPart>> parts;
  parts["head.weight"]["qweight"] = {"I8", {1, 32}, buf.data(), 32};
  parts["head.weight"]["qscale"] = {"F16", {1, 1}, buf.data() + 33, 2};
  parts["head.weight"]["qmin"] = {"F16", {1, 1}, buf.data() + 37, 2};
  rwkv::Model model;
  rwkv::add_quant_tensors(model, m8, parts, "odd");
  const rwkv::Tensor& t = model.get("head.weight");
  CHECK(reinterpret_cast<uintptr_t>(t.quant.scale) % 2 == 0);
  CHECK(reinterpret_cast<uintptr_t>(t.quant.min) % 2 == 0);
  for (int i = 0; i < 32; ++i) CHECK(t.at(i) == 0.5f * float(i - 16) + 0.25f);
}

TEST_CASE("weight bytes: the estimate is what load_weights holds, for every version and format", "[quant]") {
  for (const char* stem : kTinyModels) {
    auto model = rwkv::load_model(tiny_pth(stem));
    const auto tensors = rwkv::weight_tensors(*model);
    CHECK(rwkv::stored_weight_bytes(tensors) == uint64_t(model->info.params) * 4);
    for (rwkv::QuantKind kind : {rwkv::QuantKind::none, rwkv::QuantKind::int8, rwkv::QuantKind::q4})
      for (rwkv::DType dense : {rwkv::DType::f32, rwkv::DType::bf16}) {
        CAPTURE(stem, rwkv::quant_kind_name(kind), rwkv::dtype_name(dense));
        rwkv::WeightFormat f;
        f.quantize = kind;
        rwkv::ModelWeights w = rwkv::load_weights(*model, f);
        // What runtime/cuda/cuda_weights.cpp uploads: matrices in the dense dtype or
        // quantized, the embedding dense, every vector fp32.
        uint64_t held = w.emb.size() * rwkv::dtype_size(dense) + (w.ln_out_w.size() + w.ln_out_b.size()) * 4;
        for (rwkv::Linear* m : linears(w))
          held += m->quantized() ? m->q.bytes() : m->w.size() * rwkv::dtype_size(dense);
        for (const auto& L : w.layers)
          for (const auto* v : {&L.ln1_w, &L.ln1_b, &L.ln2_w, &L.ln2_b, &L.ln_x_w, &L.ln_x_b, &L.mix_k, &L.mix_v,
                                &L.mix_r, &L.mix_g, &L.decay, &L.bonus, &L.maa_x, &L.maa_w, &L.maa_k, &L.maa_v,
                                &L.maa_r, &L.maa_g, &L.decay_base, &L.x_r, &L.x_w, &L.x_k, &L.x_v, &L.x_a, &L.x_g,
                                &L.w0, &L.a0, &L.v0, &L.k_k, &L.k_a, &L.r_k, &L.ffn_mix_k, &L.ffn_mix_r})
            held += v->size() * 4;
        CHECK(rwkv::backend_weight_bytes(model->info, tensors, dense, kind) == held);
      }
  }
}

TEST_CASE("quant file: a matrix whose transposition is misstated fails the model check", "[quant]") {
  TempDir tmp;
  auto src = rwkv::load_model(tiny_pth("tiny-rwkv-7v0-834K"));
  const std::string path = tmp.path + "/q.safetensors";
  rwkv::write_quantized_safetensors(*src, rwkv::QuantKind::int8, path);
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  // Same length, so the header stays valid: a1 is no longer listed as transposed.
  const std::string from = "\"rwkv_run.quant_transposed\":\"blocks.0.att.a1,";
  const size_t at = bytes.find(from);
  REQUIRE(at != std::string::npos);
  bytes.replace(at + from.size() - 3, 2, "a2");
  auto file = rwkv::MappedFile::from_memory(bytes.data(), bytes.size(), "patched.safetensors");
  REQUIRE_THROWS_WITH(rwkv::load_model(file), Contains("tensor 'blocks.0.att.a1' has shape [32,64], expected"));
}
