// runtime/cuda/prefill_profile.h: where a prefill round's device time goes (CudaOptions::
// profile_prefill; off by default). The backend records a CUDA event pair around every prefill
// round it runs uncaptured (never inside a decode graph); layer code marks its GEMM and WKV
// launches through RoundRun::profile (layer.h), one event pair per span:
//
//   if (round.profile) round.profile->begin(cuda::PrefillPart::wkv, round.stream);
//   ... the WKV launch ...
//   if (round.profile) round.profile->end(cuda::PrefillPart::wkv, round.stream);
//
// Events are only recorded while the round is enqueued; collect() reads them after the round's
// synchronisation and adds their elapsed times to the totals. The spans of one category must not
// nest. Everything not inside a span (LayerNorms, token shifts, activations, the head's gathers)
// is the rest: round time - GEMM - WKV.
#pragma once
#include <cuda_runtime.h>

#include <vector>

namespace rwkv {
namespace cuda {

enum class PrefillPart { gemm = 0, wkv = 1 };

// Device time summed over the profiled prefill rounds (milliseconds).
struct PrefillSplit {
  int rounds = 0;           // prefill rounds profiled
  double round_ms = 0;      // their whole time, embedding gather to logits
  double gemm_ms = 0;       // inside GEMM spans
  double wkv_ms = 0;        // inside WKV spans
  long long gemm_spans = 0, wkv_spans = 0;  // spans marked (0: layer code marked none of that part)
};

class PrefillProfile {
 public:
  PrefillProfile() = default;
  ~PrefillProfile();
  PrefillProfile(const PrefillProfile&) = delete;
  PrefillProfile& operator=(const PrefillProfile&) = delete;

  void begin_round(cudaStream_t stream);
  void end_round(cudaStream_t stream);
  void begin(PrefillPart part, cudaStream_t stream);
  void end(PrefillPart part, cudaStream_t stream);
  // After the stream has been synchronised: adds the recorded spans to the totals, recycles the events.
  void collect();
  // Drops recorded spans not yet collected (a round that failed before its synchronisation).
  void discard();
  const PrefillSplit& totals() const { return totals_; }
  void reset() { totals_ = PrefillSplit{}; }

 private:
  struct Span {
    int part;  // PrefillPart, or -1 for a whole round
    cudaEvent_t start = nullptr, stop = nullptr;
  };
  cudaEvent_t take_event();
  void record_begin(int part, cudaStream_t stream);
  void record_end(int part, cudaStream_t stream);

  std::vector<Span> spans_;          // recorded, not yet collected
  std::vector<cudaEvent_t> free_;    // created, ready for reuse
  std::vector<cudaEvent_t> all_;     // every event created (destroyed with the profile)
  int open_[3] = {-1, -1, -1};       // index in spans_ of the open span per part (round = 2)
  PrefillSplit totals_;
};

}  // namespace cuda
}  // namespace rwkv
