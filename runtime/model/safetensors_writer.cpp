// runtime/model/safetensors_writer.cpp: atomic, streaming safetensors output.
#include "runtime/model/safetensors_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "runtime/core/file_mode.h"
#include "runtime/core/half_float.h"
#include "runtime/core/json.h"

namespace rwkv {

namespace {

const char* st_dtype(DType t) {
  switch (t) {
    case DType::f32: return "F32";
    case DType::f16: return "F16";
    case DType::bf16: return "BF16";
  }
  return "?";
}

// Bytes of one element of an entry.
size_t entry_elem_size(const SafetensorsEntry& e) { return e.int_dtype.empty() ? dtype_size(e.dtype) : 1; }

}  // namespace

void convert_floats(const void* src, DType from, void* dst, DType to, size_t count) {
  if (from == to) {
    std::memcpy(dst, src, count * dtype_size(from));
    return;
  }
  const uint8_t* s = static_cast<const uint8_t*>(src);
  uint8_t* d = static_cast<uint8_t*>(dst);
  for (size_t i = 0; i < count; i++) {
    float f;
    if (from == DType::f32) {
      std::memcpy(&f, s + 4 * i, 4);
    } else {
      uint16_t h;
      std::memcpy(&h, s + 2 * i, 2);
      f = from == DType::f16 ? f16_to_f32(h) : bf16_to_f32(h);
    }
    if (to == DType::f32) {
      std::memcpy(d + 4 * i, &f, 4);
    } else {
      uint16_t h = to == DType::f16 ? f32_to_f16(f) : f32_to_bf16(f);
      std::memcpy(d + 2 * i, &h, 2);
    }
  }
}

SafetensorsWriter::SafetensorsWriter(std::string path, std::vector<SafetensorsEntry> entries,
                                     std::vector<std::pair<std::string, std::string>> metadata, bool sorted)
    : path_(std::move(path)), entries_(std::move(entries)) {
  // File order: 4-byte dtypes first (then the data of each stays aligned),
  // names in order within each group; offsets are contiguous as the format wants.
  for (size_t i = 0; i < entries_.size(); i++) {
    const std::string& t = entries_[i].int_dtype;
    if (!t.empty() && t != "I8" && t != "U8")
      throw Error(path_ + ": tensor '" + entries_[i].name + "' has integer dtype " + t + " (I8 or U8 only)");
    order_.push_back(i);
  }
  if (sorted)
    std::stable_sort(order_.begin(), order_.end(), [&](size_t a, size_t b) {
      size_t sa = entry_elem_size(entries_[a]), sb = entry_elem_size(entries_[b]);
      if (sa != sb) return sa > sb;
      return entries_[a].name < entries_[b].name;
    });
  sizes_.resize(entries_.size());
  for (size_t i = 0; i < entries_.size(); i++) {
    uint64_t n = entry_elem_size(entries_[i]);
    for (int64_t d : entries_[i].shape) {
      if (d < 0) throw Error(path_ + ": tensor '" + entries_[i].name + "' has a negative dimension");
      n *= uint64_t(d);
    }
    sizes_[i] = n;
  }
  std::vector<std::pair<uint64_t, uint64_t>> offsets(entries_.size());
  uint64_t pos = 0;
  for (size_t i : order_) {
    if (pos % entry_elem_size(entries_[i]))
      throw Error(path_ + ": tensor '" + entries_[i].name + "' would start at byte " + std::to_string(pos) +
                  " of the data, not aligned for its element size");
    offsets[i] = {pos, pos + sizes_[i]};
    pos += sizes_[i];
  }

  // The header: {"__metadata__": {"format": "pt", ...}, "<name>": {"dtype", "shape", "data_offsets"}, ...}
  // in file order, compact (nlohmann's dump without indent).
  Json header = Json::object();
  Json& meta = header["__metadata__"] = Json::object();
  meta["format"] = "pt";
  for (const auto& kv : metadata)
    if (kv.first != "format") meta[kv.first] = kv.second;
  for (size_t i : order_) {
    const SafetensorsEntry& e = entries_[i];
    if (e.name == "__metadata__") throw Error(path_ + ": a tensor cannot be named __metadata__");
    header[e.name] = {{"dtype", e.int_dtype.empty() ? st_dtype(e.dtype) : e.int_dtype.c_str()}, {"shape", e.shape}, {"data_offsets", {offsets[i].first, offsets[i].second}}};
  }
  std::string h = header.dump(-1, ' ', false, Json::error_handler_t::replace);
  while ((8 + h.size()) % 8) h += ' ';  // data starts 8-byte aligned

  tmp_path_ = path_ + ".tmp-XXXXXX";
  int fd = mkstemp(&tmp_path_[0]);
  if (fd < 0) throw Error(path_ + ": cannot create a temporary file beside it: " + std::strerror(errno));
  fchmod(fd, new_file_mode());  // 0666 less the umask (runtime/core/file_mode.h)
  out_ = fdopen(fd, "wb");
  if (!out_) {
    int e = errno;
    close(fd);
    unlink(tmp_path_.c_str());
    throw Error(path_ + ": fdopen failed: " + std::strerror(e));
  }
  std::setvbuf(out_, nullptr, _IOFBF, 1 << 20);
  uint8_t len[8];
  uint64_t n = h.size();
  for (int k = 0; k < 8; k++) len[k] = uint8_t(n >> (8 * k));
  put(len, 8);
  put(h.data(), h.size());
  advance(0);
}

SafetensorsWriter::~SafetensorsWriter() {
  if (out_) std::fclose(out_);
  if (!finished_ && !tmp_path_.empty()) unlink(tmp_path_.c_str());
}

void SafetensorsWriter::fail(const std::string& msg) {
  if (out_) std::fclose(out_);
  out_ = nullptr;
  unlink(tmp_path_.c_str());
  tmp_path_.clear();
  throw Error(path_ + ": " + msg);
}

void SafetensorsWriter::put(const void* data, size_t n) {
  if (!out_) throw Error(path_ + ": writer is closed");
  if (n && std::fwrite(data, 1, n, out_) != n) fail(std::string("write failed: ") + std::strerror(errno));
}

// Moves past finished (and empty) tensors after `nbytes` more of the current one.
void SafetensorsWriter::advance(size_t nbytes) {
  written_ += nbytes;
  while (current_ < order_.size() && written_ == sizes_[order_[current_]]) {
    current_++;
    written_ = 0;
  }
}

void SafetensorsWriter::write_raw(const void* data, size_t nbytes) {
  if (current_ >= order_.size() || nbytes > sizes_[order_[current_]] - written_)
    fail("more data written than the tensors declared");
  put(data, nbytes);
  advance(nbytes);
}

void SafetensorsWriter::write_f32(const float* data, size_t count) {
  if (current_ >= order_.size()) fail("more data written than the tensors declared");
  if (!entries_[order_[current_]].int_dtype.empty())
    fail("tensor '" + entries_[order_[current_]].name + "' holds integers: write_raw only");
  DType t = entries_[order_[current_]].dtype;
  if (t == DType::f32) {
    write_raw(data, count * 4);
    return;
  }
  scratch_.resize(count * 2);
  convert_floats(data, DType::f32, scratch_.data(), t, count);
  write_raw(scratch_.data(), count * 2);
}

void SafetensorsWriter::finish() {
  if (current_ != order_.size())
    fail("tensor '" + entries_[order_[current_]].name + "' was not written in full");
  if (std::fflush(out_) != 0) fail(std::string("write failed: ") + std::strerror(errno));
  if (fsync(fileno(out_)) != 0) fail(std::string("fsync failed: ") + std::strerror(errno));
  if (std::fclose(out_) != 0) {
    out_ = nullptr;
    fail(std::string("close failed: ") + std::strerror(errno));
  }
  out_ = nullptr;
  if (std::rename(tmp_path_.c_str(), path_.c_str()) != 0)
    fail("cannot rename " + tmp_path_ + " into place: " + std::strerror(errno));
  finished_ = true;
}

void write_safetensors(const Model& m, const std::string& path, const DType* dtype) {
  // A quantized tensor (runtime/quant/quant_format.h) is written dequantized: in
  // `dtype` when given, else fp32 (which holds its values exactly).
  auto out_dtype = [&](const Tensor& t) { return dtype ? *dtype : t.quantized() ? DType::f32 : t.dtype; };
  std::vector<SafetensorsEntry> entries;
  std::vector<const Tensor*> tensors;
  for (const auto& kv : m.tensors()) {
    entries.push_back({kv.first, out_dtype(kv.second), kv.second.shape});
    tensors.push_back(&kv.second);
  }
  SafetensorsWriter w(path, std::move(entries),
                      {{"source", m.info.format}, {"rwkv_version", arch_name(m.info.arch)}});
  const size_t chunk = 1 << 20;  // elements per conversion step
  std::vector<uint8_t> buf;
  for (size_t i : w.order()) {
    const Tensor& t = *tensors[i];
    const DType to = out_dtype(t);
    const size_t n = size_t(t.numel());
    if (t.quantized()) {
      const std::vector<float> v = t.to_f32();
      w.write_f32(v.data(), v.size());
      continue;
    }
    const uint8_t* src = static_cast<const uint8_t*>(t.data);
    for (size_t k = 0; k < n; k += chunk) {
      size_t c = std::min(chunk, n - k);
      if (to == t.dtype) {
        w.write_raw(src + k * dtype_size(t.dtype), c * dtype_size(t.dtype));
      } else {
        buf.resize(c * dtype_size(to));
        convert_floats(src + k * dtype_size(t.dtype), t.dtype, buf.data(), to, c);
        w.write_raw(buf.data(), buf.size());
      }
    }
  }
  w.finish();
}

}  // namespace rwkv
