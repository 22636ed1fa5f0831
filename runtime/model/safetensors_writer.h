// runtime/model/safetensors_writer.h: writes safetensors files atomically.
//
// The file is written to a temporary name beside the destination and renamed
// into place only by finish(); if anything fails (or finish() is never
// called) the temporary file is removed and no partial output remains.
// Tensors are written one at a time, so a model never has to be held twice.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "runtime/model/model.h"

namespace rwkv {

struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::f32;
  std::vector<int64_t> shape;
  // "I8" or "U8": a one-byte integer entry (quantized values, runtime/quant/quant_file.h),
  // written with write_raw; `dtype` is then ignored. Empty: a float entry of `dtype`.
  std::string int_dtype = {};
};

class SafetensorsWriter {
 public:
  // Writes the header at once. `metadata` goes into "__metadata__"
  // ({"format": "pt"} is always added, as PyTorch-side tools expect).
  // `sorted` (the default): data in the order described at order(); false: in the
  // order of `entries`, which must keep every entry aligned for its element size
  // (rwkv::Error otherwise).
  SafetensorsWriter(std::string path, std::vector<SafetensorsEntry> entries,
                    std::vector<std::pair<std::string, std::string>> metadata = {}, bool sorted = true);
  ~SafetensorsWriter();
  SafetensorsWriter(const SafetensorsWriter&) = delete;
  SafetensorsWriter& operator=(const SafetensorsWriter&) = delete;

  // The order in which tensor data must be supplied (indices into `entries`):
  // 4-byte dtypes first, so every tensor is aligned for its element size
  // (unsorted: the entries' own order).
  const std::vector<size_t>& order() const { return order_; }

  // Appends data to the current tensor (in order()), in one or more pieces.
  // write_f32 converts from fp32 to the tensor's dtype (round to nearest even);
  // write_raw takes bytes already in the tensor's dtype.
  void write_f32(const float* data, size_t count);
  void write_raw(const void* data, size_t nbytes);

  // Checks that every tensor was written in full, flushes, syncs and renames.
  void finish();

 private:
  void put(const void* data, size_t n);
  void advance(size_t nbytes);
  [[noreturn]] void fail(const std::string& msg);

  std::string path_, tmp_path_;
  std::vector<SafetensorsEntry> entries_;
  std::vector<size_t> order_;
  std::vector<uint64_t> sizes_;  // bytes per entry
  FILE* out_ = nullptr;
  size_t current_ = 0;     // position in order_
  uint64_t written_ = 0;   // bytes of the current tensor so far
  bool finished_ = false;
  std::vector<uint8_t> scratch_;
};

// Writes all tensors of `m` under their official names. With `dtype` given,
// every tensor is converted to it; otherwise each keeps its own dtype, except
// that quantized tensors are dequantized to fp32 (always dense: the quantized
// layout is write_quantized_safetensors', runtime/quant/quant_file.h).
void write_safetensors(const Model& m, const std::string& path, const DType* dtype = nullptr);

// Converts `count` elements between float dtypes (narrowing rounds to nearest even).
void convert_floats(const void* src, DType from, void* dst, DType to, size_t count);

}  // namespace rwkv
