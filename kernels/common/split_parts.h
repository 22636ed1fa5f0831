// kernels/common/split_parts.h: how many bf16 parts the chunked WKV kernels split each fp32
// tensor-core operand into (kernels/common/mma_split.cuh has the split and its error; wkv5_params
// and wkv7_params::split_parts choose it). Plain constants: host and device code include it.
#pragma once

namespace rwkv_kernels {

constexpr int kSplitFp32 = 3;     // fp32-accurate products (24 significant bits an operand)
constexpr int kSplitBf16Run = 2;  // runs whose activations are bf16 or fp16 (16 bits an operand)

// Whether `parts` is a split the kernels are built for.
constexpr bool split_parts_valid(int parts) { return parts == kSplitFp32 || parts == kSplitBf16Run; }

}  // namespace rwkv_kernels
