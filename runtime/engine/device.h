// runtime/engine/device.h: the one parser of device strings, used by the
// engine, the C API and every rwkv-run command.
//
//   auto     the first usable CUDA device, else cpu (real GPUs only: the CUDA
//            emulator of the "emu" build is used only when asked for by name)
//   cpu      the CPU backend
//   cuda     cuda:0
//   cuda:N   CUDA device N, 0 <= N < kMaxCudaDevices, decimal digits only
#pragma once

#include <string>

#include "runtime/backend/backend.h"  // InputError

namespace rwkv {

constexpr int kMaxCudaDevices = 1024;

struct Device {
  enum class Kind { cpu, cuda };
  Kind kind = Kind::cpu;
  int index = 0;  // cuda: the device number

  bool is_cuda() const { return kind == Kind::cuda; }
  std::string name() const;  // "cpu" or "cuda:N"
};

// What a device string asks for: `automatic` for "auto", else `device`.
struct DeviceRequest {
  bool automatic = false;
  Device device;
};

// Throws InputError (kind argument) naming the string and the accepted forms.
DeviceRequest parse_device(const std::string& text);

// The device a request runs on. For "auto", *note (may be null) receives one
// line saying what was picked and why ("device auto: cuda:0 (NVIDIA H200)");
// it is left empty for a device given by name.
Device resolve_device(const DeviceRequest& request, std::string* note);

}  // namespace rwkv
