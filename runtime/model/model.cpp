// runtime/model/model.cpp: Tensor and Model basics (lookup, element access).
#include "runtime/model/model.h"

#include <algorithm>
#include <cstring>

#include "runtime/core/half_float.h"
#include "runtime/model/mapped_file.h"

namespace rwkv {

const char* arch_name(Arch a) {
  switch (a) {
    case Arch::v4: return "4";
    case Arch::v5_0: return "5.0";
    case Arch::v5_1: return "5.1";
    case Arch::v5_2: return "5.2";
    case Arch::v6: return "6";
    case Arch::v7: return "7";
  }
  return "?";
}

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

float Tensor::at(int64_t i) const {
  if (quantized()) {
    // Official index i of [out, in] (or of its transpose [in, out]).
    const int64_t out = quant.out, in = quant.in;
    const int64_t r = quant_transposed ? i % out : i / in, c = quant_transposed ? i / out : i % in;
    return quant.at(static_cast<int>(r), static_cast<int>(c));
  }
  const uint8_t* p = static_cast<const uint8_t*>(data) + size_t(i) * dtype_size(dtype);
  if (dtype == DType::f32) {
    float f;
    std::memcpy(&f, p, 4);
    return f;
  }
  uint16_t h;
  std::memcpy(&h, p, 2);
  return dtype == DType::f16 ? f16_to_f32(h) : bf16_to_f32(h);
}

std::vector<float> Tensor::to_f32() const {
  if (quantized()) {
    std::vector<float> w = dequantize_matrix(quant);
    if (!quant_transposed) return w;
    std::vector<float> t(w.size());
    const size_t rows = static_cast<size_t>(quant.out), cols = static_cast<size_t>(quant.in);
    for (size_t r = 0; r < rows; ++r)
      for (size_t c = 0; c < cols; ++c) t[c * rows + r] = w[r * cols + c];
    return t;
  }
  std::vector<float> out(size_t(numel() > 0 ? numel() : 0));
  to_f32(out.data());
  return out;
}

void Tensor::to_f32(float* out) const {
  const size_t n = size_t(numel() > 0 ? numel() : 0);
  if (quantized()) {
    const std::vector<float> w = to_f32();
    std::copy(w.begin(), w.end(), out);
    return;
  }
  if (dtype == DType::f32) {
    if (n) std::memcpy(out, data, n * 4);
    return;
  }
  // One loop per dtype (no per-element dispatch): loading a multi-GB model
  // spends its time here.
  const uint8_t* p = static_cast<const uint8_t*>(data);
  if (dtype == DType::bf16) {
    for (size_t i = 0; i < n; i++) {
      uint16_t h;
      std::memcpy(&h, p + 2 * i, 2);
      out[i] = bf16_to_f32(h);
    }
  } else {
    for (size_t i = 0; i < n; i++) {
      uint16_t h;
      std::memcpy(&h, p + 2 * i, 2);
      out[i] = f16_to_f32(h);
    }
  }
}

const Tensor* Model::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

const Tensor& Model::get(const std::string& name) const {
  const Tensor* t = find(name);
  if (!t) throw Error(info.path + ": tensor '" + name + "' not found");
  return *t;
}

void Model::add_view(Tensor t) {
  std::string name = t.name;
  if (!tensors_.emplace(name, std::move(t)).second)
    throw Error(info.path + ": duplicate tensor '" + name + "'");
}

void Model::add_owned(Tensor t, std::vector<uint8_t> bytes) {
  owned_.push_back(std::move(bytes));  // moving a vector keeps its buffer in place
  t.data = owned_.back().data();
  t.nbytes = owned_.back().size();
  add_view(std::move(t));
}

}  // namespace rwkv
