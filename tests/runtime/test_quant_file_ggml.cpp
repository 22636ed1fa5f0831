// tests/runtime/test_quant_file_ggml.cpp: rwkv.cpp's quantized matrices load as our
// quantized tensors (ggml_to_quant, runtime/model/ggml_quant.h): every element of every
// imported tensor dequantizes to exactly ggml_dequantize's value, LoRA matrices come back transposed, and the rwkv-run CLI handles
// quantized files (quantize, info, convert, generate).
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "runtime/core/half_float.h"
#include "runtime/core/json.h"
#include "runtime/model/ggml_file.h"
#include "runtime/quant/quant_file.h"
#include "runtime/tests_model_helpers.h"

using Catch::Matchers::Contains;

namespace {

struct Run {
  int code = -1;
  std::string out;
};

// rwkv-run with `args` (shell-quoted), stdout captured, stderr folded into it.
Run rwkv_run(const std::string& args) {
  Run r;
  const std::string cmd = std::string("'") + RWKV_RUN_BINARY + "' " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p);
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string q(const std::string& s) { return "'" + s + "'"; }

std::vector<std::string> quantized_bins() {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(testdata_path("rwkvcpp"))) {
    const std::string name = e.path().filename().string();
    if (name.find("-Q") != std::string::npos && e.path().extension() == ".bin") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("ggml import: quantized matrices stay quantized and dequantize to ggml's values", "[quant][rwkvcpp]") {
  const auto bins = quantized_bins();
  REQUIRE(bins.size() >= 10);
  for (const std::string& path : bins) {
    CAPTURE(path);
    auto m = rwkv::load_model(path);
    auto mf = rwkv::MappedFile::open(path);
    const rwkv::GgmlFile raw = rwkv::read_ggml_records(*mf);
    int imported = 0;
    for (const rwkv::GgmlRecord& r : raw.records) {
      if (!rwkv::ggml_type_quantized(r.type) || r.shape.size() != 2) continue;
      CAPTURE(r.name, rwkv::ggml_type_name(r.type));
      const rwkv::Tensor& t = m->get(r.name);
      const rwkv::MatrixUse use = rwkv::matrix_use(m->info.arch, r.name, t.shape);
      if (use != rwkv::MatrixUse::linear && use != rwkv::MatrixUse::lora) {
        CHECK_FALSE(t.quantized());  // e.g. the embedding: expanded to fp32
        continue;
      }
      REQUIRE(t.quantized());
      imported++;
      const bool q4 = r.type == rwkv::GgmlType::q4_0 || r.type == rwkv::GgmlType::q4_1;
      CHECK(t.quant.kind == (q4 ? rwkv::QuantKind::q4 : rwkv::QuantKind::int8));
      CHECK(t.quant.group == 32);
      CHECK(t.quant_transposed == (use == rwkv::MatrixUse::lora));
      // The view is the stored [rows, cols] matrix, as applied.
      REQUIRE(t.quant.out == r.shape[0]);
      REQUIRE(t.quant.in == r.shape[1]);
      std::vector<float> want(size_t(r.numel()));
      rwkv::ggml_dequantize(r.type, r.data, uint64_t(r.numel()), want.data());
      const int64_t rows = r.shape[0], cols = r.shape[1];
      int64_t bad = 0, official_bad = 0;
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j) {
          const float got = t.quant.at(int(i), int(j)), ggml = want[size_t(i * cols + j)];
          if (got != ggml) {
            bad++;
          }
          // The official element: [i, j] for Linear weights, [j, i] for LoRA.
          const int64_t official = use == rwkv::MatrixUse::lora ? j * rows + i : i * cols + j;
          if (t.at(official) != got) official_bad++;
        }
      CHECK(bad == 0);
      CHECK(official_bad == 0);
    }
    CHECK(imported > 0);
  }
}

TEST_CASE("cli: quantize, info and convert on quantized files, generate matches --dtype at load", "[quant][cli]") {
  TempDir tmp;
  const std::string src = testdata_path("models/tiny-rwkv-7v0-834K.pth");
  const std::string out8 = tmp.path + "/m-int8.safetensors", out4 = tmp.path + "/m-q4.safetensors";
  Run r = rwkv_run("quantize " + q(src) + " " + q(out8) + " --dtype int8");
  REQUIRE(r.code == 0);
  CHECK_THAT(r.out, Contains("int8"));
  REQUIRE(rwkv_run("quantize -m " + q(src) + " " + q(out4) + " --dtype q4").code == 0);

  r = rwkv_run("info " + q(out8) + " --tensors");
  REQUIRE(r.code == 0);
  CHECK_THAT(r.out, Contains("int8 g64"));
  CHECK_THAT(r.out, Contains("blocks.0.att.w1"));
  r = rwkv_run("info " + q(out4) + " --json");
  REQUIRE(r.code == 0);
  const rwkv::Json j = rwkv::parse_json(r.out, "info --json");
  CHECK(j.at("dtypes").contains("q4 g32"));
  CHECK(j.at("params") == 829888);
  r = rwkv_run("info " + q(testdata_path("rwkvcpp/tiny-rwkv-5v2-730K-Q5_1.bin")));
  REQUIRE(r.code == 0);
  CHECK_THAT(r.out, Contains("int8 g32"));
  r = rwkv_run("info " + q(testdata_path("rwkvcpp/tiny-rwkv-4v0-660K-Q4_1.bin")));
  CHECK_THAT(r.out, Contains("q4 g32"));

  // The synthetic 7.2B v7: the device targets (7.8 GB int8, 4.3 GB q4).
  r = rwkv_run("info --synthetic v7-7.2B --json");
  REQUIRE(r.code == 0);
  const rwkv::Json s = rwkv::parse_json(r.out, "info --synthetic --json");
  const auto& bytes = s.at("backend_weight_bytes");
  CHECK(bytes.at("int8").get<double>() <= 7.8e9);
  CHECK(bytes.at("q4").get<double>() <= 4.3e9);
  CHECK(bytes.at("bf16").get<double>() > 14e9);

  // convert dequantizes
  r = rwkv_run("convert " + q(out4) + " " + q(tmp.path + "/dense.safetensors"));
  REQUIRE(r.code == 0);
  r = rwkv_run("info " + q(tmp.path + "/dense.safetensors") + " --json");
  CHECK_FALSE(rwkv::parse_json(r.out, "info").at("dtypes").contains("q4 g32"));

  // generate, greedy, on the CPU: the file and --dtype at load give the same text
  const std::string gen = " --device cpu -p Hi -n 24 --temp 0 --seed 1 -q";
  for (const auto& kv : {std::make_pair(out8, "int8"), std::make_pair(out4, "q4")}) {
    CAPTURE(kv.second);
    const Run a = rwkv_run("generate -m " + q(src) + " --dtype " + kv.second + gen);
    const Run b = rwkv_run("generate -m " + q(kv.first) + gen);
    REQUIRE(a.code == 0);
    REQUIRE(b.code == 0);
    CHECK(a.out == b.out);
    CHECK(a.out.size() >= 24);
  }
}

TEST_CASE("cli: quantize refuses bad arguments and unwritable outputs", "[quant][cli]") {
  TempDir tmp;
  const std::string src = q(testdata_path("models/tiny-rwkv-4v0-660K.pth"));
  Run r = rwkv_run("quantize " + src + " " + q(tmp.path + "/x.safetensors") + " --dtype int3");
  CHECK(r.code == 2);
  CHECK_THAT(r.out, Contains("--dtype must be int8 or q4"));
  CHECK(rwkv_run("quantize " + src + " " + q(tmp.path + "/x.safetensors")).code == 2);  // no --dtype
  CHECK(rwkv_run("quantize " + src + " --dtype int8").code == 2);                       // no OUT
  r = rwkv_run("quantize " + src + " " + q(tmp.path + "/no/such/dir/x.safetensors") + " --dtype q4");
  CHECK(r.code == 1);
  CHECK_THAT(r.out, Contains("the folder " + tmp.path + "/no/such/dir cannot be used"));
  CHECK(rwkv_run("quantize /nonexistent.pth " + q(tmp.path + "/x.safetensors") + " --dtype int8").code == 1);
  CHECK(rwkv_run("quantize --synthetic v9-tiny " + q(tmp.path + "/x.safetensors") + " --dtype int8").code == 1);
  CHECK(std::filesystem::is_empty(tmp.path));
  REQUIRE(rwkv_run("quantize --synthetic v6-tiny " + q(tmp.path + "/s.safetensors") + " --dtype q4").code == 0);
  CHECK(rwkv::load_model(tmp.path + "/s.safetensors")->get("head.weight").quantized());
}
