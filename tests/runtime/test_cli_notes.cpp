// tests/runtime/test_cli_notes.cpp: what the CLI says about input that loads but
// looks wrong (issue 17 item 9): a model whose depth no release of its width has
// (info's warning line and JSON array, generate's note), and bytes the 20B
// tokenizer replaced by U+FFFD.
#include <catch2/catch.hpp>

#include "cli_process_util.h"
#include "runtime/model/synth.h"

using namespace cli_test;

TEST_CASE("rwkv-run info and generate note a depth no release of the width has", "[cli][hardening]") {
  TempDir dir;
  const std::string cut = dir.file("cut.safetensors");
  // RWKV-7 0.1B's width (768) with 11 of its 12 layers, a 256-token vocabulary to stay small.
  rwkv::write_synth_safetensors(rwkv::synth_spec_of_width("7", 768, 11, 256), rwkv::DType::bf16, 1, cut);
  const Result info = run({"info", cut});
  REQUIRE(info.exit_code == 0);
  CHECK_THAT(info.out, Catch::Contains("warning:    ") && Catch::Contains("n_layer 11"));
  const Result json = run({"info", cut, "--json"});
  REQUIRE(json.exit_code == 0);
  CHECK_THAT(json.out, Catch::Contains("\"warnings\"") && Catch::Contains("n_layer 11"));
  const Result gen = run({"generate", "-m", cut, "-p", "a", "-n", "1", "--device", "cpu", "-t", "1", "--tokenizer",
                          "bytes", "-q"});
  CHECK(gen.exit_code == 0);
  CHECK_THAT(gen.err, Catch::Contains("note: ") && Catch::Contains("n_layer 11"));
  const Result whole = run({"info", tiny_model()});
  CHECK(whole.out.find("warning:") == std::string::npos);
}

TEST_CASE("rwkv-run tokenize notes the bytes the 20B tokenizer replaced by U+FFFD", "[cli][hardening]") {
  const std::string tok = testdata_path("tokenizer/20B_tokenizer.json");
  const Result bad = run({"tokenize", "--tokenizer", tok, "--text", "a\xff\xfe" "b"});
  CHECK(bad.exit_code == 0);
  CHECK_THAT(bad.err, Catch::Contains("note: 2 bytes of the input are not valid UTF-8"));
  const Result good = run({"tokenize", "--tokenizer", tok, "--text", "ab"});
  CHECK(good.exit_code == 0);
  CHECK(good.err.find("note:") == std::string::npos);
}
