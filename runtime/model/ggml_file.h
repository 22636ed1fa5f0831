// runtime/model/ggml_file.h: the raw records of an rwkv.cpp model file, as
// stored (rwkv.cpp's names, ggml dimension order reversed to PyTorch order,
// quantised bytes untouched). read_ggml() builds the official model from these.
//
// Layout (docs/testdata.md section 3): six little-endian int32
// (magic 0x67676d66, version 100/101, n_vocab, n_embed, n_layer, data_type),
// then until EOF: int32 n_dims, int32 key_len, int32 type, int32 ne[n_dims]
// (innermost first), key bytes, data.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/model/ggml_quant.h"
#include "runtime/model/mapped_file.h"

namespace rwkv {

struct GgmlRecord {
  std::string name;
  GgmlType type = GgmlType::f32;
  std::vector<int64_t> shape;  // PyTorch order (ne reversed)
  const uint8_t* data = nullptr;
  uint64_t nbytes = 0;
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
};

struct GgmlFile {
  int32_t version = 0, n_vocab = 0, n_embed = 0, n_layer = 0, data_type = 0;
  std::vector<GgmlRecord> records;
};

constexpr uint32_t kGgmlMagic = 0x67676d66;

// Parses the header and every record; throws rwkv::Error on anything malformed.
GgmlFile read_ggml_records(const MappedFile& f);

}  // namespace rwkv
