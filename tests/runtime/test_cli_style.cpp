// Tests of the one option style of every rwkv-run command (tools/rwkv-run/cli_args.h):
// -m FILE, --help, one-line usage errors with exit 2 (unknown options, malformed
// and out-of-range numbers, unknown names), --json [FILE] with any file name,
// --device auto, and rwkv-run --version.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "runtime/cli_process_util.h"
#include "runtime/core/json.h"

using cli_test::run;
using cli_test::tiny_model;

namespace {

const char* const kCommands[] = {"generate", "chat",   "selfcheck", "tokenize", "detokenize",
                                 "logits",   "info",   "convert",   "synth",    "bench"};

// A usage error: exit 2, nothing on stdout, one line on stderr that names the
// command and ends with the pointer to its --help.
void check_usage_error(const std::vector<std::string>& args) {
  std::string line;
  for (const auto& a : args) line += a + " ";
  INFO(line);
  const auto r = run(args, "");
  INFO(r.err);
  CHECK(r.exit_code == 2);
  CHECK(r.out.empty());
  CHECK(cli_test::one_error_line(r.err, args[0]));
  const std::string pointer = "(see rwkv-run " + args[0] + " --help)\n";
  CHECK(r.err.size() > pointer.size());
  CHECK(r.err.compare(r.err.size() - pointer.size(), pointer.size(), pointer) == 0);
}

}  // namespace

TEST_CASE("rwkv-run: every command has --help and refuses an unknown option", "[cli][style]") {
  for (const char* cmd : kCommands) {
    INFO(cmd);
    const auto help = run({cmd, "--help"});
    CHECK(help.exit_code == 0);
    CHECK(help.out.find(std::string("Usage: rwkv-run ") + cmd) != std::string::npos);
    CHECK(help.out.find("-h, --help") != std::string::npos);
    check_usage_error({cmd, "--frobnicate"});
    check_usage_error({cmd, "--frobnicate=3"});
  }
}

TEST_CASE("rwkv-run: malformed and out-of-range numbers and unknown names are usage errors", "[cli][style]") {
  const std::string m = tiny_model();
  const std::vector<std::vector<std::string>> bad = {
      {"generate", "-m", m, "-p", "x", "--threads", "two"},
      {"generate", "-m", m, "-p", "x", "--threads", "-1"},
      {"generate", "-m", m, "-p", "x", "--device", "tpu"},
      {"chat", "-m", m, "--threads", "1.5"},
      {"chat", "-m", m, "--dtype", "int3"},
      {"chat", "-m", m, "--state-dtype", "fp16"},
      {"generate", "-m", m, "-p", "x", "--state-dtype", "int8"},
      {"logits", "-m", m, "--tokens", "1", "--out", "x.f32", "--threads", "x"},
      {"logits", "-m", m, "--tokens", "1", "--out", "x.f32", "--threads", "5000"},
      {"logits", "-m", m, "--tokens", "1", "--out", "x.f32", "--dtype", "fp8"},
      {"logits", "-m", m, "--tokens", "1", "--out", "x.f32", "--state-dtype", "fp8"},
      {"logits", "-m", m, "--tokens", "1", "--out", "x.f32", "--device", "gpu"},
      {"logits", "-m", m, "--tokens", "1", "--out", "x.f32", "--mode", "fast"},
      {"logits", "-m", m, "--tokens", "1,x", "--out", "x.f32"},
      {"logits", "-m", m, "--tokens", "1"},
      {"bench", "--synthetic", "v4-tiny", "--threads", "many"},
      {"bench", "--synthetic", "v4-tiny", "--device", "cuda:x"},
      {"bench", "--synthetic", "v4-tiny", "--repeat", "0"},
      {"bench", "--synthetic", "v4-tiny", "--bandwidth-gbs", "-5"},
      {"bench", "--synthetic", "v4-tiny", "--tg", "1e3"},
      {"bench", "--synthetic", "v4-tiny", "--state-dtype", "fp16"},
      {"synth", "--version", "7", "--size", "0.1B", "--seed", "-1", "out.safetensors"},
      {"synth", "--version", "7", "--size", "0.1B", "--dtype", "q4", "out.safetensors"},
      {"convert", m, "out.safetensors", "--dtype", "int4"},
      {"detokenize", "--tokenizer", "bytes", "--ids", "1,,x"},
      {"tokenize", "--tokenizer", "bytes"},
      {"info"},
      {"info", "-m", m, m},
  };
  for (const auto& args : bad) check_usage_error(args);
}

TEST_CASE("rwkv-run: --state-dtype is offered by generate, chat, logits and bench", "[cli][style]") {
  for (const char* cmd : {"generate", "chat", "logits", "bench"}) {
    INFO(cmd);
    const auto help = run({cmd, "--help"});
    CHECK(help.exit_code == 0);
    CHECK(help.out.find("--state-dtype") != std::string::npos);
  }
}

TEST_CASE("rwkv-run: --max-rows and --wkv-chunk-min are offered and checked by generate, chat, logits and bench",
          "[cli][style]") {
  const std::string m = tiny_model();
  cli_test::TempDir dir;
  for (const char* cmd : {"generate", "chat", "logits", "bench"}) {
    INFO(cmd);
    const auto help = run({cmd, "--help"});
    CHECK(help.exit_code == 0);
    CHECK(help.out.find("--max-rows") != std::string::npos);
    CHECK(help.out.find("--wkv-chunk-min") != std::string::npos);
  }
  // Out of range or not a number: a usage error (exit 2) naming the option.
  for (const std::vector<std::string>& bad :
       {std::vector<std::string>{"--wkv-chunk-min", "-1"}, {"--wkv-chunk-min", "65536"}, {"--wkv-chunk-min", "x"},
        {"--max-rows", "0"}, {"--max-rows", "65536"}, {"--max-rows", "12rows"}}) {
    std::vector<std::string> gen = {"generate", "-m", m, "-p", "x", "-n", "1", "-q", "--seed", "1"};
    gen.insert(gen.end(), bad.begin(), bad.end());
    INFO(bad[0] << " " << bad[1]);
    const auto r = run(gen);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find(bad[0]) != std::string::npos);
    std::vector<std::string> logits = {"logits", "-m", m, "--tokens", "1", "--out", dir.file("l.f32")};
    logits.insert(logits.end(), bad.begin(), bad.end());
    CHECK(run(logits).exit_code == 2);
  }
  const auto list = run({"bench", "--synthetic", "v4-tiny", "--wkv-chunk-min", "0,70000"});
  CHECK(list.exit_code == 2);
  CHECK(list.err.find("--wkv-chunk-min") != std::string::npos);
  const auto shape = run({"bench", "--synthetic", "v4-tiny", "--wkv-carry-split", "half"});
  CHECK(shape.exit_code == 2);
  CHECK(shape.err.find("--wkv-carry-split must be auto, off or both") != std::string::npos);
  const auto parts = run({"bench", "--synthetic", "v4-tiny", "--wkv-parts", "2"});
  CHECK(parts.exit_code == 2);
  CHECK(parts.err.find("--wkv-parts must be auto, 3 or both, got '2'") != std::string::npos);
  // In range: accepted on every device (the cpu backend has no rounds to size).
  CHECK(run({"generate", "-m", m, "-p", "x", "-n", "1", "-q", "--seed", "1", "--max-rows", "65535",
             "--wkv-chunk-min", "0"})
            .exit_code == 0);
  CHECK(run({"logits", "-m", m, "--tokens", "1,2", "--out", dir.file("l.f32"), "--max-rows", "1", "--wkv-chunk-min",
             "65535"})
            .exit_code == 0);
}

TEST_CASE("rwkv-run: -m FILE names the model in every command that reads one", "[cli][style]") {
  const std::string m = tiny_model();
  cli_test::TempDir dir;
  CHECK(run({"info", "-m", m}).exit_code == 0);
  CHECK(run({"info", m}).exit_code == 0);  // the positional form where it was
  CHECK(run({"tokenize", "-m", m, "--text", "Hi"}).out == "72,105\n");
  CHECK(run({"detokenize", "-m", m, "--ids", "72,105"}).out == "Hi\n");
  CHECK(run({"logits", "-m", m, "--tokens", "1", "--out", dir.file("l.f32")}).exit_code == 0);
  CHECK(run({"convert", "-m", m, dir.file("c.safetensors")}).exit_code == 0);
  CHECK(run({"info", "-m", dir.file("c.safetensors")}).exit_code == 0);
  CHECK(run({"generate", "-m", m, "-p", "x", "-n", "1", "-q", "--seed", "1"}).exit_code == 0);
  CHECK(run({"chat", "-m", m, "--gen-len", "1", "--reply-max", "1", "--seed", "1"}, "Hi\n").exit_code == 0);
  CHECK(run({"bench", "-m", m, "--device", "cpu", "--threads", "1", "--pp", "2", "--tg", "1", "--tg-batch", "1",
             "--repeat", "1", "--warmup", "0", "--copy-mib", "1", "--gemm-n", "16", "-q"})
            .exit_code == 0);
}

TEST_CASE("rwkv-run: --json writes to a file of any name, or alone to stdout", "[cli][style]") {
  const std::string m = tiny_model();
  cli_test::TempDir dir;
  // info: the text on stdout and the JSON in a file named without .json.
  const auto info = run({"info", "-m", m, "--json", dir.file("facts.txt")});
  CHECK(info.exit_code == 0);
  CHECK(info.out.find("format:") != std::string::npos);
  const rwkv::Json facts = rwkv::parse_json(cli_test::read_file(dir.file("facts.txt")), "facts.txt");
  const rwkv::Json alone = rwkv::parse_json(run({"info", "-m", m, "--json"}).out, "stdout");
  CHECK(facts == alone);
  CHECK(facts.at("n_vocab") == 256);
  // tokenize: the same ids either way.
  const auto tok = run({"tokenize", "-m", m, "--text", "Hi", "--json=" + dir.file("ids")});
  CHECK(tok.out == "72,105\n");
  CHECK(rwkv::parse_json(cli_test::read_file(dir.file("ids")), "ids").at("ids") == rwkv::Json({72, 105}));
  CHECK(rwkv::parse_json(run({"tokenize", "-m", m, "--text", "Hi", "--json"}).out, "stdout").at("ids") ==
        rwkv::Json({72, 105}));
}

TEST_CASE("rwkv-run: --device auto is accepted everywhere and is the default", "[cli][style]") {
  const std::string m = tiny_model();
  cli_test::TempDir dir;
  const auto a = run({"logits", "-m", m, "--tokens", "1,2", "--out", dir.file("a.f32"), "--device", "auto"});
  const auto b = run({"logits", "-m", m, "--tokens", "1,2", "--out", dir.file("b.f32")});
  CHECK(a.exit_code == 0);
  CHECK(b.exit_code == 0);
  CHECK(cli_test::read_file(dir.file("a.f32")) == cli_test::read_file(dir.file("b.f32")));
  CHECK(run({"generate", "-m", m, "-p", "x", "-n", "1", "-q", "--seed", "1", "--device", "auto"}).exit_code == 0);
  for (const char* cmd : {"generate", "chat", "logits", "bench"})
    CHECK(run({cmd, "--help"}).out.find("--device DEV") != std::string::npos);
}

TEST_CASE("rwkv-run --version prints the version and the commit", "[cli][style]") {
  const auto r = run({"--version"});
  CHECK(r.exit_code == 0);
  CHECK(r.out.rfind("rwkv-run ", 0) == 0);
  CHECK(r.out.find("(commit ") != std::string::npos);
}
