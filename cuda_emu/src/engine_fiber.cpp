// cuda_emu/src/engine_fiber.cpp: the fast engine. Every CUDA thread of a block
// is a fiber on the calling OS thread; a scheduler runs each runnable fiber
// until it waits (barrier, warp collective) or exits. Deterministic, and a
// deadlock is seen at once: no fiber runnable while some have not exited.
//
// The context switch is 12 instructions of x86-64 assembly (callee-saved
// registers + stack pointer); glibc's swapcontext would make a signal-mask
// system call on every switch (about 10x slower).
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "emu_internal.h"

#if defined(__SANITIZE_ADDRESS__)
#define CUDA_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CUDA_EMU_ASAN 1
#endif
#endif
#ifdef CUDA_EMU_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#if defined(__x86_64__)

extern "C" void cuda_emu_switch(void** save_sp, void* load_sp);
// Saves rbp, rbx, r12-r15 on the current stack, stores rsp in *save_sp, loads
// load_sp and pops the same registers there; `ret` resumes the other fiber.
asm(R"(
  .text
  .globl cuda_emu_switch
  .type cuda_emu_switch, @function
cuda_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size cuda_emu_switch, .-cuda_emu_switch
  .section .note.GNU-stack,"",@progbits
  .text
)");

namespace cuda_emu {
namespace {

#ifdef CUDA_EMU_ASAN
constexpr size_t kStackBytes = 1 << 20;  // ASan frames carry redzones
#else
constexpr size_t kStackBytes = 256 << 10;
#endif

class FiberEngine final : public Engine {
 public:
  FiberEngine() = default;
  FiberEngine(const FiberEngine&) = delete;
  FiberEngine& operator=(const FiberEngine&) = delete;
  ~FiberEngine() override {
    for (char* p : stacks_) munmap(p, kStackBytes);
  }
  void run_block(BlockState& b, void (*thunk)(void*), void* arg) override;
  void block_barrier(BlockState& b, ThreadCtx& c, const char* file, int line) override;
  uint64_t warp_op(BlockState& b, ThreadCtx& c, WarpOp op, unsigned mask, uint64_t value, int src,
                   const char* file, int line) override;

  static void entry();  // first frame of every fiber

 private:
  void ensure_stacks(unsigned n);
  void yield_to_scheduler(bool exiting);
  void on_exit();
  void release_barrier(BlockState& b);

  std::vector<char*> stacks_;  // each kStackBytes, a guard page at its low end
  std::vector<void*> sp_;
  void* sched_sp_ = nullptr;
  BlockState* block_ = nullptr;
  void (*thunk_)(void*) = nullptr;
  void* arg_ = nullptr;
  unsigned cur_ = 0;
#ifdef CUDA_EMU_ASAN
  void* sched_fake_ = nullptr;
  const void* sched_bottom_ = nullptr;
  size_t sched_size_ = 0;
  std::vector<void*> fiber_fake_;
#endif
};

thread_local FiberEngine* tls_engine = nullptr;

void FiberEngine::ensure_stacks(unsigned n) {
  const size_t page = (size_t)sysconf(_SC_PAGESIZE);
  while (stacks_.size() < n) {
    void* p = mmap(nullptr, kStackBytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) fatal("cannot map a fiber stack");
    mprotect(p, page, PROT_NONE);  // a stack overflow faults instead of corrupting
    stacks_.push_back(static_cast<char*>(p));
    sp_.push_back(nullptr);
#ifdef CUDA_EMU_ASAN
    fiber_fake_.push_back(nullptr);
#endif
  }
}

void FiberEngine::entry() {
  FiberEngine* e = tls_engine;
#ifdef CUDA_EMU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &e->sched_bottom_, &e->sched_size_);
#endif
  e->thunk_(e->arg_);
  e->on_exit();
  e->yield_to_scheduler(true);
  fatal("an exited fiber was resumed");
}

void FiberEngine::yield_to_scheduler(bool exiting) {
#ifdef CUDA_EMU_ASAN
  __sanitizer_start_switch_fiber(exiting ? nullptr : &fiber_fake_[cur_], sched_bottom_, sched_size_);
#else
  (void)exiting;
#endif
  cuda_emu_switch(&sp_[cur_], sched_sp_);
#ifdef CUDA_EMU_ASAN
  __sanitizer_finish_switch_fiber(fiber_fake_[cur_], &sched_bottom_, &sched_size_);
#endif
}

void FiberEngine::release_barrier(BlockState& b) {
  for (unsigned i = 0; i < b.nthreads; ++i)
    if (b.wait[i].where.load(std::memory_order_relaxed) == (int)Where::block_barrier)
      b.wait[i].where.store((int)Where::running, std::memory_order_relaxed);
  b.at_barrier = 0;
}

void FiberEngine::on_exit() {
  BlockState& b = *block_;
  b.wait[cur_].where.store((int)Where::exited, std::memory_order_relaxed);
  b.live--;
  // A thread that returns leaves the barrier, as PTX `exit` does.
  if (b.at_barrier > 0 && b.at_barrier == b.live) release_barrier(b);
}

void FiberEngine::run_block(BlockState& b, void (*thunk)(void*), void* arg) {
  if (block_) fatal("a kernel launched another kernel from device code (not emulated)");
  ensure_stacks(b.nthreads);
  block_ = &b;
  thunk_ = thunk;
  arg_ = arg;
  FiberEngine* saved = tls_engine;
  tls_engine = this;
  ThreadCtx* saved_ctx = tls_ctx;

  for (unsigned i = 0; i < b.nthreads; ++i) {
    // Initial frame: six zero registers, then entry() as the return address,
    // then a null fake return address for entry() (16-byte ABI alignment).
    char* top = stacks_[i] + kStackBytes;
#ifdef CUDA_EMU_ASAN
    __asan_unpoison_memory_region(top - 4096, 4096);
#endif
    void** sp = reinterpret_cast<void**>(top);
    *--sp = nullptr;
    *--sp = reinterpret_cast<void*>(&FiberEngine::entry);
    for (int r = 0; r < 6; ++r) *--sp = nullptr;
    sp_[i] = sp;
  }

  for (;;) {
    bool progressed = false;
    for (unsigned i = 0; i < b.nthreads; ++i) {
      if (b.wait[i].where.load(std::memory_order_relaxed) != (int)Where::running) continue;
      cur_ = i;
      tls_ctx = &b.threads[i];
#ifdef CUDA_EMU_ASAN
      __sanitizer_start_switch_fiber(&sched_fake_, stacks_[i], kStackBytes);
#endif
      cuda_emu_switch(&sched_sp_, sp_[i]);
#ifdef CUDA_EMU_ASAN
      __sanitizer_finish_switch_fiber(sched_fake_, nullptr, nullptr);
#endif
      progressed = true;
    }
    if (b.live == 0) break;
    if (!progressed) fatal("deadlock: no thread can make progress in " + describe_block(b));
  }
  tls_ctx = saved_ctx;
  tls_engine = saved;
  block_ = nullptr;
}

void FiberEngine::block_barrier(BlockState& b, ThreadCtx& c, const char* file, int line) {
  ThreadWait& w = b.wait[c.linear];
  w.file = file;
  w.line = line;
  w.where.store((int)Where::block_barrier, std::memory_order_relaxed);
  if (++b.at_barrier == b.live) {
    release_barrier(b);  // the last arrival continues at once
    return;
  }
  yield_to_scheduler(false);
}

uint64_t FiberEngine::warp_op(BlockState& b, ThreadCtx& c, WarpOp op, unsigned mask,
                              uint64_t value, int src, const char* file, int line) {
  WarpState& w = b.warps[c.warp];
  ThreadWait& tw = b.wait[c.linear];
  tw.file = file;
  tw.line = line;
  tw.mask = mask;
  tw.where.store((int)Where::warp_op, std::memory_order_relaxed);
  if (warp_arrive(b, w, c, op, mask, value, src, file, line)) {
    for (unsigned l = 0; l < 32; ++l)
      if ((mask >> l) & 1u) b.wait[c.warp * 32 + l].where.store((int)Where::running, std::memory_order_relaxed);
  } else {
    yield_to_scheduler(false);
  }
  return w.out[c.lane];
}

}  // namespace

// One engine per host thread: its fiber stacks are reused launch after launch.
Engine& fiber_engine() { return per_thread_engine<FiberEngine>(); }
bool fiber_engine_available() { return true; }

}  // namespace cuda_emu

#else  // not x86-64: the OS-thread engine runs everything

namespace cuda_emu {
Engine& fiber_engine() { return thread_engine(); }
bool fiber_engine_available() { return false; }
}  // namespace cuda_emu

#endif
