// cuda_emu/src/runtime.cpp: the CUDA runtime API, emulated on the CPU.
//
// Everything runs synchronously on the calling thread: copies happen when
// called, kernels run to completion at launch, events are tokens. Streams,
// stream capture and graphs are in graph.cpp: work issued on a capturing
// stream is recorded instead of run. Executed work is counted
// (cuda_emu/counters.h).
// Bugs are made loud: fresh device memory is filled with 0xFF bytes (NaN in
// fp32, fp16 and bf16), every copy range is checked against live allocations,
// freed pointers are remembered, and failures leave a message (cuda_emu::report).
//
// This is the one place in the project with process-wide mutable state: it
// stands in for the CUDA driver, which has exactly that.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>

#include "cuda_emu/memory.h"
#include "emu_internal.h"

namespace cuda_emu {
namespace {

struct Registry {
  std::mutex mu;
  std::map<const char*, size_t> live;   // base -> size
  std::map<const char*, size_t> freed;  // recently freed ranges (bounded)
  std::map<const char*, size_t> pinned; // cudaMallocHost/cudaHostAlloc: base -> size
  size_t in_use = 0;
  std::string last_report;
};

Registry& registry() {
  static Registry* r = new Registry();  // never destroyed: kernels may run at exit
  return *r;
}

thread_local cudaError_t tls_last_error = cudaSuccess;

size_t emulated_total_memory() {
  if (const char* s = std::getenv("CUDA_EMU_MEMORY_BYTES")) return std::strtoull(s, nullptr, 10);
  return size_t(141) << 30;  // an H200's 141 GB
}

// Finds the allocation containing the byte at p in `m`. (A pointer one past
// the end is not inside: host memory may start right there.)
const std::pair<const char* const, size_t>* find_in(std::map<const char*, size_t>& m,
                                                    const char* p) {
  auto it = m.upper_bound(p);
  if (it == m.begin()) return nullptr;
  --it;
  if (p >= it->first && p < it->first + it->second) return &*it;
  return nullptr;
}

}  // namespace

void set_error(cudaError_t e) {
  if (e != cudaSuccess) tls_last_error = e;
}

PtrInfo classify_pointer(const void* vp) {
  PtrInfo info;
  if (!vp) return info;
  const char* p = static_cast<const char*>(vp);
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  if (auto* a = find_in(r.live, p)) {
    info.kind = PtrKind::device;
    info.base = a->first;
    info.size = a->second;
  } else if (auto* f = find_in(r.freed, p)) {
    info.kind = PtrKind::freed_device;
    info.base = f->first;
    info.size = f->second;
  } else {
    info.kind = PtrKind::host;
  }
  return info;
}

bool device_range_ok(const void* p, size_t bytes, std::string* why) {
  PtrInfo info = classify_pointer(p);
  char buf[256];
  switch (info.kind) {
    case PtrKind::null:
      if (why) *why = "null device pointer";
      return bytes == 0;
    case PtrKind::freed_device:
      std::snprintf(buf, sizeof buf, "pointer %p lies in device memory that was freed", p);
      if (why) *why = buf;
      return false;
    case PtrKind::host:
      std::snprintf(buf, sizeof buf, "pointer %p is not device memory (host pointer?)", p);
      if (why) *why = buf;
      return false;
    case PtrKind::device:
      break;
  }
  size_t offset = static_cast<size_t>(static_cast<const char*>(p) - info.base);
  if (offset + bytes > info.size) {
    std::snprintf(buf, sizeof buf,
                  "range [%p, +%zu bytes) runs past its allocation of %zu bytes at %p "
                  "(offset %zu)", p, bytes, info.size, (const void*)info.base, offset);
    if (why) *why = buf;
    return false;
  }
  return true;
}

void report(const std::string& message) {
  Registry& r = registry();
  {
    std::lock_guard<std::mutex> lock(r.mu);
    r.last_report = message;
  }
  if (!std::getenv("CUDA_EMU_QUIET")) std::fprintf(stderr, "cuda_emu: %s\n", message.c_str());
}

std::string last_report() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  return r.last_report;
}

bool is_pinned(const void* vp, size_t bytes) {
  if (!vp) return false;
  const char* p = static_cast<const char*>(vp);
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto* a = find_in(r.pinned, p);
  return a && (size_t)(p - a->first) + bytes <= a->second;
}

size_t bytes_in_use() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  return r.in_use;
}

}  // namespace cuda_emu

using cuda_emu::report;
using cuda_emu::set_error;

namespace {

cudaError_t fail(cudaError_t e, const std::string& what) {
  report(what);
  set_error(e);
  return e;
}

// Checks one side of a copy; device sides must lie inside a live allocation.
cudaError_t check_side(const void* p, size_t n, bool device, const char* api, const char* side) {
  if (!device) {
    if (!p && n) return fail(cudaErrorInvalidValue, std::string(api) + ": null " + side + " pointer");
    auto info = cuda_emu::classify_pointer(p);
    if (info.kind == cuda_emu::PtrKind::device)
      return fail(cudaErrorInvalidValue,
                  std::string(api) + ": " + side + " is a device pointer but the copy kind says host");
    return cudaSuccess;
  }
  std::string why;
  if (!cuda_emu::device_range_ok(p, n, &why))
    return fail(cudaErrorInvalidValue, std::string(api) + ": " + side + ": " + why);
  return cudaSuccess;
}

// Which sides of a copy are device memory, from its kind.
cudaError_t copy_sides(const void* dst, const void* src, cudaMemcpyKind kind, const char* api, bool* dst_dev,
                       bool* src_dev) {
  bool& dd = *dst_dev;
  bool& sd = *src_dev;
  switch (kind) {
    case cudaMemcpyHostToHost: dd = false; sd = false; break;
    case cudaMemcpyHostToDevice: dd = true; sd = false; break;
    case cudaMemcpyDeviceToHost: dd = false; sd = true; break;
    case cudaMemcpyDeviceToDevice: dd = true; sd = true; break;
    case cudaMemcpyDefault:
      dd = cuda_emu::classify_pointer(dst).kind != cuda_emu::PtrKind::host;
      sd = cuda_emu::classify_pointer(src).kind != cuda_emu::PtrKind::host;
      break;
    default:
      return fail(cudaErrorInvalidMemcpyDirection, std::string(api) + ": invalid copy kind");
  }
  return cudaSuccess;
}

void count_copy(bool dst_dev, bool src_dev, size_t n) {
  using cuda_emu::Count;
  if (dst_dev && src_dev) cuda_emu::count(Count::bytes_d2d, n);
  else if (dst_dev) cuda_emu::count(Count::bytes_h2d, n);
  else if (src_dev) cuda_emu::count(Count::bytes_d2h, n);
}

// Checks a copy and, when `run`, performs and counts it.
cudaError_t do_memcpy(void* dst, const void* src, size_t n, cudaMemcpyKind kind, const char* api,
                      bool run = true) {
  if (n == 0) return cudaSuccess;
  bool dst_dev, src_dev;
  cudaError_t e = copy_sides(dst, src, kind, api, &dst_dev, &src_dev);
  if (e != cudaSuccess) return e;
  e = check_side(dst, n, dst_dev, api, "destination");
  if (e != cudaSuccess) return e;
  e = check_side(src, n, src_dev, api, "source");
  if (e != cudaSuccess || !run) return e;
  std::memmove(dst, src, n);
  count_copy(dst_dev, src_dev, n);
  return cudaSuccess;
}

cudaError_t do_memset(void* dst, int value, size_t n, const char* api, bool run = true) {
  std::string why;
  if (!cuda_emu::device_range_ok(dst, n, &why)) return fail(cudaErrorInvalidValue, std::string(api) + ": " + why);
  if (run) std::memset(dst, value, n);
  return cudaSuccess;
}

struct EmuEvent {
  std::chrono::steady_clock::time_point t;
  bool recorded = false;
};

}  // namespace

extern "C" {

cudaError_t cudaMalloc(void** ptr, size_t size) {
  if (!ptr) return fail(cudaErrorInvalidValue, "cudaMalloc: null output pointer");
  *ptr = nullptr;
  if (cudaError_t e = cuda_emu::check_blocking_call("cudaMalloc", cuda_emu::Blocking::allocation)) return e;
  if (size == 0) return cudaSuccess;
  auto& r = cuda_emu::registry();
  {
    std::lock_guard<std::mutex> lock(r.mu);
    if (r.in_use + size > cuda_emu::emulated_total_memory()) {
      set_error(cudaErrorMemoryAllocation);
      return cudaErrorMemoryAllocation;
    }
  }
  // Exactly `size` bytes, 256-byte aligned like cudaMalloc: ASan reports any
  // access past them as a heap-buffer-overflow in this allocation.
  void* p = nullptr;
  if (posix_memalign(&p, 256, size) != 0 || !p) {
    set_error(cudaErrorMemoryAllocation);
    return cudaErrorMemoryAllocation;
  }
  std::memset(p, 0xFF, size);  // NaN bytes in every float format
  {
    std::lock_guard<std::mutex> lock(r.mu);
    const char* base = static_cast<const char*>(p);
    r.freed.erase(base);
    // A new allocation may reuse a freed range: forget overlapping freed ones.
    for (auto it = r.freed.begin(); it != r.freed.end();) {
      if (it->first < base + size && base < it->first + it->second) it = r.freed.erase(it);
      else ++it;
    }
    r.live[base] = size;
    r.in_use += size;
  }
  *ptr = p;
  return cudaSuccess;
}

cudaError_t cudaFree(void* ptr) {
  if (!ptr) return cudaSuccess;
  if (cudaError_t e = cuda_emu::check_blocking_call("cudaFree", cuda_emu::Blocking::allocation)) return e;
  auto& r = cuda_emu::registry();
  std::unique_lock<std::mutex> lock(r.mu);
  auto it = r.live.find(static_cast<const char*>(ptr));
  if (it == r.live.end()) {
    bool was_freed = r.freed.count(static_cast<const char*>(ptr)) != 0;
    lock.unlock();
    return fail(cudaErrorInvalidValue,
                std::string("cudaFree: ") + (was_freed ? "double free of a device pointer"
                                                       : "pointer was not returned by cudaMalloc"));
  }
  size_t size = it->second;
  r.in_use -= size;
  r.live.erase(it);
  if (r.freed.size() > 4096) r.freed.erase(r.freed.begin());
  r.freed[static_cast<const char*>(ptr)] = size;
  lock.unlock();
  std::free(ptr);
  return cudaSuccess;
}

// Pinned host memory: plain malloc, registered so that async copies can tell
// it from pageable memory (cuda_emu::is_pinned).
cudaError_t cudaHostAlloc(void** ptr, size_t size, unsigned int) {
  if (!ptr) return fail(cudaErrorInvalidValue, "cudaHostAlloc: null output pointer");
  const size_t n = size ? size : 1;
  *ptr = std::malloc(n);
  if (!*ptr) return fail(cudaErrorMemoryAllocation, "cudaHostAlloc: out of host memory");
  auto& r = cuda_emu::registry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.pinned[static_cast<const char*>(*ptr)] = n;
  return cudaSuccess;
}
cudaError_t cudaMallocHost(void** ptr, size_t size) { return cudaHostAlloc(ptr, size, cudaHostAllocDefault); }
cudaError_t cudaFreeHost(void* ptr) {
  if (!ptr) return cudaSuccess;
  auto& r = cuda_emu::registry();
  bool known = false;
  {
    std::lock_guard<std::mutex> lock(r.mu);
    known = r.pinned.erase(static_cast<const char*>(ptr)) != 0;
  }
  if (!known) return fail(cudaErrorInvalidValue, "cudaFreeHost: pointer was not returned by cudaMallocHost");
  std::free(ptr);
  return cudaSuccess;
}

// Synchronous copies and sets block the host (one host synchronisation each).
cudaError_t cudaMemcpy(void* dst, const void* src, size_t n, cudaMemcpyKind kind) {
  if (cudaError_t e = cuda_emu::check_blocking_call("cudaMemcpy", cuda_emu::Blocking::legacy_sync)) return e;
  cudaError_t e = do_memcpy(dst, src, n, kind, "cudaMemcpy");
  if (e == cudaSuccess) cuda_emu::count(cuda_emu::Count::host_syncs);
  return e;
}
cudaError_t cudaMemset(void* dst, int value, size_t n) {
  if (cudaError_t e = cuda_emu::check_blocking_call("cudaMemset", cuda_emu::Blocking::legacy_sync)) return e;
  cudaError_t e = do_memset(dst, value, n, "cudaMemset");
  if (e == cudaSuccess) cuda_emu::count(cuda_emu::Count::host_syncs);
  return e;
}

// Asynchronous copies go through the stream (graph.cpp: run, or recorded by a
// capture). A host side outside pinned memory counts as a pageable copy.
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t n, cudaMemcpyKind kind, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  bool dst_dev = false, src_dev = false;
  if (cudaError_t e = copy_sides(dst, src, kind, "cudaMemcpyAsync", &dst_dev, &src_dev)) return e;
  const bool pageable = (!dst_dev && !cuda_emu::is_pinned(dst, n)) || (!src_dev && !cuda_emu::is_pinned(src, n));
  auto op = [dst, src, n, kind, pageable](bool run) {
    cudaError_t e = do_memcpy(dst, src, n, kind, "cudaMemcpyAsync", run);
    if (e == cudaSuccess && run && pageable) cuda_emu::count(cuda_emu::Count::pageable_copies);
    return e;
  };
  return cuda_emu::issue(stream, "cudaMemcpyAsync", op, pageable);
}
cudaError_t cudaMemsetAsync(void* dst, int value, size_t n, cudaStream_t stream) {
  auto op = [dst, value, n](bool run) { return do_memset(dst, value, n, "cudaMemsetAsync", run); };
  return cuda_emu::issue(stream, "cudaMemsetAsync", op);
}
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  size_t total = cuda_emu::emulated_total_memory();
  size_t used = cuda_emu::bytes_in_use();
  if (free_bytes) *free_bytes = used < total ? total - used : 0;
  if (total_bytes) *total_bytes = total;
  return cudaSuccess;
}

// ---- events: synchronous tokens (streams are in graph.cpp) ---------------------
cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t, unsigned int) { return cudaSuccess; }

cudaError_t cudaEventCreate(cudaEvent_t* e) {
  if (!e) return fail(cudaErrorInvalidValue, "cudaEventCreate: null output");
  *e = reinterpret_cast<cudaEvent_t>(new EmuEvent());
  return cudaSuccess;
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned int) { return cudaEventCreate(e); }
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete reinterpret_cast<EmuEvent*>(e);
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t) {
  if (!e) return fail(cudaErrorInvalidResourceHandle, "cudaEventRecord: null event");
  auto* ev = reinterpret_cast<EmuEvent*>(e);
  ev->t = std::chrono::steady_clock::now();
  ev->recorded = true;
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t) {
  cuda_emu::count(cuda_emu::Count::host_syncs);
  return cudaSuccess;
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b) {
  auto* ea = reinterpret_cast<EmuEvent*>(a);
  auto* eb = reinterpret_cast<EmuEvent*>(b);
  if (!ms || !ea || !eb) return fail(cudaErrorInvalidValue, "cudaEventElapsedTime: null argument");
  if (!ea->recorded || !eb->recorded)
    return fail(cudaErrorInvalidResourceHandle, "cudaEventElapsedTime: event not recorded");
  *ms = std::chrono::duration<float, std::milli>(eb->t - ea->t).count();
  return cudaSuccess;
}

// ---- errors -----------------------------------------------------------------
cudaError_t cudaGetLastError(void) {
  cudaError_t e = cuda_emu::tls_last_error;
  cuda_emu::tls_last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError(void) { return cuda_emu::tls_last_error; }

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorIllegalState: return "cudaErrorIllegalState";
    case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureInvalidated: return "cudaErrorStreamCaptureInvalidated";
    case cudaErrorStreamCaptureImplicit: return "cudaErrorStreamCaptureImplicit";
    case cudaErrorStreamCaptureWrongThread: return "cudaErrorStreamCaptureWrongThread";
    default: return "cudaError(other)";
  }
}
const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorIllegalState: return "the operation is not permitted in the current state";
    case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
    case cudaErrorStreamCaptureImplicit:
      return "operation would make the legacy stream depend on a capturing blocking stream";
    case cudaErrorStreamCaptureWrongThread:
      return "attempt to terminate a thread-local capture sequence from another thread";
    default: return "unknown error";
  }
}

// ---- device -----------------------------------------------------------------
cudaError_t cudaGetDeviceCount(int* n) {
  if (!n) return fail(cudaErrorInvalidValue, "cudaGetDeviceCount: null output");
  *n = 1;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int d) {
  if (d != 0) return fail(cudaErrorInvalidDevice, "cudaSetDevice: the emulator has device 0 only");
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* d) {
  if (!d) return fail(cudaErrorInvalidValue, "cudaGetDevice: null output");
  *d = 0;
  return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int d) {
  if (!p) return fail(cudaErrorInvalidValue, "cudaGetDeviceProperties: null output");
  if (d != 0) return fail(cudaErrorInvalidDevice, "cudaGetDeviceProperties: no such device");
  std::memset(p, 0, sizeof *p);
  std::snprintf(p->name, sizeof p->name, "cuda_emu (SIMT emulation on the CPU, sm_90 limits)");
  p->major = 9;
  p->minor = 0;
  p->totalGlobalMem = cuda_emu::emulated_total_memory();
  p->sharedMemPerBlock = cuda_emu::kDefaultSmemLimit;
  p->sharedMemPerBlockOptin = cuda_emu::kMaxSmemOptin;
  p->sharedMemPerMultiprocessor = 233472;
  p->regsPerBlock = 65536;
  p->warpSize = 32;
  p->maxThreadsPerBlock = 1024;
  p->maxThreadsDim[0] = 1024;
  p->maxThreadsDim[1] = 1024;
  p->maxThreadsDim[2] = 64;
  p->maxGridSize[0] = 2147483647;
  p->maxGridSize[1] = 65535;
  p->maxGridSize[2] = 65535;
  p->multiProcessorCount = 132;
  p->maxThreadsPerMultiProcessor = 2048;
  p->l2CacheSize = 50 << 20;
  p->memoryBusWidth = 6144;
  return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (!value) return fail(cudaErrorInvalidValue, "cudaDeviceGetAttribute: null output");
  if (device != 0) return fail(cudaErrorInvalidDevice, "cudaDeviceGetAttribute: no such device");
  switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: *value = 1024; break;
    case cudaDevAttrWarpSize: *value = 32; break;
    case cudaDevAttrMultiProcessorCount: *value = 132; break;
    case cudaDevAttrComputeCapabilityMajor: *value = 9; break;
    case cudaDevAttrComputeCapabilityMinor: *value = 0; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = (int)cuda_emu::kDefaultSmemLimit; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = (int)cuda_emu::kMaxSmemOptin; break;
    default: *value = 0; break;
  }
  return cudaSuccess;
}

cudaError_t cudaFuncSetAttribute(const void* func, cudaFuncAttribute attr, int value) {
  if (!func) return fail(cudaErrorInvalidDeviceFunction, "cudaFuncSetAttribute: null function");
  if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
    if (value < 0 || (size_t)value > cuda_emu::kMaxSmemOptin)
      return fail(cudaErrorInvalidValue, "cudaFuncSetAttribute: dynamic shared memory of " +
                                             std::to_string(value) + " bytes exceeds the 227 KiB opt-in limit");
    cuda_emu::set_max_dynamic_smem(func, (size_t)value);
  }
  return cudaSuccess;
}

}  // extern "C"
