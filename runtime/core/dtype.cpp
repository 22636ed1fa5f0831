// runtime/core/dtype.cpp: element type names as users spell them.
#include "runtime/core/dtype.h"

namespace rwkv {

bool dtype_from_name(const std::string& s, DType* out) {
  if (s == "fp32" || s == "f32" || s == "float32") *out = DType::f32;
  else if (s == "fp16" || s == "f16" || s == "float16") *out = DType::f16;
  else if (s == "bf16" || s == "bfloat16") *out = DType::bf16;
  else return false;
  return true;
}

}  // namespace rwkv
