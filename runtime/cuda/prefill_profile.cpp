// runtime/cuda/prefill_profile.cpp: see prefill_profile.h.
#include "runtime/cuda/prefill_profile.h"

#include "runtime/core/error.h"
#include "runtime/cuda/cuda_check.h"

#ifdef RWKV_CUDA_EMU
#include "cuda_emu/counters.h"
#endif

namespace rwkv {
namespace cuda {

namespace {

// The emulator's launches so far, kernels and cuBLAS calls (exact there); -1 on a GPU.
int64_t launch_count() {
#ifdef RWKV_CUDA_EMU
  const cuda_emu::Counters c = cuda_emu::counters();
  return (int64_t)(c.kernel_launches + c.cublas_calls);
#else
  return -1;
#endif
}

}  // namespace

const char* prefill_piece_name(PrefillPiece piece) {
  switch (piece) {
    case PrefillPiece::att_proj: return "att_proj";
    case PrefillPiece::att_out: return "att_out";
    case PrefillPiece::ffn_key: return "ffn_key";
    case PrefillPiece::ffn_value: return "ffn_value";
    case PrefillPiece::ffn_r: return "ffn_r";
    case PrefillPiece::lora: return "lora";
    case PrefillPiece::head: return "head";
    case PrefillPiece::wkv: return "wkv";
    case PrefillPiece::wkv_prepare: return "wkv_prepare";
    case PrefillPiece::wkv_carry: return "wkv_carry";
    case PrefillPiece::wkv_output: return "wkv_output";
    case PrefillPiece::layernorm: return "layernorm";
    case PrefillPiece::shift: return "shift";
    case PrefillPiece::activation: return "activation";
    case PrefillPiece::gather: return "gather";
  }
  return "?";
}

PrefillPart prefill_piece_part(PrefillPiece piece) {
  switch (piece) {
    case PrefillPiece::att_proj:
    case PrefillPiece::att_out:
    case PrefillPiece::ffn_key:
    case PrefillPiece::ffn_value:
    case PrefillPiece::ffn_r:
    case PrefillPiece::lora:
    case PrefillPiece::head: return PrefillPart::gemm;
    case PrefillPiece::wkv:
    case PrefillPiece::wkv_prepare:
    case PrefillPiece::wkv_carry:
    case PrefillPiece::wkv_output: return PrefillPart::wkv;
    default: return PrefillPart::other;
  }
}

double PrefillSplit::part_ms(PrefillPart part) const {
  double ms = 0;
  for (int i = 0; i < kPrefillPieces; ++i)
    if (prefill_piece_part((PrefillPiece)i) == part) ms += piece_ms[i];
  return ms;
}

long long PrefillSplit::part_spans(PrefillPart part) const {
  long long n = 0;
  for (int i = 0; i < kPrefillPieces; ++i)
    if (prefill_piece_part((PrefillPiece)i) == part) n += piece_spans[i];
  return n;
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

void PrefillProfile::record_begin(int piece, cudaStream_t stream) {
  int& open = piece < 0 ? open_round_ : open_piece_;
  if (open >= 0) throw Error("prefill profile: a span began inside another span");
  if (piece >= 0 && open_round_ < 0) throw Error("prefill profile: a span began outside a round");
  Span s;
  s.piece = piece;
  s.start = take_event();
  s.stop = take_event();
  RWKV_CUDA_TRY(cudaEventRecord(s.start, stream));
  open = (int)spans_.size();
  launches_at_begin_[piece < 0 ? 0 : 1] = launch_count();
  spans_.push_back(s);
}

void PrefillProfile::record_end(int piece, cudaStream_t stream) {
  int& open = piece < 0 ? open_round_ : open_piece_;
  if (open < 0 || spans_[(size_t)open].piece != piece)
    throw Error("prefill profile: a span ended that had not begun");
  Span& s = spans_[(size_t)open];
  RWKV_CUDA_TRY(cudaEventRecord(s.stop, stream));
  const int64_t now = launch_count();
  if (now >= 0) s.launches = now - launches_at_begin_[piece < 0 ? 0 : 1];
  open = -1;
}

void PrefillProfile::begin_round(cudaStream_t stream) { record_begin(-1, stream); }
void PrefillProfile::end_round(cudaStream_t stream) { record_end(-1, stream); }
void PrefillProfile::begin(PrefillPiece piece, cudaStream_t stream) { record_begin((int)piece, stream); }
void PrefillProfile::end(PrefillPiece piece, cudaStream_t stream) { record_end((int)piece, stream); }

void PrefillProfile::collect() {
  PrefillSplit& t = totals_;
  for (const Span& s : spans_) {
    float ms = 0;
    RWKV_CUDA_TRY(cudaEventElapsedTime(&ms, s.start, s.stop));
    if (s.launches >= 0) t.launches_counted = true;
    if (s.piece < 0) {
      t.rounds += 1;
      t.round_ms += ms;
      if (s.launches >= 0) t.round_launches += s.launches;
      continue;
    }
    t.piece_ms[s.piece] += ms;
    t.piece_spans[s.piece] += 1;
    if (s.launches >= 0) t.piece_launches[s.piece] += s.launches;
  }
  discard();
}

void PrefillProfile::discard() {
  for (const Span& s : spans_) {
    free_.push_back(s.start);
    free_.push_back(s.stop);
  }
  spans_.clear();
  open_piece_ = open_round_ = -1;
}

}  // namespace cuda
}  // namespace rwkv
