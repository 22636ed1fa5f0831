// runtime/cuda/prefill_profile.h: where a prefill round's device time goes (CudaOptions::
// profile_prefill; off by default). The backend records a CUDA event pair around every prefill
// round it runs uncaptured (never inside a decode graph); layer code marks each of its launches
// as a piece of the round through RoundRun::profile (layer.h), one event pair per span:
//
//   if (round.profile) round.profile->begin(cuda::PrefillPiece::layernorm, round.stream);
//   ... the LayerNorm launch ...
//   if (round.profile) round.profile->end(cuda::PrefillPiece::layernorm, round.stream);
//
// The GEMMs are pieces by matrix role (att_proj, att_out, ffn_key, ffn_value, ffn_r, lora, head),
// so that each shape's time stands next to its own floor.
//
// Every piece belongs to one part: the GEMMs (cuBLAS), the WKV recurrences, or the other kernels
// (LayerNorms, token shifts, activations, gathers). Events are only recorded while the round is
// enqueued; collect() reads them after the round's synchronisation and adds their elapsed times
// to the totals. Spans do not nest (one open at a time inside the round's own span). What lies
// outside every span (none of the layers' launches; the gaps between spans) is the round time
// less the pieces. In the emulated build each span also counts the launches it holds, kernels and
// cuBLAS calls (exact there; docs/performance.md "Prefill rounds and the split"). The decode path's
// launches (a prefill round of at most gemv_max_rows rows) are not marked.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

namespace rwkv {
namespace cuda {

enum class PrefillPart { gemm = 0, wkv = 1, other = 2 };

// What a span holds. Keep kPrefillPieces and prefill_piece_name/prefill_piece_part in step.
enum class PrefillPiece {
  att_proj = 0,    // GEMM: the time mix's k v r (g) projections (one batched call)
  att_out,         // GEMM: the time mix's output, added into the residual stream
  ffn_key,         // GEMM: the channel mix's key
  ffn_value,       // GEMM: the channel mix's value (v7: added into the residual stream)
  ffn_r,           // GEMM: the v4-v6 channel mix's receptance
  lora,            // GEMM: the LoRA matrices (v6 ddlerp and decay, v7 w a v g)
  head,            // GEMM: the output head
  wkv,             // WKV: a whole recurrence (sequential, or chunked v4/v5/v6, v7 at N = 8, 16)
  wkv_prepare,     // WKV: chunked v7 (N = 32, 64), pass 1, every chunk's state-free part
  wkv_carry,       // WKV: chunked v7, pass 2, the state carried from chunk to chunk
  wkv_output,      // WKV: chunked v7, pass 3, GroupNorm, bonus and gate
  layernorm,       // other: the head's LayerNorm
  shift,           // other: LN1 and LN2 with the token-shift mixes they start, v6's ddlerp mix,
                   // the shift-state store
  activation,      // other: LoRA middles, relu^2, the v4-v6 channel mix's receptance gate
  gather,          // other: the embedding gather and the head's last-row gathers
};
constexpr int kPrefillPieces = 15;

// Short name (the bench's table and JSON keys) and part of each piece.
const char* prefill_piece_name(PrefillPiece piece);
PrefillPart prefill_piece_part(PrefillPiece piece);

// Device time summed over the profiled prefill rounds (milliseconds).
struct PrefillSplit {
  int rounds = 0;           // prefill rounds profiled
  double round_ms = 0;      // their whole time, embedding gather to logits
  double piece_ms[kPrefillPieces] = {};
  long long piece_spans[kPrefillPieces] = {};
  // Emulated build only (launches_counted): launches (kernels and cuBLAS calls) inside the pieces'
  // spans and inside the rounds.
  bool launches_counted = false;
  long long piece_launches[kPrefillPieces] = {};
  long long round_launches = 0;

  // Inside the spans of the part's pieces: time, and spans (0: layer code marked none of that part).
  double part_ms(PrefillPart part) const;
  long long part_spans(PrefillPart part) const;
};

class PrefillProfile {
 public:
  PrefillProfile() = default;
  ~PrefillProfile();
  PrefillProfile(const PrefillProfile&) = delete;
  PrefillProfile& operator=(const PrefillProfile&) = delete;

  void begin_round(cudaStream_t stream);
  void end_round(cudaStream_t stream);
  void begin(PrefillPiece piece, cudaStream_t stream);
  void end(PrefillPiece piece, cudaStream_t stream);
  // After the stream has been synchronised: adds the recorded spans to the totals, recycles the events.
  void collect();
  // Drops recorded spans not yet collected (a round that failed before its synchronisation).
  void discard();
  const PrefillSplit& totals() const { return totals_; }
  void reset() { totals_ = PrefillSplit{}; }

 private:
  struct Span {
    int piece;  // PrefillPiece, or -1 for a whole round
    cudaEvent_t start = nullptr, stop = nullptr;
    int64_t launches = -1;  // emulated build: kernel launches and cuBLAS calls between begin and end
  };
  cudaEvent_t take_event();
  void record_begin(int piece, cudaStream_t stream);
  void record_end(int piece, cudaStream_t stream);

  std::vector<Span> spans_;          // recorded, not yet collected
  std::vector<cudaEvent_t> free_;    // created, ready for reuse
  std::vector<cudaEvent_t> all_;     // every event created (destroyed with the profile)
  int open_piece_ = -1, open_round_ = -1;  // index in spans_ of the open span, -1 none
  int64_t launches_at_begin_[2] = {0, 0};  // emulated build: the launch counter at the open spans' begin
  PrefillSplit totals_;
};

}  // namespace cuda
}  // namespace rwkv
