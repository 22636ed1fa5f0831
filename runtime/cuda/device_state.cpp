// runtime/cuda/device_state.cpp: see device_state.h.
#include "runtime/cuda/device_state.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "runtime/core/error.h"
#include "runtime/core/half_float.h"

namespace rwkv {
namespace cuda {

DeviceStateLayout::DeviceStateLayout(const StateLayout& external, DType kv_dtype) : kv_dtype_(kv_dtype) {
  if (kv_dtype != DType::f32 && kv_dtype != DType::bf16)
    throw Error(std::string("cuda backend: the state dtype must be fp32 or bf16, not ") + dtype_name(kv_dtype));
  std::vector<size_t> kv_at;  // external offsets of the att.kv pieces
  for (int l = 0; l < external.n_layer(); ++l)
    if (external.layer(l).kv != SIZE_MAX) kv_at.push_back(external.layer(l).kv);
  for (const StateTensor& t : external.tensors()) {
    Piece p;
    p.external = t.offset;
    p.device = size_;
    p.numel = t.numel;
    for (size_t at : kv_at) p.packed |= kv_dtype == DType::bf16 && at == t.offset;
    // A packed piece takes numel/2 floats (numel = H*N*N is even: N >= 8 keeps the next piece's
    // 16-byte alignment as in the fp32 layout).
    size_ += p.packed ? (t.numel + 1) / 2 : t.numel;
    pieces_.push_back(p);
  }
  // The device offset of the piece at external offset `at` (the pieces are in offset order).
  auto moved = [&](size_t at) {
    if (at == SIZE_MAX) return SIZE_MAX;
    const auto it = std::lower_bound(pieces_.begin(), pieces_.end(), at,
                                     [](const Piece& p, size_t off) { return p.external < off; });
    if (it == pieces_.end() || it->external != at) throw Error("cuda backend: state piece not in the layout");
    return it->device;
  };
  for (int l = 0; l < external.n_layer(); ++l) {
    const LayerStateOffsets& e = external.layer(l);
    LayerStateOffsets d;
    d.att_x = moved(e.att_x);
    d.aa = moved(e.aa);
    d.bb = moved(e.bb);
    d.pp = moved(e.pp);
    d.kv = moved(e.kv);
    d.ffn_x = moved(e.ffn_x);
    layers_.push_back(d);
  }
}

void DeviceStateLayout::to_device(const float* external, float* device) const {
  for (const Piece& p : pieces_) {
    if (!p.packed) {
      std::memcpy(device + p.device, external + p.external, p.numel * sizeof(float));
      continue;
    }
    char* out = reinterpret_cast<char*>(device + p.device);
    for (size_t e = 0; e < p.numel; ++e) {
      const uint16_t h = f32_to_bf16(external[p.external + e]);  // round to nearest even
      std::memcpy(out + 2 * e, &h, 2);
    }
  }
}

void DeviceStateLayout::to_external(const float* device, float* external) const {
  for (const Piece& p : pieces_) {
    if (!p.packed) {
      std::memcpy(external + p.external, device + p.device, p.numel * sizeof(float));
      continue;
    }
    const char* in = reinterpret_cast<const char*>(device + p.device);
    for (size_t e = 0; e < p.numel; ++e) {
      uint16_t h;
      std::memcpy(&h, in + 2 * e, 2);
      external[p.external + e] = bf16_to_f32(h);
    }
  }
}

}  // namespace cuda
}  // namespace rwkv
