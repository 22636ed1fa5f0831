// Fuzzes the strict JSON parser (safetensors headers).
#include "runtime/model/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    rwkv::parse_json(reinterpret_cast<const char*>(data), size, "fuzz.json");
  } catch (const rwkv::Error&) {
  }
  return 0;
}
