// cuda_emu/src/launch.cpp: launch checks, grid iteration and the parts of the
// block/warp semantics both engines share.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <sstream>

#include "emu_internal.h"

namespace cuda_emu {
namespace {

struct FuncAttrs {
  std::mutex mu;
  std::map<const void*, size_t> max_dyn_smem;
};
FuncAttrs& func_attrs() {
  static FuncAttrs* f = new FuncAttrs();
  return *f;
}

bool choose_thread_engine() {
#if defined(__SANITIZE_THREAD__)
  return true;  // TSan cannot see through hand-made fiber switches
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
  return true;
#endif
#endif
  const char* e = std::getenv("CUDA_EMU_ENGINE");
  if (e && !std::strcmp(e, "threads")) return true;
  return !fiber_engine_available();
}

bool use_thread_engine() {
  static const bool threads = choose_thread_engine();
  return threads;
}

std::string dim_str(dim3 d) {
  return "(" + std::to_string(d.x) + "," + std::to_string(d.y) + "," + std::to_string(d.z) + ")";
}

const char* where_name(Where w) {
  switch (w) {
    case Where::running: return "running";
    case Where::block_barrier: return "waits at __syncthreads";
    case Where::warp_op: return "waits at a warp collective";
    case Where::exited: return "has exited";
  }
  return "?";
}

}  // namespace

void set_max_dynamic_smem(const void* func, size_t bytes) {
  auto& f = func_attrs();
  std::lock_guard<std::mutex> lock(f.mu);
  f.max_dyn_smem[func] = bytes;
}

size_t max_dynamic_smem(const void* func) {
  auto& f = func_attrs();
  std::lock_guard<std::mutex> lock(f.mu);
  auto it = f.max_dyn_smem.find(func);
  return it == f.max_dyn_smem.end() ? kDefaultSmemLimit : std::max(it->second, kDefaultSmemLimit);
}

void fatal(const std::string& message) {
  std::fprintf(stderr, "cuda_emu: fatal: %s\n", message.c_str());
  std::fflush(stderr);
  std::abort();
}

const char* engine_name() { return use_thread_engine() ? "threads" : "fiber"; }

bool validate_launch(const LaunchConfig& cfg) {
  const dim3 b = cfg.block, g = cfg.grid;
  std::string why;
  unsigned long long threads = (unsigned long long)b.x * b.y * b.z;
  if (b.x == 0 || b.y == 0 || b.z == 0 || g.x == 0 || g.y == 0 || g.z == 0)
    why = "a grid or block dimension is zero";
  else if (b.x > 1024 || b.y > 1024 || b.z > 64 || threads > 1024)
    why = "block " + dim_str(b) + " exceeds 1024 threads (or 1024x1024x64)";
  else if (g.x > 2147483647u || g.y > 65535 || g.z > 65535)
    why = "grid " + dim_str(g) + " exceeds the maximum grid size";
  if (!why.empty()) {
    report(std::string("launch of ") + cfg.name + ": invalid configuration: " + why);
    set_error(cudaErrorInvalidConfiguration);
    return false;
  }
  size_t limit = max_dynamic_smem(cfg.func);
  if (cfg.smem > limit) {
    report(std::string("launch of ") + cfg.name + ": " + std::to_string(cfg.smem) +
           " bytes of dynamic shared memory exceed the limit of " + std::to_string(limit) +
           (limit == kDefaultSmemLimit ? " (raise it with cudaFuncSetAttribute)" : ""));
    set_error(cudaErrorInvalidValue);
    return false;
  }
  return true;
}

bool check_pointer_arg(const LaunchConfig& cfg, int index, const void* p) {
  PtrInfo info = classify_pointer(p);
  if (info.kind == PtrKind::null || info.kind == PtrKind::device) return true;
  std::ostringstream os;
  os << "launch of " << cfg.name << ": argument " << index << " (" << p << ") "
     << (info.kind == PtrKind::freed_device ? "points into freed device memory"
                                            : "is a host pointer, not device memory");
  report(os.str());
  set_error(cudaErrorIllegalAddress);
  return false;
}

void submit_launch(const LaunchConfig& cfg, std::function<cudaError_t(bool run)> op) {
  issue(cfg.stream, cfg.name, op);  // a refusal sets the error cudaGetLastError returns
}

cudaError_t checked_launch(const LaunchConfig& cfg, bool run, bool args_ok, void (*thunk)(void*), void* arg) {
  if (!args_ok) return cudaPeekAtLastError();  // the check set it
  if (!run) return cudaSuccess;
  count(Count::kernel_launches);
  run_grid(cfg, thunk, arg);
  return cudaSuccess;
}

void run_grid(const LaunchConfig& cfg, void (*thunk)(void*), void* arg) {
  Engine& engine = use_thread_engine() ? thread_engine() : fiber_engine();
  BlockState b;
  b.cfg = &cfg;
  b.engine = &engine;
  b.nthreads = cfg.block.x * cfg.block.y * cfg.block.z;
  b.nwarps = (b.nthreads + 31) / 32;
  b.threads.resize(b.nthreads);
  b.warps.reset(new WarpState[b.nwarps]);
  b.wait.reset(new ThreadWait[b.nthreads]);
  // Dynamic shared memory: poisoned with NaN bytes before every block.
  std::unique_ptr<char[]> smem(cfg.smem ? new char[cfg.smem + 16] : nullptr);
  char* smem_base = smem ? reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(smem.get()) + 15) & ~uintptr_t(15)) : nullptr;

  for (unsigned i = 0; i < b.nthreads; ++i) {
    ThreadCtx& t = b.threads[i];
    t.thread_idx = make_uint3(i % cfg.block.x, (i / cfg.block.x) % cfg.block.y,
                              i / (cfg.block.x * cfg.block.y));
    t.block_dim = cfg.block;
    t.grid_dim = cfg.grid;
    t.linear = i;
    t.lane = i % 32;
    t.warp = i / 32;
    t.dyn_smem = smem_base;
    t.block = &b;
  }
  for (unsigned w = 0; w < b.nwarps; ++w) {
    unsigned n = std::min(32u, b.nthreads - w * 32);
    b.warps[w].exists = n == 32 ? 0xffffffffu : ((1u << n) - 1);
  }

  for (unsigned z = 0; z < cfg.grid.z; ++z)
    for (unsigned y = 0; y < cfg.grid.y; ++y)
      for (unsigned x = 0; x < cfg.grid.x; ++x) {
        if (smem_base) std::memset(smem_base, 0xFF, cfg.smem);
        for (auto& t : b.threads) t.block_idx = make_uint3(x, y, z);
        for (unsigned i = 0; i < b.nthreads; ++i) {
          b.wait[i].where.store((int)Where::running, std::memory_order_relaxed);
          b.wait[i].file = nullptr;
        }
        for (unsigned w = 0; w < b.nwarps; ++w) {
          b.warps[w].arrived = 0;
        }
        b.live = b.nthreads;
        b.at_barrier = 0;
        engine.run_block(b, thunk, arg);
      }
}

bool warp_arrive(BlockState& b, WarpState& w, const ThreadCtx& c, WarpOp op, unsigned mask,
                 uint64_t value, int src, const char* file, int line) {
  const unsigned lane = c.lane;
  auto where = [&] { return std::string(file) + ":" + std::to_string(line); };
  if (!((mask >> lane) & 1u))
    fatal("warp collective at " + where() + ": calling lane " + std::to_string(lane) +
          " is not in its mask");
  if (mask & ~w.exists) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "mask 0x%08x names lanes absent from warp %u (exists 0x%08x)",
                  mask, c.warp, w.exists);
    fatal("warp collective at " + where() + " in " + b.cfg->name + ": " + buf);
  }
  for (unsigned l = 0; l < 32; ++l) {
    if (((mask >> l) & 1u) &&
        b.wait[c.warp * 32 + l].where.load(std::memory_order_relaxed) == (int)Where::exited)
      fatal("warp collective at " + where() + " in " + b.cfg->name + ": mask names lane " +
            std::to_string(l) + " of warp " + std::to_string(c.warp) + ", which has exited");
  }
  w.stage[lane] = value;
  w.src[lane] = src;
  w.op[lane] = op;
  w.mask[lane] = mask;
  w.arrived |= 1u << lane;
  if ((w.arrived & mask) != mask) return false;

  // Every lane of the mask is here: check they agree, then compute results.
  uint64_t vote = 0;
  for (unsigned l = 0; l < 32; ++l) {
    if (!((mask >> l) & 1u)) continue;
    if (w.mask[l] != mask || w.op[l] != op)
      fatal("warp collective at " + where() + " in " + b.cfg->name + ": lanes of warp " +
            std::to_string(c.warp) + " disagree on the mask or the operation (lane " +
            std::to_string(l) + ")");
    if (w.stage[l]) vote |= 1ull << l;
  }
  if (op == WarpOp::gather)  // every lane has read the previous table: it arrived here after
    for (unsigned l = 0; l < 32; ++l) w.gathered[l] = ((mask >> l) & 1u) ? w.stage[l] : 0;
  for (unsigned l = 0; l < 32; ++l) {
    if (!((mask >> l) & 1u)) continue;
    switch (op) {
      case WarpOp::shfl: {
        int s = w.src[l];
        if (s < 0 || s > 31 || !((mask >> s) & 1u))
          fatal("shuffle at " + where() + " in " + b.cfg->name + ": lane " + std::to_string(l) +
                " reads lane " + std::to_string(s) + ", which is not in the mask");
        w.out[l] = w.stage[s];
        break;
      }
      case WarpOp::ballot: w.out[l] = vote; break;
      case WarpOp::any: w.out[l] = vote != 0; break;
      case WarpOp::all: w.out[l] = vote == mask; break;
      case WarpOp::sync: w.out[l] = 0; break;
      case WarpOp::gather: w.out[l] = (uint64_t)(uintptr_t)w.gathered; break;
    }
  }
  w.arrived &= ~mask;
  return true;
}

std::string describe_block(BlockState& b) {
  std::ostringstream os;
  const auto& cfg = *b.cfg;
  os << "kernel " << cfg.name << " block (" << b.threads[0].block_idx.x << ","
     << b.threads[0].block_idx.y << "," << b.threads[0].block_idx.z << ") of "
     << dim_str(cfg.grid) << ", " << b.nthreads << " threads:";
  // Group consecutive threads in the same place.
  unsigned i = 0;
  while (i < b.nthreads) {
    int w = b.wait[i].where.load();
    const char* f = b.wait[i].file;
    int l = b.wait[i].line;
    unsigned j = i + 1;
    while (j < b.nthreads && b.wait[j].where.load() == w && b.wait[j].file == f &&
           b.wait[j].line == l)
      ++j;
    os << "\n  threads " << i << ".." << (j - 1) << " " << where_name((Where)w);
    if (f && w != (int)Where::exited && w != (int)Where::running) os << " (" << f << ":" << l << ")";
    if (w == (int)Where::warp_op) {
      char buf[32];
      std::snprintf(buf, sizeof buf, " mask 0x%08x", b.wait[i].mask);
      os << buf;
    }
    i = j;
  }
  return os.str();
}

void syncthreads(const char* file, int line) {
  ThreadCtx& c = *tls_ctx;
  BlockState& b = *c.block;
  b.engine->block_barrier(b, c, file, line);
}

uint64_t warp_collective(WarpOp op, unsigned mask, uint64_t value, int src_lane,
                         const char* file, int line) {
  ThreadCtx& c = *tls_ctx;
  BlockState& b = *c.block;
  return b.engine->warp_op(b, c, op, mask, value, src_lane, file, line);
}

unsigned active_mask() {
  ThreadCtx& c = *tls_ctx;
  BlockState& b = *c.block;
  unsigned m = 0;
  for (unsigned l = 0; l < 32; ++l) {
    unsigned i = c.warp * 32 + l;
    if (i < b.nthreads && b.wait[i].where.load(std::memory_order_relaxed) != (int)Where::exited)
      m |= 1u << l;
  }
  return m;
}

}  // namespace cuda_emu
