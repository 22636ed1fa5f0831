// Silently lossy or partial input (issue 17 item 9): a checkpoint whose depth
// no released model of its width has gets a warning in ModelInfo; a file named
// like the official World vocabulary must be that vocabulary; the 20B
// tokenizer says how many input bytes it replaced by U+FFFD.
#include <cstring>

#include "hardening_files_util.h"
#include "runtime/model/synth.h"
#include "runtime/state/state_file.h"
#include "runtime/tokenizer/tokenizer.h"
#include "tests_model_helpers.h"

namespace {

// A model with the shapes of `spec` whose tensors all view one zero buffer
// (check_model looks at names and shapes only).
std::unique_ptr<rwkv::Model> zero_model(const rwkv::SynthSpec& spec, std::vector<uint8_t>& zeros) {
  auto m = std::make_unique<rwkv::Model>();
  m->info.path = "zero-model";
  const std::vector<rwkv::SafetensorsEntry> entries = rwkv::synth_tensors(spec, rwkv::DType::bf16);
  size_t most = 0;
  for (const auto& e : entries) {
    int64_t n = 1;
    for (int64_t d : e.shape) n *= d;
    most = std::max(most, size_t(n) * 2);
  }
  zeros.assign(most, 0);
  for (const auto& e : entries) {
    rwkv::Tensor t;
    t.name = e.name;
    t.dtype = rwkv::DType::bf16;
    t.shape = e.shape;
    t.data = zeros.data();
    t.nbytes = size_t(t.numel()) * 2;
    m->add_view(std::move(t));
  }
  return m;
}

}  // namespace

TEST_CASE("lossy input: a released width with a depth no release has gets a warning", "[hardening]") {
  std::vector<uint8_t> zeros;
  // RWKV-7 0.1B is n_embd 768, 12 layers; the same width with 11 layers is what a
  // 0.1B checkpoint that lost its last layer looks like.
  auto cut = zero_model(rwkv::synth_spec_of_width("7", 768, 11, 256), zeros);
  rwkv::check_model(*cut, "cut");
  REQUIRE(cut->info.warnings.size() == 1);
  CHECK_THAT(cut->info.warnings[0], Catch::Contains("n_layer 11") && Catch::Contains("n_embd 768") &&
                                        Catch::Contains("12 (0.1B)"));
  auto whole = zero_model(rwkv::synth_spec_of_width("7", 768, 12, 256), zeros);
  rwkv::check_model(*whole, "whole");
  CHECK(whole->info.warnings.empty());
  // A width no release has: nothing to compare with, no warning.
  auto custom = zero_model(rwkv::synth_spec_of_width("7", 640, 11, 256), zeros);
  rwkv::check_model(*custom, "custom");
  CHECK(custom->info.warnings.empty());
  // The test checkpoints are not released sizes: they load without warnings.
  CHECK(rwkv::load_model(testdata_path("models/tiny-rwkv-7v0-834K.pth"))->info.warnings.empty());
}

TEST_CASE("lossy input: a World vocabulary named as the official one must be the official one", "[hardening]") {
  TempDir dir;
  const std::string official = hardening_test::slurp(testdata_path("tokenizer/rwkv_vocab_v20230424.txt"));
  const std::string name = dir.path + "/rwkv_vocab_v20230424.txt";
  // Whole, and with CRLF line ends: the same table, accepted.
  hardening_test::spit(name, official);
  CHECK(rwkv::load_tokenizer(name)->kind() == std::string("world"));
  std::string crlf;
  for (char c : official) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  hardening_test::spit(name, crlf);
  CHECK_NOTHROW(rwkv::load_tokenizer(name));
  // Cut at a line boundary (the last 100 lines gone), and one token changed.
  size_t cut = official.size() - 1;
  for (int lines = 0; lines < 100; ++lines) cut = official.rfind('\n', cut - 1);
  const std::string truncated = official.substr(0, cut + 1);
  std::string modified = official;
  const size_t line = modified.find("\n1000 ");
  REQUIRE(line != std::string::npos);
  const size_t end = modified.find('\n', line + 1);
  modified.replace(line + 1, end - line - 1, "1000 'zqzq' 4");  // one token's bytes changed
  for (const std::string* bad : std::vector<const std::string*>{&truncated, &modified}) {
    hardening_test::spit(name, *bad);
    try {
      rwkv::load_tokenizer(name);
      FAIL("a damaged official vocabulary loaded");
    } catch (const rwkv::Error& e) {
      CHECK_THAT(e.what(), Catch::StartsWith(name) && Catch::Contains("not the official World vocabulary") &&
                               Catch::Contains("has 65529"));
      if (bad == &truncated) CHECK_THAT(e.what(), Catch::Contains("65429 tokens"));
    }
  }
  // The same cut file under another name is a custom vocabulary: accepted.
  const std::string custom = dir.path + "/my_vocab.txt";
  hardening_test::spit(custom, truncated);
  CHECK_NOTHROW(rwkv::load_tokenizer(custom));
}

TEST_CASE("lossy input: the 20B tokenizer counts the bytes it replaces by U+FFFD", "[hardening]") {
  const auto t = rwkv::load_tokenizer(testdata_path("tokenizer/20B_tokenizer.json"));
  CHECK(t->replaced_bytes("plain text, caf\xC3\xA9") == 0);
  CHECK(t->replaced_bytes("a\xFF" "b") == 1);
  CHECK(t->replaced_bytes("\xE2\x82") == 2);          // a truncated 3-byte sequence: one U+FFFD, two bytes
  CHECK(t->replaced_bytes("\xED\xA0\x80" "x") == 3);  // a surrogate: three U+FFFD
  CHECK(t->replaced_bytes("\xC0\xAF\xF5") == 3);
  // The count is that of the replacement the encoder does.
  CHECK(t->encode("a\xFF" "b") == t->encode("a\xEF\xBF\xBD" "b"));
  // World and bytes tokenize every byte as it is.
  const auto world = rwkv::load_tokenizer(testdata_path("tokenizer/rwkv_vocab_v20230424.txt"));
  CHECK(world->replaced_bytes("a\xFF" "b") == 0);
  CHECK(rwkv::load_tokenizer("bytes")->replaced_bytes("\xFF") == 0);
}

TEST_CASE("state files: parse_state_file checks bytes in memory as read_state_file checks files", "[hardening]") {
  const auto m = rwkv::load_model(testdata_path("models/tiny-rwkv-7v0-834K.pth"));
  rwkv::StateFileModel sm = rwkv::state_file_model(*m, rwkv::DType::f32, 16);
  TempDir dir;
  const std::string path = dir.path + "/s.state";
  std::vector<float> state(16);
  for (size_t i = 0; i < state.size(); ++i) state[i] = float(i) * 0.5f;
  rwkv::write_state_file(path, sm, state.data());
  std::string bytes = hardening_test::slurp(path);
  auto parse = [&](const std::string& b) {
    return rwkv::parse_state_file(reinterpret_cast<const uint8_t*>(b.data()), b.size(), sm, "mem");
  };
  CHECK(parse(bytes) == state);
  CHECK(rwkv::read_state_file(path, sm) == state);
  auto kind_of = [&](const std::string& b) {
    try {
      parse(b);
    } catch (const rwkv::StateFileError& e) {
      return int(e.kind);
    }
    return -1;
  };
  CHECK(kind_of("") == rwkv::StateFileError::format);
  CHECK(kind_of(bytes.substr(0, 50)) == rwkv::StateFileError::corrupt);
  CHECK(kind_of(bytes.substr(0, bytes.size() - 1)) == rwkv::StateFileError::corrupt);
  std::string flipped = bytes;
  flipped[100] ^= 1;
  CHECK(kind_of(flipped) == rwkv::StateFileError::corrupt);
  rwkv::StateFileModel other = sm;
  other.n_layer += 1;
  other.fingerprint.hparams ^= 1;
  try {
    rwkv::parse_state_file(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), other, "mem");
    FAIL("a state of another model parsed");
  } catch (const rwkv::StateFileError& e) {
    CHECK(e.kind == rwkv::StateFileError::mismatch);
  }
}
