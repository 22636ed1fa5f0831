// runtime/core/dtype.h: the element types of weights and activations.
//
// dtype_name and dtype_size are inline so that the kernels (kernels/) use them
// without linking the host runtime.
#pragma once

#include <cstddef>
#include <string>

namespace rwkv {

enum class DType { f32, f16, bf16 };

// "fp32", "fp16", "bf16"
inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "fp32";
    case DType::f16: return "fp16";
    case DType::bf16: return "bf16";
  }
  return "?";
}

inline size_t dtype_size(DType t) { return t == DType::f32 ? 4 : 2; }

// "fp32"/"f32"/"float32", "fp16"/"f16"/"float16", "bf16"/"bfloat16"; false otherwise.
bool dtype_from_name(const std::string& s, DType* out);

}  // namespace rwkv
