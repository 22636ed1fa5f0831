// Fuzzes load_model() end to end: format detection, every reader, validation.
#include "runtime/model/mapped_file.h"
#include "runtime/model/model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    rwkv::load_model(rwkv::MappedFile::from_memory(data, size, "fuzz.model"));
  } catch (const rwkv::Error&) {
  }
  return 0;
}
