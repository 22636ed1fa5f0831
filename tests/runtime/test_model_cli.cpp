// Tests of `rwkv-run info`, `convert` and `synth` as a user runs them: exit
// codes, and info --json against testdata's manifests.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <cstdio>

#include "runtime/core/json.h"
#include "runtime/tests_model_helpers.h"

namespace {

struct Run {
  int code = -1;
  std::string out;
};

// Runs rwkv-run with `args` (already shell-quoted), capturing stdout; stderr is discarded.
Run rwkv_run(const std::string& args) {
  Run r;
  std::string cmd = std::string("'") + RWKV_RUN_BINARY + "' " + args + " 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p);
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string q(const std::string& s) { return "'" + s + "'"; }

}  // namespace

TEST_CASE("cli: info --json reports what the manifests say") {
  for (const auto& e : model_testdata::pth_models()) {
    CAPTURE(e.file);
    Run r = rwkv_run("info " + q(testdata_path(e.file)) + " --json");
    REQUIRE(r.code == 0);
    rwkv::Json j = rwkv::parse_json(r.out, "info --json");
    CHECK(j.at("format") == "pth");
    CHECK(j.at("version") == e.version);
    CHECK(j.at("n_embd") == e.n_embd);
    CHECK(j.at("n_layer") == e.n_layer);
    CHECK(j.at("n_vocab") == e.n_vocab);
    CHECK(j.at("n_ffn") == e.n_ffn);
    if (e.n_head >= 0) CHECK(j.at("n_head") == e.n_head);
    if (e.head_size >= 0) CHECK(j.at("head_size") == e.head_size);
    if (e.params >= 0) CHECK(j.at("params") == e.params);
    std::map<std::string, int> lora;
    if (const rwkv::Json* l = rwkv::json_find(j, "lora"))
      for (const auto& kv : l->items()) lora[kv.key()] = kv.value().get<int>();
    CHECK(lora == e.lora);
  }
}

TEST_CASE("cli: usage errors exit 2, run-time errors exit 1") {
  const std::string model = q(testdata_path("models/tiny-rwkv-4v0-660K.pth"));
  CHECK(rwkv_run("info").code == 2);
  CHECK(rwkv_run("info " + model + " --bogus").code == 2);
  CHECK(rwkv_run("info /nonexistent/model.pth").code == 1);
  CHECK(rwkv_run("info " + q(testdata_path("README.md"))).code == 1);
  CHECK(rwkv_run("convert " + model).code == 2);
  CHECK(rwkv_run("convert " + model + " /tmp/x.safetensors --dtype").code == 2);
  CHECK(rwkv_run("convert " + model + " /tmp/x.safetensors --dtype int4").code == 2);
  CHECK(rwkv_run("convert " + model + " /nonexistent/dir/x.safetensors").code == 1);
  CHECK(rwkv_run("synth --version 7 OUT").code == 2);
  CHECK(rwkv_run("synth --version 7 --size 1.5B --seed x OUT").code == 2);
  CHECK(rwkv_run("synth --version 7 --size 9B /tmp/never.safetensors").code == 1);
}

TEST_CASE("cli: convert writes a safetensors file that info reads back") {
  TempDir tmp;
  const std::string out = tmp.path + "/c.safetensors";
  Run c = rwkv_run("convert " + q(testdata_path("rwkvcpp/tiny-rwkv-5v2-730K-Q5_1.bin")) + " " + q(out) +
                   " --dtype fp16");
  REQUIRE(c.code == 0);
  Run r = rwkv_run("info -m " + q(out) + " --json");
  REQUIRE(r.code == 0);
  rwkv::Json j = rwkv::parse_json(r.out, "info --json");
  CHECK(j.at("format") == "safetensors");
  CHECK(j.at("version") == "5.2");
  CHECK(j.at("dtypes").size() == 1);
  CHECK(j.at("dtypes").begin().key() == "fp16");
}
