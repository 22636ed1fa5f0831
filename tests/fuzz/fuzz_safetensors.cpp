// Fuzzes the safetensors reader (and the model validation after it).
#include "runtime/model/readers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = rwkv::MappedFile::from_memory(data, size, "fuzz.safetensors");
  try {
    rwkv::Model m;
    rwkv::read_safetensors(file, m);
    rwkv::check_model(m, "fuzz.safetensors");
  } catch (const rwkv::Error&) {
  }
  return 0;
}
