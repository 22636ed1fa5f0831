// Fuzzes the zip directory reader and the .pth reader on top of it.
#include "runtime/model/readers.h"
#include "runtime/model/zip_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = rwkv::MappedFile::from_memory(data, size, "fuzz.pth");
  try {
    rwkv::read_zip_directory(*file);
    rwkv::Model m;
    rwkv::read_pth(file, m);
  } catch (const rwkv::Error&) {
  }
  return 0;
}
