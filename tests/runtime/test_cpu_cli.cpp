// tests/runtime/test_cpu_cli.cpp: `rwkv-run logits` end to end against the
// official goldens (logits files and the concatenated state files), and its
// state files: the checked format of generate, chat and the C API.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "cpu_golden_util.h"

namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("rwkv_cli_test_" + std::to_string(getpid()));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

// Runs rwkv-run with `args`; returns its exit status.
int rwkv_run(const std::string& args) {
  const std::string cmd = std::string(RWKV_RUN_BINARY) + " " + args + " 2>/dev/null";
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string join(const std::vector<int32_t>& v, size_t begin, size_t end) {
  std::string s;
  for (size_t i = begin; i < end; ++i) s += (i > begin ? "," : "") + std::to_string(v[i]);
  return s;
}

std::vector<float> golden_state(const golden::Folder& f, const std::string& dir) {
  std::vector<float> all;
  for (const golden::GoldenFile& g : f.files)
    if (g.key.rfind(dir + "/", 0) == 0) {  // manifest lists them in index order
      const std::vector<float> part = golden::read_f32(f.dir + "/" + g.key);
      all.insert(all.end(), part.begin(), part.end());
    }
  return all;
}

// The 5.2 golden folder that `rwkv-run logits` is checked against, and a scratch folder.
struct LogitsGolden {
  const golden::Folder f = golden::read_folder("tiny-rwkv-5v2-730K");
  const std::string model = testdata_path(f.model_file);
  const size_t V = 256, T = f.tokens.size(), split = f.chunk_split;
  TempDir tmp;
  const std::vector<float> final_state = golden_state(f, "state_rnn_final");
};

void check_sequence_mode(const LogitsGolden& g) {
  const golden::Folder& f = g.f;
  const TempDir& tmp = g.tmp;
  const size_t V = g.V, T = g.T;
  REQUIRE(rwkv_run("logits " + g.model + " --tokens " + join(f.tokens, 0, T) + " --out " + (tmp / "l.f32") +
                   " --state-out " + (tmp / "s.state") + " --raw-state-out " + (tmp / "s.f32")) == 0);
  const auto got = golden::read_f32(tmp / "l.f32");
  const auto ref = golden::read_f32(f.dir + "/logits_seq_full.f32");
  REQUIRE(got.size() == T * V);
  CHECK(golden::max_abs_diff(got.data(), ref.data(), ref.size()) <= 1e-4);
  const auto st = golden::read_f32(tmp / "s.f32");
  REQUIRE(st.size() == g.final_state.size());
  CHECK(golden::max_rel_diff(st.data(), g.final_state.data(), st.size()) <= 1e-4);
  // The state file (runtime/state/state_file.h): 96-byte header, the same floats, an 8-byte checksum.
  const std::string file = read_bytes(tmp / "s.state");
  REQUIRE(file.size() == 96 + 4 * st.size() + 8);
  CHECK(file.compare(0, 8, "RWKVSTAT") == 0);
  CHECK(std::memcmp(file.data() + 96, st.data(), 4 * st.size()) == 0);
}

void check_rnn_last(const LogitsGolden& g) {
  const size_t V = g.V, T = g.T;
  REQUIRE(rwkv_run("logits " + g.model + " --mode rnn --last --tokens " + join(g.f.tokens, 0, T) +
                   " --out " + (g.tmp / "l.f32")) == 0);
  const auto got = golden::read_f32(g.tmp / "l.f32");
  const auto ref = golden::read_f32(g.f.dir + "/logits_rnn.f32");
  REQUIRE(got.size() == V);
  CHECK(golden::max_abs_diff(got.data(), &ref[(T - 1) * V], V) <= 1e-4);
}

void check_chunked(const LogitsGolden& g) {
  const golden::Folder& f = g.f;
  const TempDir& tmp = g.tmp;
  const std::string& model = g.model;
  const size_t V = g.V, T = g.T, split = g.split;
  REQUIRE(rwkv_run("logits " + model + " --tokens " + join(f.tokens, 0, split) + " --out " + (tmp / "a.f32") +
                   " --state-out " + (tmp / "s.state")) == 0);
  REQUIRE(rwkv_run("logits -m " + model + " --tokens " + join(f.tokens, split, T) + " --state-in " +
                   (tmp / "s.state") + " --out " + (tmp / "b.f32") + " --raw-state-out " + (tmp / "s2.f32")) == 0);
  const auto ref = golden::read_f32(f.dir + "/logits_seq_chunked.f32");
  const auto a = golden::read_f32(tmp / "a.f32"), b = golden::read_f32(tmp / "b.f32");
  REQUIRE(a.size() == split * V);
  REQUIRE(b.size() == (T - split) * V);
  CHECK(golden::max_abs_diff(a.data(), ref.data(), a.size()) <= 1e-4);
  CHECK(golden::max_abs_diff(b.data(), &ref[split * V], b.size()) <= 1e-4);
  const auto st = golden::read_f32(tmp / "s2.f32");
  CHECK(golden::max_rel_diff(st.data(), g.final_state.data(), st.size()) <= 1e-4);
}

void check_text_input(const LogitsGolden& g) {
  const std::string text = "\"In the beginning,\" she said, \"there was only the silent river.\"";
  // The golden tokens are the UTF-8 bytes of this text (manifest token_info).
  REQUIRE(rwkv_run("logits " + g.model + " --text '" + text + "' --out " + (g.tmp / "l.f32")) == 0);
  const auto got = golden::read_f32(g.tmp / "l.f32");
  const auto ref = golden::read_f32(g.f.dir + "/logits_seq_full.f32");
  REQUIRE(got.size() == g.T * g.V);
  CHECK(golden::max_abs_diff(got.data(), ref.data(), ref.size()) <= 1e-4);
}

void check_bad_input(const LogitsGolden& g) {
  const TempDir& tmp = g.tmp;
  const std::string& model = g.model;
  CHECK(rwkv_run("logits " + model + " --tokens 1,256 --out " + (tmp / "x.f32")) == 1);
  CHECK(rwkv_run("logits " + model + " --mode rnn --tokens 1,-3 --out " + (tmp / "x.f32")) == 1);
  CHECK(rwkv_run("logits " + model + " --tokens 1,abc --out " + (tmp / "x.f32")) == 2);
  CHECK(rwkv_run("logits " + model + " --tokens , --out " + (tmp / "x.f32")) == 2);
  CHECK_FALSE(fs::exists(tmp / "x.f32"));
  {
    FILE* s = std::fopen((tmp / "bad_state.f32").c_str(), "wb");
    const float z[3] = {0, 0, 0};
    std::fwrite(z, sizeof(float), 3, s);
    std::fclose(s);
  }
  CHECK(rwkv_run("logits " + model + " --tokens 1 --state-in " + (tmp / "bad_state.f32") + " --out " +
                 (tmp / "x.f32")) == 1);
  CHECK_FALSE(fs::exists(tmp / "x.f32"));
  CHECK(rwkv_run("logits " + model + " --tokens 1 --device cuda9 --out " + (tmp / "x.f32")) == 2);
  // A raw float dump is not a state file.
  REQUIRE(rwkv_run("logits " + model + " --tokens 1 --out " + (tmp / "y.f32") + " --raw-state-out " +
                   (tmp / "raw.f32")) == 0);
  CHECK(rwkv_run("logits " + model + " --tokens 1 --state-in " + (tmp / "raw.f32") + " --out " + (tmp / "x.f32")) ==
        1);
  CHECK(rwkv_run("logits " + model + " --tokens 1") == 2);           // no --out
  CHECK(rwkv_run("logits --tokens 1 --out " + (tmp / "x.f32")) == 2);  // no model
  CHECK(rwkv_run("logits " + model + " --tokens 1 --mode fast --out " + (tmp / "x.f32")) == 2);
  CHECK_FALSE(fs::exists(tmp / "x.f32"));
}

}  // namespace

TEST_CASE("rwkv-run logits reproduces the golden logits and states", "[cpu][cli]") {
  const LogitsGolden g;
  REQUIRE(!g.final_state.empty());

  SECTION("sequence mode, all logits, final state") { check_sequence_mode(g); }
  SECTION("rnn mode, last logits only") { check_rnn_last(g); }
  SECTION("chunked through --state-out / --state-in") { check_chunked(g); }
  SECTION("--text goes through the model's tokenizer (bytes for V = 256)") { check_text_input(g); }
  SECTION("bad input: clear failure, no output file") { check_bad_input(g); }
}

TEST_CASE("rwkv-run logits, generate and chat share one state file", "[cpu][cli]") {
  const std::string model = testdata_path("models/tiny-rwkv-5v2-730K.pth");
  const std::string other = testdata_path("models/tiny-rwkv-4v0-660K.pth");
  TempDir tmp;
  // "Hi" as bytes (the tiny models' tokens are bytes): generate -n 0 only feeds the prompt.
  REQUIRE(rwkv_run("generate -m " + model + " -p Hi -n 0 -q --state-out " + (tmp / "g.state")) == 0);
  REQUIRE(rwkv_run("logits -m " + model + " --tokens 72,105 --out " + (tmp / "l.f32") + " --state-out " +
                   (tmp / "l.state")) == 0);
  // The same state reached both ways: logits continues from generate's state exactly as from its own.
  REQUIRE(rwkv_run("logits -m " + model + " --tokens 33 --state-in " + (tmp / "g.state") + " --out " +
                   (tmp / "a.f32")) == 0);
  REQUIRE(rwkv_run("logits -m " + model + " --tokens 33 --state-in " + (tmp / "l.state") + " --out " +
                   (tmp / "b.f32")) == 0);
  const auto a = golden::read_f32(tmp / "a.f32"), b = golden::read_f32(tmp / "b.f32");
  REQUIRE(a.size() == 256);
  CHECK(golden::max_abs_diff(a.data(), b.data(), a.size()) <= 1e-5);
  // generate takes logits' state; another model refuses it.
  CHECK(rwkv_run("generate -m " + model + " -p x -n 1 -q --seed 1 --state-in " + (tmp / "l.state")) == 0);
  CHECK(rwkv_run("logits -m " + other + " --tokens 1 --state-in " + (tmp / "l.state") + " --out " + (tmp / "x.f32")) ==
        1);
}
