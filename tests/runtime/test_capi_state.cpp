// Tests of the C API's state functions: reset/copy/read/write of slots and
// state files (runtime/state/state_file.h): round trip to identical logits,
// the documented byte layout and checksum (recomputed here with the published
// FNV-1a 64 constants), refusal of corrupted, truncated and foreign files
// with the slot left untouched, atomic replacement.
#include <cstring>
#include <filesystem>

#include "capi_test_util.h"
#include "runtime/backend/state_layout.h"
#include "runtime/model/model.h"

using namespace capi_test;

namespace {

uint64_t fnv1a64(const unsigned char* p, size_t n) {
  uint64_t h = 14695981039346656037ull;  // FNV offset basis
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;  // FNV prime
  return h;
}

uint64_t le64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
uint32_t le32(const unsigned char* p) { return uint32_t(le64(p) & 0xFFFFFFFFu); }

// A model with a non-trivial state in slot 0.
void prepare(Model& m, const std::string& file, int32_t slots = 2) {
  load(m, file, slots);
  std::vector<int32_t> t;
  for (char c : std::string("Once upon a time")) t.push_back((unsigned char)c);
  eval(m, 0, t);
}

}  // namespace

TEST_CASE("C API: reset gives the model's initial state, copy/read/write move states exactly", "[capi][state]") {
  const std::string file = GENERATE(as<std::string>{}, "tiny-rwkv-4v0-660K.pth", "tiny-rwkv-7v0-834K.pth");
  CAPTURE(file);
  Model m;
  prepare(m, file, 3);
  auto ref = rwkv::load_model(model_path(file));
  const std::vector<float> init = rwkv::initial_state(*ref, rwkv::StateLayout(ref->info));
  CHECK(read_state(m, 1) == init);  // slots start fresh
  const std::vector<float> s0 = read_state(m, 0);
  CHECK(s0 != init);
  REQUIRE(rwkv_state_copy(m, 0, 2) == RWKV_OK);
  CHECK(read_state(m, 2) == s0);
  REQUIRE(rwkv_state_copy(m, 0, 0) == RWKV_OK);
  CHECK(read_state(m, 0) == s0);
  // Two slots with the same state give the same logits.
  CHECK(eval(m, 0, {'!'}) == eval(m, 2, {'!'}));
  REQUIRE(rwkv_state_reset(m, 0) == RWKV_OK);
  CHECK(read_state(m, 0) == init);
  // write then read back, through a buffer that is not float-aligned.
  std::vector<unsigned char> raw(s0.size() * 4 + 1);
  std::memcpy(raw.data() + 1, s0.data(), s0.size() * 4);
  REQUIRE(rwkv_state_write(m, 1, raw.data() + 1, s0.size() * 4) == RWKV_OK);
  CHECK(read_state(m, 1) == s0);
  std::vector<unsigned char> out(s0.size() * 4 + 9, 0xAB);
  REQUIRE(rwkv_state_read(m, 1, out.data() + 1, out.size() - 1) == RWKV_OK);  // larger buffer is fine
  CHECK(std::memcmp(out.data() + 1, s0.data(), s0.size() * 4) == 0);
  CHECK(out.back() == 0xAB);  // nothing written past the state
}

TEST_CASE("C API: a saved and loaded state gives identical next logits", "[capi][state]") {
  const std::string file = GENERATE(as<std::string>{}, "tiny-rwkv-5v1-730K.pth", "tiny-rwkv-6v0-1m.pth");
  CAPTURE(file);
  TempDir dir;
  Model m;
  prepare(m, file);
  const std::string path = dir.file("s.state");
  REQUIRE(rwkv_state_save(m, 0, path.c_str()) == RWKV_OK);
  const std::vector<float> a = eval(m, 0, {' ', 'w'});
  REQUIRE(rwkv_state_load(m, 1, path.c_str()) == RWKV_OK);
  const std::vector<float> b = eval(m, 1, {' ', 'w'});
  CHECK(a == b);
  // A fresh model of the same file takes the state too.
  Model other;
  load(other, file);
  REQUIRE(rwkv_state_load(other, 0, path.c_str()) == RWKV_OK);
  CHECK(eval(other, 0, {' ', 'w'}) == a);
  // Only the target remains in the directory (the temporary file was renamed).
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path)) n += (void(e), 1);
  CHECK(n == 1);
}

TEST_CASE("C API: the state file has the documented layout and checksum", "[capi][state]") {
  TempDir dir;
  Model m;
  prepare(m, "tiny-rwkv-5v2-730K.pth");
  const rwkv_model_info i = info(m);
  const std::string path = dir.file("s.state");
  REQUIRE(rwkv_state_save(m, 0, path.c_str()) == RWKV_OK);
  const std::vector<unsigned char> b = read_bytes(path);
  const size_t P = i.state_size;
  REQUIRE(b.size() == 96 + P + 8);
  CHECK(std::memcmp(b.data(), "RWKVSTAT", 8) == 0);
  CHECK(le32(&b[8]) == 1);
  CHECK(le32(&b[12]) == 96);
  CHECK(le32(&b[32]) == uint32_t(rwkv::Arch::v5_2));
  CHECK(le32(&b[36]) == uint32_t(i.n_layer));
  CHECK(le32(&b[40]) == uint32_t(i.n_embd));
  CHECK(le32(&b[44]) == uint32_t(i.n_head));
  CHECK(le32(&b[48]) == uint32_t(i.head_size));
  CHECK(le32(&b[52]) == uint32_t(i.n_vocab));
  CHECK(le32(&b[56]) == 0);
  CHECK(le32(&b[60]) == 0);  // saved by an fp32 backend
  CHECK(le64(&b[64]) == P / 4);
  CHECK(le64(&b[72]) == P);
  for (size_t k = 80; k < 96; ++k) CHECK(b[k] == 0);
  const std::vector<float> s = read_state(m, 0);
  CHECK(std::memcmp(&b[96], s.data(), P) == 0);
  CHECK(le64(&b[96 + P]) == fnv1a64(b.data(), 96 + P));
}

TEST_CASE("C API: corrupted or truncated state files are refused and the slot is untouched", "[capi][state]") {
  TempDir dir;
  Model m;
  prepare(m, "tiny-rwkv-7v0-834K.pth");
  const std::string good = dir.file("good.state"), bad = dir.file("bad.state");
  REQUIRE(rwkv_state_save(m, 0, good.c_str()) == RWKV_OK);
  const std::vector<unsigned char> b = read_bytes(good);
  const std::vector<float> before = read_state(m, 1);

  auto expect = [&](const std::vector<unsigned char>& bytes, rwkv_status want, const std::string& what) {
    write_bytes(bad, bytes);
    const rwkv_status s = rwkv_state_load(m, 1, bad.c_str());
    INFO(what << ": " << rwkv_model_last_error(m));
    CHECK(s == want);
    CHECK(std::string(rwkv_model_last_error(m)).find(bad) != std::string::npos);  // names the file
    CHECK(read_state(m, 1) == before);
  };
  // One flipped byte anywhere: magic/version -> not a state file; elsewhere -> checksum.
  const std::vector<size_t> positions = {0, 7, 8, 12, 16, 24, 33, 40, 56, 64, 72, 90, 96, 97,
                                         96 + (b.size() - 104) / 2, b.size() - 9, b.size() - 8, b.size() - 1};
  for (size_t pos : positions) {
    std::vector<unsigned char> c = b;
    c[pos] ^= 0x10;
    expect(c, pos < 12 ? RWKV_ERR_FORMAT : RWKV_ERR_CHECKSUM, "flip at " + std::to_string(pos));
  }
  for (size_t len : {size_t(0), size_t(5), size_t(11), size_t(12), size_t(95), size_t(96), size_t(100), b.size() / 2,
                     b.size() - 8, b.size() - 1}) {
    std::vector<unsigned char> c(b.begin(), b.begin() + long(len));
    expect(c, len < 12 ? RWKV_ERR_FORMAT : RWKV_ERR_CHECKSUM, "truncated to " + std::to_string(len));
  }
  std::vector<unsigned char> longer = b;
  longer.push_back(0);
  expect(longer, RWKV_ERR_CHECKSUM, "one byte appended");
  // Another file entirely (the model checkpoint) is not a state file.
  CHECK(rwkv_state_load(m, 1, model_path("tiny-rwkv-7v0-834K.pth").c_str()) == RWKV_ERR_FORMAT);
  CHECK(rwkv_state_load(m, 1, dir.file("missing.state").c_str()) == RWKV_ERR_FILE);
  CHECK(rwkv_state_load(m, 1, dir.path.c_str()) == RWKV_ERR_FILE);  // a directory
  CHECK(read_state(m, 1) == before);
  // The good file still loads.
  CHECK(rwkv_state_load(m, 1, good.c_str()) == RWKV_OK);
  CHECK(read_state(m, 1) == read_state(m, 0));
}

TEST_CASE("C API: a state saved for another model is refused", "[capi][state]") {
  TempDir dir;
  const std::string path = dir.file("s.state");
  Model v52;
  prepare(v52, "tiny-rwkv-5v2-730K.pth");
  REQUIRE(rwkv_state_save(v52, 0, path.c_str()) == RWKV_OK);
  // Other architecture (here also another state size).
  Model v7;
  load(v7, "tiny-rwkv-7v0-834K.pth");
  const std::vector<float> before = read_state(v7, 0);
  CHECK(rwkv_state_load(v7, 0, path.c_str()) == RWKV_ERR_STATE_MISMATCH);
  CHECK(std::string(rwkv_model_last_error(v7)).find("another model") != std::string::npos);
  CHECK(read_state(v7, 0) == before);
  // Same architecture and shapes (v5.0 vs v5.2 differ: ln_x/gate), same shapes but other weights:
  // the fp32 v4 model vs its bf16 copy (values rounded).
  Model v4, v4bf16;
  prepare(v4, "tiny-rwkv-4v0-660K.pth");
  load(v4bf16, "tiny-rwkv-4v0-660K-bf16.pth");
  REQUIRE(info(v4).state_size == info(v4bf16).state_size);
  REQUIRE(rwkv_state_save(v4, 0, path.c_str()) == RWKV_OK);
  CHECK(rwkv_state_load(v4bf16, 0, path.c_str()) == RWKV_ERR_STATE_MISMATCH);
  CHECK(std::string(rwkv_model_last_error(v4bf16)).find("other weights") != std::string::npos);
  // The fingerprint hashes values: the v7 bf16 file holds exactly the fp32 weights
  // (docs/testdata.md section 1), so it is the same model and takes the state.
  Model v7bf16;
  load(v7bf16, "tiny-rwkv-7v0-834K-bf16.pth");
  eval(v7, 0, {'a', 'b'});
  REQUIRE(rwkv_state_save(v7, 0, path.c_str()) == RWKV_OK);
  CHECK(rwkv_state_load(v7bf16, 0, path.c_str()) == RWKV_OK);
  CHECK(read_state(v7bf16, 0) == read_state(v7, 0));
}

TEST_CASE("C API: saving replaces the file atomically and reports unwritable paths", "[capi][state]") {
  TempDir dir;
  Model m;
  prepare(m, "tiny-rwkv-5v2-730K.pth");
  const std::string path = dir.file("s.state");
  write_bytes(path, std::vector<unsigned char>(10, 'x'));  // an old file to replace
  REQUIRE(rwkv_state_save(m, 0, path.c_str()) == RWKV_OK);
  REQUIRE(rwkv_state_load(m, 1, path.c_str()) == RWKV_OK);
  CHECK(read_state(m, 1) == read_state(m, 0));
  CHECK(rwkv_state_save(m, 0, dir.file("no/such/dir/s.state").c_str()) == RWKV_ERR_FILE);
  CHECK(std::string(rwkv_model_last_error(m)).find("no/such/dir") != std::string::npos);
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path)) n += (void(e), 1);
  CHECK(n == 1);  // no temporary files left behind
}
