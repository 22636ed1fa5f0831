// Fuzzes the restricted torch pickle reader (data.pkl of .pth files).
#include "runtime/model/torch_pickle.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    rwkv::read_torch_pickle(data, size, "fuzz.pkl");
  } catch (const rwkv::Error&) {
  }
  return 0;
}
