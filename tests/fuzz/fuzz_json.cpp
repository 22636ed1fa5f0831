// Fuzzes the JSON reader (runtime/core/json.h) under both rule sets: strict
// (safetensors headers) and tokenizer files (repeated keys, depth 256). What
// parses must serialize and parse back to the same value.
#include <cstdlib>

#include "runtime/core/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* text = reinterpret_cast<const char*>(data);
  for (const rwkv::JsonRules rules : {rwkv::JsonRules{}, rwkv::JsonRules{256, true}}) {
    try {
      const rwkv::Json v = rwkv::parse_json(text, size, "fuzz.json", rules);
      if (rwkv::parse_json(v.dump(), "dump", rules) != v) std::abort();
    } catch (const rwkv::Error&) {
    }
  }
  return 0;
}
