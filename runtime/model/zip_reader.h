// runtime/model/zip_reader.h: the central directory of a zip archive (the
// container of PyTorch's torch.save format), zip64 included.
//
// Only what is needed to find entries in place: names, compression method and
// the byte range of each entry's data inside the file. No decompression.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/model/mapped_file.h"

namespace rwkv {

struct ZipEntry {
  std::string name;
  uint16_t method = 0;       // 0 = stored; anything else is compressed
  uint64_t data_offset = 0;  // where the entry's bytes start in the file
  uint64_t size = 0;         // uncompressed size (= stored size when method 0)
};

// Reads the central directory and each entry's local header. Throws
// rwkv::Error on a malformed or truncated archive.
std::vector<ZipEntry> read_zip_directory(const MappedFile& f);

// True if the file starts with a zip local-file-header signature "PK\3\4".
bool looks_like_zip(const MappedFile& f);

}  // namespace rwkv
