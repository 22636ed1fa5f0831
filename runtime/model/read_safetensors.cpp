// runtime/model/read_safetensors.cpp: safetensors files (8-byte little-endian
// header length, JSON header, raw little-endian data). F32, F16 and BF16
// tensors become views into the mapped file; `__metadata__` is read only for
// the quantized layout (runtime/quant/quant_file.h: I8/U8 values and F16 scales
// under NAME.qweight / .qscale / .qmin become one quantized tensor NAME).
#include <map>

#include "runtime/core/json.h"
#include "runtime/model/byte_ranges.h"
#include "runtime/model/readers.h"
#include "runtime/quant/quant_file.h"

namespace rwkv {

namespace {

// Real headers are ~100 bytes per tensor; the cap bounds what a hostile header can
// make the JSON parser allocate.
constexpr uint64_t kMaxHeader = 16ull << 20;

DType parse_dtype(const std::string& s, const std::string& what, const std::string& name) {
  if (s == "F32") return DType::f32;
  if (s == "F16") return DType::f16;
  if (s == "BF16") return DType::bf16;
  throw Error(what + ": tensor '" + name + "' has dtype " + s +
              " (only F32, F16 and BF16 are supported)");
}

// Bytes per element of a safetensors dtype this reader accepts (I8/U8 only as
// quantized parts; 0 for anything else).
uint64_t element_bytes(const std::string& s) {
  if (s == "F32") return 4;
  if (s == "F16" || s == "BF16") return 2;
  if (s == "I8" || s == "U8") return 1;
  return 0;
}

// The string entries of "__metadata__" (other values are ignored, as before).
std::map<std::string, std::string> string_metadata(const Json& header, const std::string& what) {
  std::map<std::string, std::string> out;
  const Json* meta = json_find(header, "__metadata__");
  if (!meta) return out;
  if (!meta->is_object()) throw Error(what + ": safetensors __metadata__ is not an object");
  for (const auto& kv : meta->items())
    if (kv.value().is_string()) out[kv.key()] = kv.value().get<std::string>();
  return out;
}

uint64_t non_negative(const Json& v, const std::string& what, const std::string& name, const char* field) {
  // nlohmann keeps a number written without fraction or exponent as an integer
  // (unsigned when it is not negative); 1.0 or 1e3 are floats and refused.
  if (!v.is_number_unsigned())
    throw Error(what + ": tensor '" + name + "': " + field + " must hold non-negative integers");
  return v.get<uint64_t>();
}

}  // namespace

void read_safetensors(const std::shared_ptr<MappedFile>& file, Model& m) {
  const std::string& what = file->path();
  const uint64_t size = file->size();
  // Anything that is not zip or ggml lands here: say so if it is not safetensors either.
  const std::string unknown =
      what + ": not a recognised model file (not a PyTorch .pth zip, not an rwkv.cpp ggml file, "
             "not safetensors)";
  if (size < 10) throw Error(unknown);
  ByteCursor c(file->data(), size, what);
  uint64_t header_len = c.u64();
  if (header_len < 2 || header_len > kMaxHeader || header_len > size - 8) {
    if (file->data()[8] != '{' || header_len < 2) throw Error(unknown);
    if (header_len > kMaxHeader)
      throw Error(what + ": safetensors header of " + std::to_string(header_len) +
                  " bytes is larger than the 16 MiB this reader accepts");
    throw Error(what + ": safetensors header of " + std::to_string(header_len) +
                " bytes runs past the end of the file (truncated?)");
  }
  const char* text = reinterpret_cast<const char*>(file->data() + 8);
  if (text[0] != '{') throw Error(unknown);
  const Json header = parse_json(text, size_t(header_len), what + " (safetensors header)");
  if (!header.is_object()) throw Error(what + ": safetensors header is not a JSON object");

  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = size - data_start;
  const QuantFileMeta meta = parse_quant_meta(string_metadata(header, what), what);
  std::map<std::string, std::map<std::string, StoredPart>> quant_parts;  // base -> part -> entry
  std::vector<ByteRange> ranges;  // every entry's bytes, checked for overlaps at the end
  for (const auto& kv : header.items()) {
    const std::string& name = kv.key();
    if (name == "__metadata__") continue;
    const Json& info = kv.value();
    if (!info.is_object()) throw Error(what + ": entry '" + name + "' is not an object");
    const Json* dtype = json_find(info, "dtype");
    const Json* shape = json_find(info, "shape");
    const Json* offsets = json_find(info, "data_offsets");
    if (!dtype || !dtype->is_string() || !shape || !shape->is_array() || !offsets || !offsets->is_array() ||
        offsets->size() != 2 || info.size() != 3)
      throw Error(what + ": entry '" + name +
                  "' must have exactly \"dtype\" (string), \"shape\" (array) and \"data_offsets\" "
                  "([begin, end])");
    std::string base, part;
    const bool is_part = quant_part_name(name, &base, &part);
    if (is_part && !meta.present)
      throw Error(what + ": entry '" + name + "' is part of a quantized tensor, but the file's __metadata__ has no " +
                  kQuantMetaVersion + " (not a quantized rwkv-run file)");
    const std::string dt = dtype->get<std::string>();
    const uint64_t es = element_bytes(dt);
    if (es == 0 || (!is_part && es == 1))
      throw Error(what + ": tensor '" + name + "' has dtype " + dt +
                  " (only F32, F16 and BF16 are supported; I8 and U8 only in quantized tensors)");
    if (shape->size() > 8) throw Error(what + ": tensor '" + name + "' has more than 8 dimensions");
    std::vector<int64_t> dims;
    uint64_t numel = 1;
    for (const Json& d : *shape) {
      uint64_t n = non_negative(d, what, name, "shape");
      if (!mul_ok(numel, n, &numel) || numel > (uint64_t(1) << 60))
        throw Error(what + ": tensor '" + name + "' is impossibly large");
      dims.push_back(int64_t(n));
    }
    uint64_t begin = non_negative((*offsets)[0], what, name, "data_offsets");
    uint64_t end = non_negative((*offsets)[1], what, name, "data_offsets");
    uint64_t nbytes = numel * es;
    if (begin > end || end - begin != nbytes)
      throw Error(what + ": tensor '" + name + "' data_offsets [" + std::to_string(begin) + ", " +
                  std::to_string(end) + "] do not hold " + std::to_string(numel) + " " + dt + " elements");
    if (end > data_size)
      throw Error(what + ": tensor '" + name + "' data (up to byte " + std::to_string(data_start + end) +
                  ") lies beyond the end of the file (" + std::to_string(size) + " bytes); truncated?");
    const uint8_t* data = file->data() + data_start + begin;
    ranges.push_back(ByteRange{data_start + begin, data_start + end, name});
    if (is_part) {
      quant_parts[base][part] = StoredPart{dt, std::move(dims), data, nbytes};
      continue;
    }
    Tensor t;
    t.name = name;
    t.dtype = parse_dtype(dt, what, name);
    t.shape = std::move(dims);
    t.data = data;
    t.nbytes = size_t(nbytes);
    add_file_tensor(m, std::move(t));
  }
  check_disjoint(ranges, what);
  add_quant_tensors(m, meta, quant_parts, what);
  m.info.format = "safetensors";
}

}  // namespace rwkv
