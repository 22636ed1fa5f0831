// runtime/cuda/device_state.h: where the CUDA backend keeps a state in device memory.
//
// Outside the backend a state is always the fp32 StateLayout (runtime/backend/state_layout.h):
// state files, read_slot/write_slot, the C API, every host-side state. Inside, the slot pool and
// the initial state use a device layout: the same pieces in the same order, with piece offsets
// still in floats (so a state is still a float* base), but with CudaOptions::state_dtype bf16 each
// layer's matrix-valued WKV state (att.kv, [H,N,N], v5.x/v6/v7) holds bf16 values in numel/2
// floats of room. The token-shift vectors and v4's aa/bb/pp stay fp32 (small, and pp is a
// log-space running maximum), so for v4 the device layout is the fp32 one. With fp32 the device
// layout is the external layout, float for float.
//
// The conversions run on the host, on the backend's pinned staging: to_device rounds the kv
// pieces to bf16 (nearest even), to_external widens them exactly.
#pragma once

#include <cstddef>
#include <vector>

#include "runtime/backend/state_layout.h"
#include "runtime/core/dtype.h"

namespace rwkv {
namespace cuda {

class DeviceStateLayout {
 public:
  DeviceStateLayout() = default;
  // kv_dtype: f32 or bf16 (anything else throws rwkv::Error).
  DeviceStateLayout(const StateLayout& external, DType kv_dtype);

  DType kv_dtype() const { return kv_dtype_; }
  size_t size() const { return size_; }  // floats of room per state
  size_t bytes() const { return size_ * sizeof(float); }
  // Offsets (in floats) of layer l's pieces in a device state.
  const LayerStateOffsets& layer(int l) const { return layers_.at(static_cast<size_t>(l)); }

  // external (StateLayout::size() floats) -> device (size() floats), and back.
  void to_device(const float* external, float* device) const;
  void to_external(const float* device, float* external) const;

 private:
  struct Piece {
    size_t external = 0, device = 0, numel = 0;  // offsets in floats, values
    bool packed = false;                         // bf16 values in the device layout
  };
  DType kv_dtype_ = DType::f32;
  std::vector<Piece> pieces_;
  std::vector<LayerStateOffsets> layers_;
  size_t size_ = 0;
};

}  // namespace cuda
}  // namespace rwkv
