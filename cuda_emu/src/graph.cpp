// cuda_emu/src/graph.cpp: streams, stream capture and CUDA graphs, emulated.
//
// Work still runs synchronously on the calling thread, except while a stream
// captures: then kernel launches, cudaMemcpyAsync/cudaMemsetAsync and cuBLAS
// calls issued on it are recorded (their arguments checked at once) into the
// graph cudaStreamEndCapture returns; cudaGraphLaunch replays the recorded
// operations in order, checking their arguments again. A recorded operation
// holds copies of its parameters and reads its buffers when replayed, as a
// GPU graph does (fixed addresses, current contents).
//
// The rules a GPU enforces during a capture are made loud (each reported, see
// cuda_emu::report):
//   * synchronous cudaMemcpy/cudaMemset and work on the legacy default stream
//     fail with cudaErrorStreamCaptureImplicit when a blocking stream (one
//     created without cudaStreamNonBlocking) captures, or when the calling
//     thread's own capture forbids unsafe calls (below); cudaStreamSynchronize
//     of the capturing stream fails with cudaErrorStreamCaptureUnsupported;
//     each invalidates the capture, so that cudaStreamEndCapture returns
//     cudaErrorStreamCaptureInvalidated;
//   * unsafe calls (cudaMalloc, cudaFree, cudaDeviceSynchronize) fail with
//     cudaErrorStreamCaptureUnsupported and invalidate the captures that
//     forbid them to the calling thread: a cudaStreamCaptureModeGlobal capture
//     of any thread, a cudaStreamCaptureModeThreadLocal one of this thread;
//   * an async copy whose host side is pageable memory is refused
//     (cudaErrorStreamCaptureUnsupported): this project allows no pageable
//     memory in a step, and a real graph would bake the host address;
//   * ending a capture never begun, destroying a graph or an executable graph
//     twice, and launching a destroyed one are errors.
// Handles (streams, graphs, executable graphs) are ids never reused, so a
// stale handle is always recognised.
#include <cuda_runtime.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cuda_emu/faults.h"
#include "emu_internal.h"

namespace cuda_emu {
namespace {

struct Node {
  std::string api;  // the call that recorded it, for reports
  StreamOp op;
};
using NodeList = std::vector<Node>;

struct StreamObj {
  bool blocking = true;  // synchronises with the legacy default stream (no cudaStreamNonBlocking)
  bool capturing = false;
  bool invalidated = false;
  cudaStreamCaptureMode mode = cudaStreamCaptureModeGlobal;
  std::thread::id thread;  // that began the capture
  NodeList nodes;
};

struct GraphRegistry {
  std::mutex mu;
  uintptr_t next_id = 0x10000;
  std::map<uintptr_t, StreamObj> streams;
  std::map<uintptr_t, std::shared_ptr<const NodeList>> graphs;
  std::map<uintptr_t, std::shared_ptr<const NodeList>> execs;
  int active_captures = 0;
};

std::atomic<int> g_fail_capture_at{-1};  // cuda_emu/faults.h

GraphRegistry& graph_registry() {
  static GraphRegistry* r = new GraphRegistry();  // never destroyed, like the device registry
  return *r;
}

bool is_legacy(cudaStream_t s) { return s == nullptr || s == cudaStreamLegacy; }
uintptr_t id_of(const void* handle) { return reinterpret_cast<uintptr_t>(handle); }

cudaError_t fail(cudaError_t e, const std::string& what) {
  report(what);
  set_error(e);
  return e;
}

// A capture that the calling thread's unsafe calls affect (cudaStreamCaptureMode).
bool guards_this_thread(const StreamObj& s) {
  if (s.mode == cudaStreamCaptureModeGlobal) return true;
  return s.mode == cudaStreamCaptureModeThreadLocal && s.thread == std::this_thread::get_id();
}

// Captures the legacy default stream's implicit synchronisation breaks when the
// calling thread uses it (registry locked): blocking streams', and this thread's.
bool legacy_use_breaks(const StreamObj& s) { return s.blocking || guards_this_thread(s); }

// Invalidates the captures `breaks` selects; true when there was one (registry locked).
template <class Pred>
bool invalidate_if(GraphRegistry& r, Pred breaks) {
  bool hit = false;
  for (auto& [id, s] : r.streams)
    if (s.capturing && breaks(s)) hit = s.invalidated = true;
  return hit;
}

}  // namespace

void fail_capture_at(int op_index) { g_fail_capture_at.store(op_index); }

cudaError_t issue(cudaStream_t stream, const char* api, const StreamOp& op, bool pageable_host) {
  GraphRegistry& r = graph_registry();
  std::unique_lock<std::mutex> lock(r.mu);
  if (is_legacy(stream)) {
    if (r.active_captures > 0 && invalidate_if(r, legacy_use_breaks)) {
      lock.unlock();
      return fail(cudaErrorStreamCaptureImplicit,
                  std::string(api) + ": work on the legacy default stream while a stream captures "
                  "(an implicit synchronisation with the capture; the capture is invalidated)");
    }
  } else if (stream != cudaStreamPerThread) {
    auto it = r.streams.find(id_of(stream));
    if (it == r.streams.end()) {
      lock.unlock();
      return fail(cudaErrorInvalidResourceHandle, std::string(api) + ": the stream is not a live stream");
    }
    if (it->second.capturing) {
      StreamObj& s = it->second;
      if (s.invalidated) {
        lock.unlock();
        return fail(cudaErrorStreamCaptureInvalidated,
                    std::string(api) + ": the stream's capture was invalidated by an earlier error");
      }
      if ((int)s.nodes.size() == g_fail_capture_at.load()) {
        s.invalidated = true;
        lock.unlock();
        return fail(cudaErrorStreamCaptureUnsupported,
                    std::string(api) + ": refused by an injected fault (cuda_emu::fail_capture_at; the "
                    "capture is invalidated)");
      }
      if (pageable_host) {
        s.invalidated = true;
        lock.unlock();
        return fail(cudaErrorStreamCaptureUnsupported,
                    std::string(api) + ": an async copy from or to pageable host memory during stream "
                    "capture (use cudaMallocHost memory; the capture is invalidated)");
      }
      lock.unlock();
      const cudaError_t checked = op(false);
      if (checked != cudaSuccess) return checked;
      lock.lock();
      auto again = r.streams.find(id_of(stream));
      if (again != r.streams.end() && again->second.capturing) again->second.nodes.push_back({api, op});
      return cudaSuccess;
    }
  }
  lock.unlock();
  return op(true);
}

cudaError_t check_blocking_call(const char* api, Blocking kind, cudaStream_t stream) {
  GraphRegistry& r = graph_registry();
  std::unique_lock<std::mutex> lock(r.mu);
  if (r.active_captures == 0) return cudaSuccess;
  if (kind == Blocking::stream_sync && is_legacy(stream)) kind = Blocking::legacy_sync;
  switch (kind) {
    case Blocking::legacy_sync:
      if (!invalidate_if(r, legacy_use_breaks)) return cudaSuccess;
      lock.unlock();
      return fail(cudaErrorStreamCaptureImplicit,
                  std::string(api) + " during stream capture: a synchronous call orders itself after the "
                  "legacy default stream, which the capture forbids (the capture is invalidated)");
    case Blocking::stream_sync: {
      auto it = r.streams.find(id_of(stream));
      if (it == r.streams.end() || !it->second.capturing) return cudaSuccess;
      it->second.invalidated = true;
      lock.unlock();
      return fail(cudaErrorStreamCaptureUnsupported,
                  std::string(api) + " of a capturing stream (the capture is invalidated)");
    }
    case Blocking::device_sync:
    case Blocking::allocation:
      if (!invalidate_if(r, guards_this_thread)) return cudaSuccess;
      lock.unlock();
      return fail(cudaErrorStreamCaptureUnsupported,
                  std::string(api) + " during a stream capture that forbids unsafe calls to this thread "
                  "(cudaStreamCaptureModeGlobal, or ThreadLocal begun here; the capture is invalidated)");
  }
  return cudaSuccess;
}

}  // namespace cuda_emu

using cuda_emu::GraphRegistry;
using cuda_emu::graph_registry;
using cuda_emu::id_of;
using cuda_emu::is_legacy;
using cuda_emu::NodeList;
using cuda_emu::StreamObj;

namespace {

template <class Handle>
Handle handle_from(uintptr_t id) {
  return reinterpret_cast<Handle>(id);
}

cudaError_t fail_api(cudaError_t e, const std::string& what) { return cuda_emu::fail(e, what); }

}  // namespace

extern "C" {

// ---- streams -------------------------------------------------------------------
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned int flags) {
  if (!s) return fail_api(cudaErrorInvalidValue, "cudaStreamCreate: null output");
  GraphRegistry& r = graph_registry();
  std::lock_guard<std::mutex> lock(r.mu);
  const uintptr_t id = r.next_id;
  r.next_id += 16;
  StreamObj so;
  so.blocking = (flags & cudaStreamNonBlocking) == 0;
  r.streams[id] = std::move(so);
  *s = handle_from<cudaStream_t>(id);
  return cudaSuccess;
}
cudaError_t cudaStreamCreate(cudaStream_t* s) { return cudaStreamCreateWithFlags(s, cudaStreamDefault); }

cudaError_t cudaStreamDestroy(cudaStream_t s) {
  GraphRegistry& r = graph_registry();
  std::unique_lock<std::mutex> lock(r.mu);
  auto it = r.streams.find(id_of(s));
  if (it == r.streams.end()) {
    lock.unlock();
    return fail_api(cudaErrorInvalidResourceHandle, "cudaStreamDestroy: not a live stream (destroyed twice?)");
  }
  if (it->second.capturing) --r.active_captures;
  r.streams.erase(it);
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  if (!is_legacy(s) && s != cudaStreamPerThread) {
    GraphRegistry& r = graph_registry();
    std::unique_lock<std::mutex> lock(r.mu);
    if (!r.streams.count(id_of(s))) {
      lock.unlock();
      return fail_api(cudaErrorInvalidResourceHandle, "cudaStreamSynchronize: not a live stream");
    }
  }
  const cudaError_t e = cuda_emu::check_blocking_call("cudaStreamSynchronize", cuda_emu::Blocking::stream_sync, s);
  if (e != cudaSuccess) return e;
  cuda_emu::count(cuda_emu::Count::host_syncs);
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void) {
  const cudaError_t e = cuda_emu::check_blocking_call("cudaDeviceSynchronize", cuda_emu::Blocking::device_sync);
  if (e != cudaSuccess) return e;
  cuda_emu::count(cuda_emu::Count::host_syncs);
  return cudaSuccess;
}

// ---- capture -------------------------------------------------------------------
cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode mode) {
  if (is_legacy(s) || s == cudaStreamPerThread)
    return fail_api(cudaErrorStreamCaptureUnsupported,
                    "cudaStreamBeginCapture: the default streams cannot be captured; create a stream");
  if (mode != cudaStreamCaptureModeGlobal && mode != cudaStreamCaptureModeThreadLocal &&
      mode != cudaStreamCaptureModeRelaxed)
    return fail_api(cudaErrorInvalidValue, "cudaStreamBeginCapture: invalid capture mode");
  GraphRegistry& r = graph_registry();
  std::unique_lock<std::mutex> lock(r.mu);
  auto it = r.streams.find(id_of(s));
  if (it == r.streams.end()) {
    lock.unlock();
    return fail_api(cudaErrorInvalidResourceHandle, "cudaStreamBeginCapture: not a live stream");
  }
  if (it->second.capturing) {
    lock.unlock();
    return fail_api(cudaErrorIllegalState, "cudaStreamBeginCapture: the stream is already capturing");
  }
  StreamObj& so = it->second;
  so.capturing = true;
  so.invalidated = false;
  so.mode = mode;
  so.thread = std::this_thread::get_id();
  so.nodes.clear();
  ++r.active_captures;
  return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t* graph) {
  if (!graph) return fail_api(cudaErrorInvalidValue, "cudaStreamEndCapture: null output");
  *graph = nullptr;
  GraphRegistry& r = graph_registry();
  std::unique_lock<std::mutex> lock(r.mu);
  auto it = r.streams.find(id_of(s));
  if (it == r.streams.end() || !it->second.capturing) {
    lock.unlock();
    return fail_api(cudaErrorIllegalState, "cudaStreamEndCapture: the stream is not capturing (no capture begun)");
  }
  StreamObj& so = it->second;
  if (so.mode != cudaStreamCaptureModeRelaxed && so.thread != std::this_thread::get_id()) {
    lock.unlock();
    return fail_api(cudaErrorStreamCaptureWrongThread,
                    "cudaStreamEndCapture: called from another thread than cudaStreamBeginCapture");
  }
  so.capturing = false;
  --r.active_captures;
  NodeList nodes = std::move(so.nodes);
  so.nodes.clear();
  if (so.invalidated) {
    so.invalidated = false;
    lock.unlock();
    return fail_api(cudaErrorStreamCaptureInvalidated,
                    "cudaStreamEndCapture: the capture was invalidated by an earlier error; no graph");
  }
  const uintptr_t id = r.next_id;
  r.next_id += 16;
  r.graphs[id] = std::make_shared<const NodeList>(std::move(nodes));
  *graph = handle_from<cudaGraph_t>(id);
  return cudaSuccess;
}

cudaError_t cudaStreamIsCapturing(cudaStream_t s, cudaStreamCaptureStatus* status) {
  if (!status) return fail_api(cudaErrorInvalidValue, "cudaStreamIsCapturing: null output");
  *status = cudaStreamCaptureStatusNone;
  if (is_legacy(s) || s == cudaStreamPerThread) return cudaSuccess;
  GraphRegistry& r = graph_registry();
  std::unique_lock<std::mutex> lock(r.mu);
  auto it = r.streams.find(id_of(s));
  if (it == r.streams.end()) {
    lock.unlock();
    return fail_api(cudaErrorInvalidResourceHandle, "cudaStreamIsCapturing: not a live stream");
  }
  if (it->second.capturing)
    *status = it->second.invalidated ? cudaStreamCaptureStatusInvalidated : cudaStreamCaptureStatusActive;
  return cudaSuccess;
}

// ---- graphs --------------------------------------------------------------------
cudaError_t cudaGraphGetNodes(cudaGraph_t graph, cudaGraphNode_t* nodes, size_t* num_nodes) {
  if (!num_nodes) return fail_api(cudaErrorInvalidValue, "cudaGraphGetNodes: null count");
  GraphRegistry& r = graph_registry();
  std::unique_lock<std::mutex> lock(r.mu);
  auto it = r.graphs.find(id_of(graph));
  if (it == r.graphs.end()) {
    lock.unlock();
    return fail_api(cudaErrorInvalidValue, "cudaGraphGetNodes: not a live graph");
  }
  const size_t n = it->second->size();
  if (nodes) {
    // Opaque node handles: distinct non-null values (the emulator has no node API beyond counting).
    for (size_t i = 0; i < *num_nodes; ++i)
      nodes[i] = i < n ? handle_from<cudaGraphNode_t>(id_of(graph) * 4096 + i + 1) : nullptr;
    if (*num_nodes > n) *num_nodes = n;
  } else {
    *num_nodes = n;
  }
  return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long) {
  if (!exec) return fail_api(cudaErrorInvalidValue, "cudaGraphInstantiate: null output");
  *exec = nullptr;
  GraphRegistry& r = graph_registry();
  std::unique_lock<std::mutex> lock(r.mu);
  auto it = r.graphs.find(id_of(graph));
  if (it == r.graphs.end()) {
    lock.unlock();
    return fail_api(cudaErrorInvalidValue, "cudaGraphInstantiate: not a live graph");
  }
  const uintptr_t id = r.next_id;
  r.next_id += 16;
  r.execs[id] = it->second;  // the node list is immutable: the exec shares it
  *exec = handle_from<cudaGraphExec_t>(id);
  return cudaSuccess;
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  GraphRegistry& r = graph_registry();
  std::unique_lock<std::mutex> lock(r.mu);
  if (r.graphs.erase(id_of(graph)) == 0) {
    lock.unlock();
    return fail_api(cudaErrorInvalidValue, "cudaGraphDestroy: not a live graph (destroyed twice?)");
  }
  return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  GraphRegistry& r = graph_registry();
  std::unique_lock<std::mutex> lock(r.mu);
  if (r.execs.erase(id_of(exec)) == 0) {
    lock.unlock();
    return fail_api(cudaErrorInvalidValue,
                    "cudaGraphExecDestroy: not a live executable graph (destroyed twice?)");
  }
  return cudaSuccess;
}

// Counts one graph launch, then runs the recorded operations in order (each
// counted as it runs: kernels, cuBLAS calls, bytes). The first failing one ends
// the launch with its error.
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
  std::shared_ptr<const NodeList> nodes;
  {
    GraphRegistry& r = graph_registry();
    std::unique_lock<std::mutex> lock(r.mu);
    auto it = r.execs.find(id_of(exec));
    if (it == r.execs.end()) {
      lock.unlock();
      return fail_api(cudaErrorInvalidResourceHandle,
                      "cudaGraphLaunch: not a live executable graph (destroyed, or never instantiated)");
    }
    nodes = it->second;
    auto s = r.streams.find(id_of(stream));
    if (s != r.streams.end() && s->second.capturing) {
      s->second.invalidated = true;
      lock.unlock();
      return fail_api(cudaErrorStreamCaptureUnsupported,
                      "cudaGraphLaunch: the emulator does not capture graph launches (capture invalidated)");
    }
  }
  // Stream rules (legacy stream during a capture, dead stream) as for any work.
  const cudaError_t usable = cuda_emu::issue(stream, "cudaGraphLaunch", [](bool) { return cudaSuccess; });
  if (usable != cudaSuccess) return usable;
  cuda_emu::count(cuda_emu::Count::graph_launches);
  for (size_t i = 0; i < nodes->size(); ++i) {
    const cudaError_t e = (*nodes)[i].op(true);
    if (e != cudaSuccess)
      return fail_api(e, "cudaGraphLaunch: node " + std::to_string(i) + " (" + (*nodes)[i].api + ") failed");
  }
  return cudaSuccess;
}

}  // extern "C"
