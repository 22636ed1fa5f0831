// runtime/quant/quant_file.h: quantized tensors in safetensors files (docs/quantization.md).
//
// A tensor of official name NAME stored quantized (runtime/quant/quant_format.h) takes
// two or three safetensors entries in place of NAME:
//
//   NAME.qweight  int8: I8 [out, in]       the values, row-major, one byte each
//                 q4:   U8 [out, in / 2]   two values a byte (low nibble first)
//   NAME.qscale   F16 [out, in / group]    one scale per group of `group` inputs
//   NAME.qmin     F16 [out, in / group]    one offset per group
//
// [out, in] is the matrix as applied (y = W x). It is the official tensor itself for
// nn.Linear weights and head.weight; for the LoRA matrices (official [in, out], used
// as x @ M) it is the official tensor transposed, and NAME is listed in the metadata's
// rwkv_run.quant_transposed. `group` is in / (columns of qscale): a multiple of 32
// that divides `in`. The header's "__metadata__" (string values) holds
//
//   "rwkv_run.quant": "1"                     the layout's version
//   "rwkv_run.quant_kind": "int8" | "q4"      one kind per file
//   "rwkv_run.quant_transposed": "A,B,..."    official names stored transposed (may be "")
//
// Every other tensor is an ordinary F32/F16/BF16 entry under its official name. The
// reader checks every part (dtypes, shapes, sizes, the group, the kind, missing or
// extra parts) and refuses any inconsistency with an rwkv::Error naming the tensor; a
// quantized tensor comes back with its official name and shape, its `quant` view
// pointing into the mapped file (copied when a hostile file misaligns the fp16 parts).
//
// Which tensors are quantized (`rwkv-run quantize`, and the rwkv.cpp import): every
// matrix the backends apply as a Linear (runtime/arch/weights.h) that is 2-D in the
// file: matrix_use() below. Never the embedding; vectors and v6's 3-D time_maa_w2 stay
// as they are (the backends still quantize time_maa_w2's five matrices at load).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "runtime/model/model.h"

namespace rwkv {

constexpr const char* kQuantMetaVersion = "rwkv_run.quant";
constexpr const char* kQuantMetaKind = "rwkv_run.quant_kind";
constexpr const char* kQuantMetaTransposed = "rwkv_run.quant_transposed";
constexpr const char* kQuantLayoutVersion = "1";

// How the backends apply an official tensor (runtime/arch/weights.h):
//   linear:       a 2-D NAME.weight other than emb.weight, stored [out, in] (y = W x)
//   lora:         a 2-D matrix stored [in, out] and applied as x @ M: the tensors the
//                 version's registry says rwkv.cpp stores transposed (GgmlShape::transpose:
//                 v6 time_maa_w1, time_decay_w1/_w2; v7 w1 w2 a1 a2 v1 v2 g1 g2)
//   lora_batched: v6's time_maa_w2 [5, D, C] (GgmlShape::transpose_batched), five
//                 [C, D] matrices at load
//   none:         anything else (embedding, vectors, per-head [H, N] tensors, state)
enum class MatrixUse { none, linear, lora, lora_batched };
MatrixUse matrix_use(Arch arch, const std::string& name, const std::vector<int64_t>& shape);

// The metadata of a quantized file; `present` false for an ordinary safetensors file.
struct QuantFileMeta {
  bool present = false;
  QuantKind kind = QuantKind::none;
  std::set<std::string> transposed;
};

// One raw safetensors entry as the reader found it (bounds already checked).
struct StoredPart {
  std::string dtype;  // "I8", "U8", "F16", ...
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  uint64_t nbytes = 0;
};

// "NAME.qweight" -> NAME and "qweight" (also qscale, qmin); false for other names.
bool quant_part_name(const std::string& entry, std::string* base, std::string* part);

// The quantization keys of a safetensors "__metadata__" object (key -> string value).
// rwkv::Error naming `what` for an unknown layout version or kind.
QuantFileMeta parse_quant_meta(const std::map<std::string, std::string>& metadata, const std::string& what);

// Builds and adds to `m` one quantized tensor per base name of `parts`
// (base -> part -> entry), checked against `meta`. rwkv::Error naming `what` and the
// tensor on any inconsistency.
void add_quant_tensors(Model& m, const QuantFileMeta& meta,
                       const std::map<std::string, std::map<std::string, StoredPart>>& parts,
                       const std::string& what);

// Writes `m` as a quantized safetensors file at `path` (atomically): every tensor that
// matrix_use() calls linear or lora quantized to `kind` (one already stored in `kind`
// kept as stored; any other went through Tensor::to_f32, transposed into [out, in] for
// LoRA, then quantize_matrix with default_quant_group, exactly as load_weights
// quantizes), every other tensor in its own dtype (fp32 if it was stored quantized).
// rwkv::Error naming the tensor when a matrix cannot be quantized.
struct QuantizeReport {
  int quantized = 0, kept = 0, dense = 0;  // tensors quantized, kept as stored, left dense
  uint64_t bytes = 0;                      // tensor bytes written
};
QuantizeReport write_quantized_safetensors(const Model& m, QuantKind kind, const std::string& path);

// Adds a quantized tensor that owns a copy of `q` (official name and shape; `transposed`
// as Tensor::quant_transposed) to `m`.
void add_owned_quant(Model& m, const std::string& name, std::vector<int64_t> shape, bool transposed,
                     const QuantView& q);

// "int8 g64", "q4 g32", or the dtype's name ("fp32", "bf16"): a tensor's real type.
std::string tensor_type_name(const Tensor& t);

}  // namespace rwkv
