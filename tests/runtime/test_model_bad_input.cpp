// Tests that truncated or corrupted model files of every format give an
// rwkv::Error and never a crash, a hang or an out-of-bounds read (each input
// is loaded from an exact-size heap buffer, so ASan sees any overread).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>

#include "runtime/model/ggml_file.h"
#include "runtime/model/model.h"
#include "runtime/model/safetensors_writer.h"
#include "runtime/model/zip_reader.h"
#include "runtime/tests_model_helpers.h"

namespace {

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::string s = model_testdata::read_text(path);
  return std::vector<uint8_t>(s.begin(), s.end());
}

// true: loaded; false: rejected with rwkv::Error. Anything else propagates
// and fails the test.
bool loads(const uint8_t* data, size_t n) {
  try {
    rwkv::load_model(rwkv::MappedFile::from_memory(data, n, "mutated"));
    return true;
  } catch (const rwkv::Error&) {
    return false;
  }
}

// Cut points: every length in the first bytes, then spread over the file,
// then the last bytes.
std::vector<size_t> cut_points(size_t n) {
  std::vector<size_t> cuts;
  for (size_t k = 0; k < 32 && k < n; k++) cuts.push_back(k);
  for (int k = 1; k < 16; k++) cuts.push_back(n * size_t(k) / 16);
  for (size_t k = 1; k <= 4 && k < n; k++) cuts.push_back(n - k);
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  return cuts;
}

void check_truncations(const std::vector<uint8_t>& bytes) {
  REQUIRE(loads(bytes.data(), bytes.size()));
  for (size_t cut : cut_points(bytes.size())) {
    CAPTURE(cut);
    std::vector<uint8_t> part(bytes.begin(), bytes.begin() + long(cut));
    CHECK_FALSE(loads(part.data(), part.size()));
  }
}

// Mutates each listed byte in turn (two ways), loads, restores. A mutation
// may leave a valid model (e.g. a changed weight); it must never crash.
size_t check_mutations(std::vector<uint8_t>& bytes, const std::vector<size_t>& positions) {
  size_t rejected = 0;
  for (size_t p : positions) {
    if (p >= bytes.size()) continue;
    const uint8_t orig = bytes[p];
    for (uint8_t v : {uint8_t(orig ^ 0xff), uint8_t(orig ^ 0x01)}) {
      CAPTURE(p, int(v));
      bytes[p] = v;
      if (!loads(bytes.data(), bytes.size())) rejected++;
    }
    bytes[p] = orig;
  }
  return rejected;
}

void add_range(std::vector<size_t>& pos, size_t begin, size_t end, size_t step = 1) {
  for (size_t p = begin; p < end; p += step) pos.push_back(p);
}

}  // namespace

TEST_CASE("bad input: truncated .pth, ggml and safetensors files are rejected") {
  TempDir tmp;
  std::vector<std::string> files;
  for (const char* m : {"tiny-rwkv-4v0-660K", "tiny-rwkv-5v1-730K-bf16", "tiny-rwkv-5v2-730K", "tiny-rwkv-6v0-1m",
                        "tiny-rwkv-7v0-834K", "synth-rwkv-v7-bf16"})
    files.push_back(testdata_path(std::string("models/") + m + ".pth"));
  for (const char* t : {"4v0-660K-Q8_0", "5v1-730K-FP32", "6v0-3m-Q5_1", "7v0-834K-Q4_1", "7v0-834K-Q5_0",
                        "7v0-834K-FP16"})
    files.push_back(testdata_path(std::string("rwkvcpp/tiny-rwkv-") + t + ".bin"));
  auto v7 = rwkv::load_model(testdata_path("models/tiny-rwkv-7v0-834K-bf16.pth"));
  rwkv::write_safetensors(*v7, tmp.path + "/v7.safetensors");
  files.push_back(tmp.path + "/v7.safetensors");
  for (const std::string& f : files) {
    CAPTURE(f);
    check_truncations(read_bytes(f));
  }
}

TEST_CASE("bad input: corrupted .pth zip structures and data.pkl give errors, not crashes") {
  // (the fuzz targets in tests/fuzz/ go further; this keeps the suite fast)
  for (const char* name : {"models/synth-rwkv-v4-bf16.pth"}) {
    CAPTURE(name);
    std::vector<uint8_t> bytes = read_bytes(testdata_path(name));
    auto file = rwkv::MappedFile::from_memory(bytes.data(), bytes.size(), name);
    std::vector<rwkv::ZipEntry> entries = rwkv::read_zip_directory(*file);
    const rwkv::ZipEntry& pkl = entries.at(0);
    REQUIRE(pkl.name.find("data.pkl") != std::string::npos);
    std::vector<size_t> pos;
    add_range(pos, 0, 64);                                    // first local header
    add_range(pos, bytes.size() - 22, bytes.size());          // end of central directory
    // the central directory: start found from the end record
    size_t cd = size_t(bytes[bytes.size() - 6]) | size_t(bytes[bytes.size() - 5]) << 8 |
                size_t(bytes[bytes.size() - 4]) << 16 | size_t(bytes[bytes.size() - 3]) << 24;
    add_range(pos, cd, cd + 100);
    add_range(pos, size_t(pkl.data_offset), size_t(pkl.data_offset) + 256);  // start of data.pkl
    add_range(pos, size_t(pkl.data_offset) + 256, size_t(pkl.data_offset + pkl.size), 257);
    size_t rejected = check_mutations(bytes, pos);
    CHECK(rejected > pos.size());  // most header mutations must be caught
  }
}

TEST_CASE("bad input: corrupted rwkv.cpp headers and records give errors, not crashes") {
  for (const char* name : {"rwkvcpp/tiny-rwkv-5v1-730K-FP32.bin"}) {
    CAPTURE(name);
    std::vector<uint8_t> bytes = read_bytes(testdata_path(name));
    auto file = rwkv::MappedFile::from_memory(bytes.data(), bytes.size(), name);
    rwkv::GgmlFile g = rwkv::read_ggml_records(*file);
    std::vector<size_t> pos;
    add_range(pos, 0, 24);  // file header
    for (size_t i = 0; i < g.records.size(); i += (i < 2 ? 1 : 61)) {
      const rwkv::GgmlRecord& r = g.records[i];
      size_t data = size_t(r.data - bytes.data());
      size_t head = data - r.name.size() - 4 * r.shape.size() - 12;
      add_range(pos, head, data);         // n_dims, key_len, type, ne, key
      add_range(pos, data, data + 4);     // first data bytes (a quantised block's scale)
    }
    size_t rejected = check_mutations(bytes, pos);
    CHECK(rejected > pos.size());
  }
}

TEST_CASE("bad input: corrupted safetensors headers give errors, not crashes") {
  TempDir tmp;
  auto v6 = rwkv::load_model(testdata_path("models/tiny-rwkv-6v0-1m-bf16.pth"));
  rwkv::write_safetensors(*v6, tmp.path + "/v6.safetensors");
  std::vector<uint8_t> bytes = read_bytes(tmp.path + "/v6.safetensors");
  size_t header = 0;
  for (int k = 0; k < 8; k++) header |= size_t(bytes[size_t(k)]) << (8 * k);
  std::vector<size_t> pos;
  add_range(pos, 0, 8);
  add_range(pos, 8, 8 + 200);
  add_range(pos, 8 + 200, 8 + header, 701);
  size_t rejected = check_mutations(bytes, pos);
  CHECK(rejected > pos.size());
}
