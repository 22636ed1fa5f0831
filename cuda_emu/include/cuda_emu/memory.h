// cuda_emu/memory.h: the emulated device-memory registry.
//
// Every cudaMalloc of the emulated runtime is recorded here, so that kernel
// arguments, cudaMemcpy ranges and cuBLAS operands can be checked against live
// allocations (a GPU would fault or read garbage; the emulator fails loudly).
#pragma once
#include <cstddef>
#include <string>

namespace cuda_emu {

enum class PtrKind { null, device, freed_device, host };

struct PtrInfo {
  PtrKind kind = PtrKind::null;
  const char* base = nullptr;  // start of the allocation holding the pointer
  size_t size = 0;             // its size in bytes
};

// Classifies p: inside a live device allocation, inside a freed one, or
// neither (host memory).
PtrInfo classify_pointer(const void* p);

// True when [p, p + bytes) lies inside one live device allocation. On failure
// writes a sentence naming the problem to *why (if not null).
bool device_range_ok(const void* p, size_t bytes, std::string* why);

// Records a diagnostic for the last failing emulated call (also printed on
// stderr when CUDA_EMU_QUIET is not set) and returns it for tests.
void report(const std::string& message);
std::string last_report();

// Bytes currently allocated through cudaMalloc.
size_t bytes_in_use();

}  // namespace cuda_emu
