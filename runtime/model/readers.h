// runtime/model/readers.h: the three file-format readers behind load_model().
//
// Each fills `m` with tensors under their official names and shapes (views into
// the mapped file where possible; rwkv.cpp files are converted back to the
// official values) and sets m.info.format. They do not detect the version or
// validate the architecture; load_model() calls check_model() for that.
#pragma once

#include <memory>

#include "runtime/model/mapped_file.h"
#include "runtime/model/model.h"

namespace rwkv {

void read_pth(const std::shared_ptr<MappedFile>& file, Model& m);          // read_pth.cpp
void read_safetensors(const std::shared_ptr<MappedFile>& file, Model& m);  // read_safetensors.cpp
void read_ggml(const std::shared_ptr<MappedFile>& file, Model& m);         // read_ggml.cpp

// Adds a tensor whose bytes are `data` inside the mapped file: as a view when
// the address is aligned for its dtype, else as an aligned copy (so backends
// may always cast `data` to float* / uint16_t*).
void add_file_tensor(Model& m, Tensor t);

}  // namespace rwkv
