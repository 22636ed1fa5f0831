// runtime/cuda/prefill_profile.cpp: see prefill_profile.h.
#include "runtime/cuda/prefill_profile.h"

#include "runtime/core/error.h"
#include "runtime/cuda/cuda_check.h"

namespace rwkv {
namespace cuda {

namespace {
constexpr int kRound = 2;  // open_ slot of the whole round
}

PrefillProfile::~PrefillProfile() {
  for (cudaEvent_t e : all_) cudaEventDestroy(e);
}

cudaEvent_t PrefillProfile::take_event() {
  if (!free_.empty()) {
    cudaEvent_t e = free_.back();
    free_.pop_back();
    return e;
  }
  cudaEvent_t e = nullptr;
  RWKV_CUDA_TRY(cudaEventCreate(&e));
  all_.push_back(e);
  return e;
}

void PrefillProfile::record_begin(int part, cudaStream_t stream) {
  const int slot = part < 0 ? kRound : part;
  if (open_[slot] >= 0) throw Error("prefill profile: a span began inside another of the same part");
  Span s;
  s.part = part;
  s.start = take_event();
  s.stop = take_event();
  RWKV_CUDA_TRY(cudaEventRecord(s.start, stream));
  open_[slot] = (int)spans_.size();
  spans_.push_back(s);
}

void PrefillProfile::record_end(int part, cudaStream_t stream) {
  const int slot = part < 0 ? kRound : part;
  if (open_[slot] < 0) throw Error("prefill profile: a span ended that had not begun");
  RWKV_CUDA_TRY(cudaEventRecord(spans_[(size_t)open_[slot]].stop, stream));
  open_[slot] = -1;
}

void PrefillProfile::begin_round(cudaStream_t stream) { record_begin(-1, stream); }
void PrefillProfile::end_round(cudaStream_t stream) { record_end(-1, stream); }
void PrefillProfile::begin(PrefillPart part, cudaStream_t stream) { record_begin((int)part, stream); }
void PrefillProfile::end(PrefillPart part, cudaStream_t stream) { record_end((int)part, stream); }

void PrefillProfile::collect() {
  for (const Span& s : spans_) {
    float ms = 0;
    RWKV_CUDA_TRY(cudaEventElapsedTime(&ms, s.start, s.stop));
    if (s.part < 0) {
      totals_.rounds += 1;
      totals_.round_ms += ms;
    } else if (s.part == (int)PrefillPart::gemm) {
      totals_.gemm_ms += ms;
      totals_.gemm_spans += 1;
    } else {
      totals_.wkv_ms += ms;
      totals_.wkv_spans += 1;
    }
  }
  discard();
}

void PrefillProfile::discard() {
  for (const Span& s : spans_) {
    free_.push_back(s.start);
    free_.push_back(s.stop);
  }
  spans_.clear();
  for (int& o : open_) o = -1;
}

}  // namespace cuda
}  // namespace rwkv
