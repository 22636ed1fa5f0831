// Tests of the parsers on hand-made inputs: the restricted torch pickle reader
// (what it accepts, and that it names what it refuses), the zip reader
// (zip64, compressed entries), the strict JSON parser, and the fp16/bf16
// conversions against independent references.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>

#include "runtime/core/half_float.h"
#include "runtime/core/json.h"
#include "runtime/model/readers.h"
#include "runtime/model/torch_pickle.h"
#include "runtime/model/zip_reader.h"
#include "runtime/tests_model_helpers.h"

namespace {

// --- pickle building blocks (protocol 2, as torch.save writes them) ---------
std::string pk_str(const std::string& s) {
  std::string out = "X";
  uint32_t n = uint32_t(s.size());
  for (int k = 0; k < 4; k++) out += char((n >> (8 * k)) & 0xff);
  return out + s;
}
std::string pk_int(int v) {
  if (v < 256) return std::string("K") + char(v);
  return std::string("M") + char(v & 0xff) + char((v >> 8) & 0xff);
}
std::string pk_global(const std::string& module, const std::string& name) {
  return "c" + module + "\n" + name + "\n";
}
std::string pk_tuple(const std::vector<int>& v) {
  std::string out = "(";
  for (int x : v) out += pk_int(x);
  return out + "t";
}

// BINPUT 0 / BINGET 0 / BINGET 7 (string literals cannot hold the NUL byte).
const std::string kPut0("q\0", 2), kGet0("h\0", 2), kGet7("h\x07", 2);

// _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict()).
std::string pk_tensor(const std::vector<int>& shape, const std::vector<int>& stride, int offset, int numel,
                      const std::string& storage) {
  std::string p = pk_global("torch._utils", "_rebuild_tensor_v2");
  p += "((" + pk_str("storage") + pk_global("torch", storage) + pk_str("0") + pk_str("cpu") + pk_int(numel) + "tQ";
  p += pk_int(offset) + pk_tuple(shape) + pk_tuple(stride) + "\x89" + kGet0 + ")R" + "tR";
  return p;
}

// An OrderedDict {name: tensor} with one tensor; `storage` is the storage class
// name; `parameter` wraps the tensor in _rebuild_parameter (an nn.Parameter).
std::string pk_dict(const std::string& name, const std::vector<int>& shape, const std::vector<int>& stride,
                    int offset, int numel, const std::string& storage = "FloatStorage", bool parameter = false) {
  std::string p = "\x80\x02";
  p += pk_global("collections", "OrderedDict") + kPut0 + ")R";
  p += "(" + pk_str(name);
  std::string t = pk_tensor(shape, stride, offset, numel, storage);
  if (parameter) t = pk_global("torch._utils", "_rebuild_parameter") + "(" + t + "\x88" + kGet0 + ")R" + "tR";
  p += t + "u.";
  return p;
}

std::string pickle_error(const std::string& p) {
  try {
    rwkv::read_torch_pickle(reinterpret_cast<const uint8_t*>(p.data()), p.size(), "test.pkl");
  } catch (const rwkv::Error& e) {
    return e.what();
  }
  return "(accepted)";
}

// --- a minimal zip writer (stored entries), optionally with zip64 records ---
void put16(std::string& s, uint32_t v) { s += char(v & 0xff); s += char((v >> 8) & 0xff); }
void put32(std::string& s, uint32_t v) { for (int k = 0; k < 4; k++) s += char((v >> (8 * k)) & 0xff); }
void put64(std::string& s, uint64_t v) { for (int k = 0; k < 8; k++) s += char((v >> (8 * k)) & 0xff); }

std::string make_zip(const std::vector<std::pair<std::string, std::string>>& files, bool zip64,
                     const std::string& compressed_name = "") {
  std::string z, cd;
  for (const auto& f : files) {
    const uint32_t local = uint32_t(z.size());
    const uint16_t method = f.first == compressed_name ? 8 : 0;
    put32(z, 0x04034b50); put16(z, 20); put16(z, 0); put16(z, method); put32(z, 0); put32(z, 0);
    put32(z, uint32_t(f.second.size())); put32(z, uint32_t(f.second.size()));
    put16(z, uint32_t(f.first.size())); put16(z, 0);
    z += f.first + f.second;
    std::string extra;
    if (zip64) {  // sizes and offset moved to the zip64 extra field
      put16(extra, 0x0001); put16(extra, 24);
      put64(extra, f.second.size()); put64(extra, f.second.size()); put64(extra, local);
    }
    put32(cd, 0x02014b50); put16(cd, 45); put16(cd, 45); put16(cd, 0); put16(cd, method);
    put32(cd, 0); put32(cd, 0);
    put32(cd, zip64 ? 0xffffffffu : uint32_t(f.second.size()));
    put32(cd, zip64 ? 0xffffffffu : uint32_t(f.second.size()));
    put16(cd, uint32_t(f.first.size())); put16(cd, uint32_t(extra.size())); put16(cd, 0);
    put16(cd, 0); put16(cd, 0); put32(cd, 0);
    put32(cd, zip64 ? 0xffffffffu : local);
    cd += f.first + extra;
  }
  const uint64_t cd_offset = z.size();
  z += cd;
  if (zip64) {
    const uint64_t z64 = z.size();
    put32(z, 0x06064b50); put64(z, 44); put16(z, 45); put16(z, 45); put32(z, 0); put32(z, 0);
    put64(z, files.size()); put64(z, files.size()); put64(z, cd.size()); put64(z, cd_offset);
    put32(z, 0x07064b50); put32(z, 0); put64(z, z64); put32(z, 1);
  }
  put32(z, 0x06054b50); put16(z, 0); put16(z, 0);
  put16(z, zip64 ? 0xffff : uint32_t(files.size())); put16(z, zip64 ? 0xffff : uint32_t(files.size()));
  put32(z, zip64 ? 0xffffffffu : uint32_t(cd.size())); put32(z, zip64 ? 0xffffffffu : uint32_t(cd_offset));
  put16(z, 0);
  return z;
}

std::string floats_bytes(const std::vector<float>& v) {
  std::string s(v.size() * 4, '\0');
  std::memcpy(&s[0], v.data(), s.size());
  return s;
}

}  // namespace

TEST_CASE("torch pickle: a dict of one tensor as torch.save writes it") {
  const std::string p = pk_dict("w", {2, 3}, {3, 1}, 4, 10);
  auto t = rwkv::read_torch_pickle(reinterpret_cast<const uint8_t*>(p.data()), p.size(), "t");
  REQUIRE(t.size() == 1);
  CHECK(t[0].name == "w");
  CHECK(t[0].dtype == rwkv::DType::f32);
  CHECK(t[0].storage_key == "0");
  CHECK(t[0].storage_numel == 10);
  CHECK(t[0].offset == 4);
  CHECK(t[0].shape == std::vector<int64_t>{2, 3});
  const std::string pb = pk_dict("b", {4}, {1}, 0, 4, "BFloat16Storage");
  auto b = rwkv::read_torch_pickle(reinterpret_cast<const uint8_t*>(pb.data()), pb.size(), "t");
  CHECK(b.at(0).dtype == rwkv::DType::bf16);
  const std::string pp = pk_dict("p", {3}, {1}, 0, 3, "HalfStorage", true);
  auto param = rwkv::read_torch_pickle(reinterpret_cast<const uint8_t*>(pp.data()), pp.size(), "t");
  CHECK(param.at(0).name == "p");
  CHECK(param.at(0).dtype == rwkv::DType::f16);
  CHECK(param.at(0).shape == std::vector<int64_t>{3});
}

TEST_CASE("torch pickle: anything but plain tensors is refused, naming what was found") {
  const std::string ok = pk_dict("w", {2, 3}, {3, 1}, 0, 6);
  auto replace = [](std::string s, const std::string& from, const std::string& to) {
    size_t p = s.find(from);
    REQUIRE(p != std::string::npos);
    return s.replace(p, from.size(), to);
  };
  CHECK_THAT(pickle_error(replace(ok, pk_global("collections", "OrderedDict"), pk_global("os", "system"))),
             Catch::Contains("os.system") && Catch::Contains("not allowed"));
  CHECK_THAT(pickle_error(replace(ok, pk_global("torch._utils", "_rebuild_tensor_v2"), pk_global("builtins", "eval"))),
             Catch::Contains("builtins.eval"));
  CHECK_THAT(pickle_error(pk_dict("w", {2}, {1}, 0, 2, "DoubleStorage")),
             Catch::Contains("torch.DoubleStorage") && Catch::Contains("not supported"));
  CHECK_THAT(pickle_error(replace(ok, "\x80\x02", "\x80\x04")), Catch::Contains("protocol 4"));
  CHECK_THAT(pickle_error(replace(ok, "u.", "]u.")), Catch::Contains("EMPTY_LIST"));
  CHECK_THAT(pickle_error(pk_dict("w", {2, 3}, {1, 2}, 0, 6)), Catch::Contains("non-contiguous"));
  CHECK_THAT(pickle_error(pk_dict("w", {2, 3}, {3, 1}, 1, 6)), Catch::Contains("past the end"));
  CHECK_THAT(pickle_error(replace(ok, kGet0 + ")R", kGet7 + ")R")), Catch::Contains("never PUT"));
  CHECK_THAT(pickle_error(ok.substr(0, ok.size() - 1)), Catch::Contains("unexpected end"));
  // calling a storage class
  CHECK_THAT(pickle_error(std::string("\x80\x02") + pk_global("torch", "FloatStorage") + ")R."),
             Catch::Contains("cannot be called"));
  // a dict value that is not a tensor
  CHECK_THAT(pickle_error(std::string("\x80\x02}") + pk_str("a") + pk_int(1) + "s."), Catch::Contains("not a tensor"));
  // a dict that contains itself (a reference cycle) is rejected and freed
  CHECK_THAT(pickle_error(std::string("\x80\x02}") + kPut0 + pk_str("a") + kGet0 + "s."), Catch::Contains("not a tensor"));
  // deep nesting
  std::string deep = std::string("\x80\x02") + pk_int(1) + std::string(100000, '\x85') + ".";
  CHECK_THAT(pickle_error(deep), Catch::Contains("nested too deeply"));
}

TEST_CASE("zip: stored entries are found in plain and zip64 archives, compressed ones are refused") {
  const std::string pkl = pk_dict("w", {2, 3}, {3, 1}, 1, 7);
  const std::vector<float> values = {9, 1, 2, 3, 4, 5, 6};
  const std::vector<std::pair<std::string, std::string>> files = {
      {"arch/data.pkl", pkl}, {"arch/data/0", floats_bytes(values)}, {"arch/version", "3\n"}};
  for (bool zip64 : {false, true}) {
    CAPTURE(zip64);
    std::string z = make_zip(files, zip64);
    auto f = rwkv::MappedFile::from_memory(z.data(), z.size(), "test.pth");
    auto entries = rwkv::read_zip_directory(*f);
    REQUIRE(entries.size() == 3);
    CHECK(entries[1].name == "arch/data/0");
    CHECK(entries[1].size == 28);
    CHECK(std::memcmp(f->data() + entries[1].data_offset, files[1].second.data(), 28) == 0);
    rwkv::Model m;
    rwkv::read_pth(f, m);
    const rwkv::Tensor& t = m.get("w");
    CHECK(t.shape == std::vector<int64_t>{2, 3});
    CHECK(t.to_f32() == std::vector<float>(values.begin() + 1, values.end()));
  }
  std::string z = make_zip(files, false, "arch/data/0");
  auto f = rwkv::MappedFile::from_memory(z.data(), z.size(), "test.pth");
  rwkv::Model m;
  try {
    rwkv::read_pth(f, m);
    FAIL("compressed entry accepted");
  } catch (const rwkv::Error& e) {
    CHECK_THAT(std::string(e.what()), Catch::Contains("arch/data/0") && Catch::Contains("compressed"));
  }
}

TEST_CASE("json: valid documents parse exactly") {
  rwkv::Json v = rwkv::parse_json(
      R"( {"a": [1, -2, 3.5, 1e3, 9007199254740993], "s": "x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00",
           "t": true, "f": false, "n": null, "o": {}} )", "t");
  REQUIRE(v.is_object());
  const auto& a = v.at("a");
  REQUIRE(a.size() == 5);
  CHECK(a[0].is_number_integer());
  CHECK(a[1].get<int64_t>() == -2);
  CHECK(!a[2].is_number_integer());
  CHECK(a[2].get<double>() == 3.5);
  CHECK(!a[3].is_number_integer());
  CHECK(a[3].get<double>() == 1000);
  CHECK(a[4].get<int64_t>() == 9007199254740993LL);
  CHECK(v.at("s").get<std::string>() == "x\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80");
  CHECK(v.at("t").get<bool>());
  CHECK(v.at("n").is_null());
  CHECK(v.at("o").empty());
  // Members keep file order.
  const rwkv::Json order = rwkv::parse_json(R"({"z": 1, "a": 2, "m": 3})", "t");
  std::string keys;
  for (const auto& kv : order.items()) keys += kv.key();
  CHECK(keys == "zam");
}

TEST_CASE("json: everything outside strict RFC 8259 is an error") {
  for (const char* bad : {"", "[1,]", "{\"a\":1,}", "{'a':1}", "// c\n{}", "{\"a\":1,\"a\":2}", "\"\\x\"",
                          "\"\\ud800\"", "\"\\udc00\"", "01", "1.", ".5", "+1", "-", "nul", "[1] x", "\"a",
                          "\"\x01\"", "\"\xff\"", "\"\xc0\x80\"", "\"\xed\xa0\x80\"", "1e999", "[", "{\"a\"}",
                          "{\"a\" 1}", "[1 2]", "tru", "NaN", "Infinity"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(rwkv::parse_json(std::string(bad), "t"), rwkv::Error);
  }
  CHECK_THROWS_WITH(rwkv::parse_json(std::string(70, '[') + std::string(70, ']'), "t"),
                    Catch::Contains("nesting"));
  CHECK_THROWS_WITH(rwkv::parse_json("{\"a\":1,\"b\":{\"c\":1,\"c\":2}}", "hdr"),
                    Catch::Contains("hdr: invalid JSON: duplicate key 'c'"));
  CHECK_THROWS_WITH(rwkv::parse_json("{\n\"a\": [1,]}", "hdr"), Catch::StartsWith("hdr:2:"));
  CHECK_NOTHROW(rwkv::parse_json(std::string(60, '[') + std::string(60, ']'), "t"));
}

TEST_CASE("half floats: fp16 -> fp32 is exact for all 65536 encodings") {
  for (uint32_t h = 0; h < 65536; h++) {
    const int e = (h >> 10) & 31, man = h & 1023;
    const double sign = (h & 0x8000) ? -1 : 1;
    const float got = rwkv::f16_to_f32(uint16_t(h));
    if (e == 31) {
      if (man) CHECK(std::isnan(got));
      else CHECK(got == float(sign * INFINITY));
      continue;
    }
    const double want = e == 0 ? sign * std::ldexp(double(man), -24) : sign * std::ldexp(1024.0 + man, e - 25);
    if (double(got) != want || std::signbit(got) != bool(h & 0x8000)) FAIL("f16 " << h);
  }
}

TEST_CASE("half floats: fp32 -> fp16 and -> bf16 round to nearest, ties to even") {
  // Reference fp16: the nearest of all finite fp16 values (binary search over
  // the positive encodings, which increase with the bits), ties to the even
  // encoding, and >= 65520 (halfway past the largest, 65504) to infinity.
  auto ref_f16 = [](float x) -> uint16_t {
    if (std::isnan(x)) return 0x7e00;
    const uint16_t sign = std::signbit(x) ? 0x8000 : 0;
    const double a = std::fabs(double(x));
    if (a >= 65520.0) return sign | 0x7c00;
    uint32_t lo = 0, hi = 0x7bff;  // largest finite
    while (lo < hi) {  // first encoding >= a
      uint32_t mid = (lo + hi) / 2;
      if (double(rwkv::f16_to_f32(uint16_t(mid))) < a) lo = mid + 1; else hi = mid;
    }
    uint32_t best = lo;
    if (lo > 0) {
      double up = double(rwkv::f16_to_f32(uint16_t(lo))) - a, down = a - double(rwkv::f16_to_f32(uint16_t(lo - 1)));
      if (down < up || (down == up && ((lo - 1) & 1) == 0)) best = lo - 1;
    }
    return uint16_t(sign | best);
  };
  auto ref_bf16 = [](float x) -> uint16_t {
    const uint32_t u = rwkv::f32_bits(x);
    if (std::isnan(x)) return uint16_t((u >> 16) | 0x40);
    const uint32_t lo = u >> 16;
    if (std::isinf(x)) return uint16_t(lo);
    const double down = std::fabs(double(x) - double(rwkv::bf16_to_f32(uint16_t(lo))));
    const double up_v = double(rwkv::bf16_to_f32(uint16_t(lo + 1)));
    const double up = std::isinf(up_v) ? std::ldexp(1.0, 128) - std::fabs(double(x)) : std::fabs(up_v - double(x));
    if (down < up || (down == up && (lo & 1) == 0)) return uint16_t(lo);
    return uint16_t(lo + 1);
  };
  int64_t bad16 = 0, badb = 0;
  auto check = [&](uint32_t u) {
    const float x = rwkv::f32_from_bits(u);
    const uint16_t h = rwkv::f32_to_f16(x), want = ref_f16(x);
    if (std::isnan(x) ? !std::isnan(rwkv::f16_to_f32(h)) : h != want) bad16++;
    const uint16_t b = rwkv::f32_to_bf16(x), wantb = ref_bf16(x);
    if (std::isnan(x) ? !std::isnan(rwkv::bf16_to_f32(b)) : b != wantb) badb++;
  };
  for (uint64_t u = 0; u < (1ull << 32); u += 4093) check(uint32_t(u));
  // every fp16 value, its neighbours and the exact midpoints (ties)
  for (uint32_t h = 0; h < 0x7c00; h++) {
    const double v = rwkv::f16_to_f32(uint16_t(h)), next = rwkv::f16_to_f32(uint16_t(h + 1));
    for (uint32_t s : {0u, 0x80000000u}) {
      const uint32_t u = rwkv::f32_bits(float(v)) | s;
      check(u); check(u + 1); check(u - 1);
      check(rwkv::f32_bits(float((v + next) / 2)) | s);
    }
  }
  CHECK(bad16 == 0);
  CHECK(badb == 0);
}
