// cuda_emu/faults.h: faults the emulator can inject, for tests of recovery paths.
#pragma once

namespace cuda_emu {

// From now on, in every stream capture, the operation with index `op_index`
// (0 = the first kernel, copy, set or cuBLAS call issued into the capture) is
// refused with cudaErrorStreamCaptureUnsupported and invalidates the capture,
// as an operation a GPU cannot capture would. Negative: no fault (the default).
void fail_capture_at(int op_index);

}  // namespace cuda_emu
