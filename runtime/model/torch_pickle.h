// runtime/model/torch_pickle.h: a restricted reader for the data.pkl that
// torch.save writes for a dict / OrderedDict of tensors.
//
// This is not a Python unpickler. It interprets only the pickle opcodes that
// torch.save (protocol 2) emits for such a dict and recognises only these
// globals: collections.OrderedDict, torch._utils._rebuild_tensor_v2,
// torch._utils._rebuild_parameter (an nn.Parameter is read as its tensor) and
// torch.{Float,Half,BFloat16}Storage. Nothing is ever executed or imported;
// anything else is an rwkv::Error naming the opcode or the global.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/model/model.h"

namespace rwkv {

// One tensor of the pickled dict: a view of `storage_numel` elements stored
// in the archive entry `data/<storage_key>`.
struct PickledTensor {
  std::string name;
  DType dtype = DType::f32;
  std::string storage_key;
  uint64_t storage_numel = 0;
  uint64_t offset = 0;  // storage offset, in elements
  std::vector<int64_t> shape;
  std::vector<int64_t> stride;
};

// Parses data.pkl. `what` names the input in error messages. Tensors come
// back in the dict's order. Checks that each tensor is contiguous and lies
// inside its storage; the caller checks the storage entry's size.
std::vector<PickledTensor> read_torch_pickle(const uint8_t* data, uint64_t size,
                                             const std::string& what);

}  // namespace rwkv
