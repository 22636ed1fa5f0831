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
};

class SafetensorsWriter {
 public:
  // Writes the header at once. `metadata` goes into "__metadata__"
  // ({"format": "pt"} is always added, as PyTorch-side tools expect).
  SafetensorsWriter(std::string path, std::vector<SafetensorsEntry> entries,
                    std::vector<std::pair<std::string, std::string>> metadata = {});
  ~SafetensorsWriter();
  SafetensorsWriter(const SafetensorsWriter&) = delete;
  SafetensorsWriter& operator=(const SafetensorsWriter&) = delete;

  // The order in which tensor data must be supplied (indices into `entries`):
  // 4-byte dtypes first, so every tensor is aligned for its element size.
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
// every tensor is converted to it; otherwise each keeps its own dtype.
void write_safetensors(const Model& m, const std::string& path, const DType* dtype = nullptr);

// Converts `count` elements between float dtypes (narrowing rounds to nearest even).
void convert_floats(const void* src, DType from, void* dst, DType to, size_t count);

}  // namespace rwkv
