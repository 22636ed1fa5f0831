// Fuzzes the rwkv.cpp ggml reader, its conversion back to the official
// tensors, and the model validation after it.
#include "runtime/model/readers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = rwkv::MappedFile::from_memory(data, size, "fuzz.bin");
  try {
    rwkv::Model m;
    rwkv::read_ggml(file, m);
    rwkv::check_model(m, "fuzz.bin");
  } catch (const rwkv::Error&) {
  }
  return 0;
}
