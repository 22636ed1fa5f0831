// runtime/cuda/cuda_backend.cpp: see cuda_backend.h.
//
// Per layer and round of M rows (S sequences), the launches are:
//   v7:     LN1 | mix x6 | GEMM k,v,r (batched) | 4 LoRA-in GEMMs (3 in layer 0) | LoRA activations |
//           4 LoRA-out GEMMs | WKV7 (+decay, kk, value residual, GN, bonus, gate) | GEMM output |
//           LN2 (+residual) | mix | GEMM ffn.key | relu^2 | GEMM ffn.value | shift-state store
//   v6:     LN1 | mix (maa_x) | GEMM maa_w1 | tanh | GEMM maa_w2 x5 (batched) | mix x5 (ddlerp) |
//           GEMM decay_w1 | tanh | GEMM decay_w2 | GEMM k,v,r,g (batched) | WKV5 (+GN, silu gate) |
//           GEMM output | LN2 | mix x2 | GEMM key | relu^2 | GEMM value | GEMM receptance |
//           sigmoid gate | store
//   v5:     LN1 | mix x3-4 | GEMM k,v,r(,g) | WKV5 | GEMM output | LN2 | FFN as v6 | store
//   v4:     LN1 | mix x3 | GEMM k,v,r | WKV4 (+sigmoid(r)) | GEMM output | LN2 | FFN as v6 | store
// plus, per round, one descriptor upload, the embedding gather, and (when
// logits are wanted) the last-row gathers, ln_out and the head GEMM.
#include "runtime/cuda/cuda_backend.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "kernels/activation.cuh"
#include "kernels/embedding.cuh"
#include "kernels/layernorm.cuh"
#include "kernels/shift_mix.cuh"
#include "kernels/wkv4.cuh"
#include "kernels/wkv5.cuh"
#include "kernels/wkv7.cuh"
#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/gemm.h"

namespace rwkv {

using cuda::DeviceMatrix;
using cuda::linear;
using cuda::linear_batched;

namespace {

DType checkpoint_dtype(const Model& model) {
  const Tensor* t = model.find("blocks.0.att.key.weight");
  if (!t) t = model.find("head.weight");
  return t ? t->dtype : DType::f32;
}

// A pointer `elements` elements of `dtype` past p.
void* offset(void* p, size_t elements, DType dtype) {
  return static_cast<char*>(p) + elements * dtype_size(dtype);
}

bool is_v5(Arch a) { return a == Arch::v5_0 || a == Arch::v5_1 || a == Arch::v5_2; }

}  // namespace

// One round: up to max_rows token rows from some of the batch's sequences.
struct CudaBackend::Round {
  struct Piece {
    const int32_t* tokens;
    int n;
    float* state;
    bool last_piece;   // this round ends the sequence
    size_t out_row;    // first logits row for LogitsMode::all / the row for ::last
  };
  std::vector<Piece> pieces;
  int rows = 0;
};

CudaBackend::CudaBackend(const Model& model, CudaOptions options)
    : info_(model.info), layout_(model.info), opt_(options) {
  // Rows and sequences of a round become gridDim.y of some kernels (limit 65535).
  if (opt_.max_rows < 1 || opt_.max_rows > 65535)
    throw Error("cuda backend: max_rows must be in [1, 65535], got " + std::to_string(opt_.max_rows));
  if (opt_.n_slots < 0) throw Error("cuda backend: n_slots must not be negative");
  int n_dev = 0;
  if (cudaGetDeviceCount(&n_dev) != cudaSuccess || n_dev == 0) {
    cudaGetLastError();
    throw Error("cuda backend: no CUDA device is available");
  }
  if (opt_.device < 0 || opt_.device >= n_dev)
    throw Error("cuda backend: device cuda:" + std::to_string(opt_.device) + " does not exist (" +
                std::to_string(n_dev) + " device(s))");
  RWKV_CUDA_TRY(cudaSetDevice(opt_.device));
  initial_state_ = initial_state(model, layout_);
  w_ = cuda::upload_weights(model, opt_.dtype ? *opt_.dtype : checkpoint_dtype(model));
  RWKV_CUDA_TRY(cudaStreamCreate(&stream_));
  RWKV_CUBLAS_TRY(cublasCreate(&cublas_));
  RWKV_CUBLAS_TRY(cublasSetStream(cublas_, stream_));
  RWKV_CUBLAS_TRY(cublasSetMathMode(cublas_, CUBLAS_DEFAULT_MATH));  // no TF32
  alloc_workspace();
  n_slots_ = opt_.n_slots;
  slots_ = cuda::DeviceBuffer((size_t)n_slots_ * layout_.size() * sizeof(float), "state slots");
  for (int i = 0; i < n_slots_; ++i) reset_slot(i);
}

CudaBackend::~CudaBackend() {
  if (desc_host_) cudaFreeHost(desc_host_);
  if (cublas_) cublasDestroy(cublas_);
  if (stream_) cudaStreamDestroy(stream_);
}

void CudaBackend::alloc_workspace() {
  const size_t R = (size_t)opt_.max_rows;
  const size_t C = info_.n_embd, A = info_.n_att > 0 ? info_.n_att : info_.n_embd;
  const size_t F = info_.n_ffn, V = info_.n_vocab;
  const DType dt = w_.dtype;
  for (const cuda::CudaLayer& L : w_.layers) {
    int width = L.w1.out + L.a1.out + L.v1.out + L.g1.out;  // v7
    width = std::max(width, L.maa_w1.out);                  // v6
    width = std::max(width, L.decay_w1.out);
    lora_width_ = std::max(lora_width_, width);
  }
  auto f32 = [&](size_t n, const char* what) {
    ws_.emplace_back(n * sizeof(float), what);
    workspace_bytes_ += ws_.back().bytes();
    return ws_.back().as<float>();
  };
  auto dtv = [&](size_t n, const char* what) {
    ws_.emplace_back(n * dtype_size(dt), what);
    workspace_bytes_ += ws_.back().bytes();
    return ws_.back().get();
  };
  x_ = f32(R * C, "workspace x");
  a_ = f32(R * C, "workspace ln1");
  f_ = f32(R * C, "workspace ln2");
  delta_ = f32(R * C, "workspace residual delta");
  v_first_ = f32(R * A, "workspace v_first");
  mix_ = dtv(6 * R * C, "workspace mixes");
  proj_ = f32(4 * R * A, "workspace projections");
  if (lora_width_ > 0) {
    lora_f_ = f32(R * lora_width_, "workspace lora");
    lora_d_ = dtv(R * lora_width_, "workspace lora");
  }
  lora_out_ = f32(5 * R * std::max(A, C), "workspace lora out");
  att_out_ = dtv(R * A, "workspace attention out");
  kk_f_ = f32(R * F, "workspace ffn key");
  kk_d_ = dtv(R * F, "workspace ffn key");
  ffn_r_ = f32(R * C, "workspace ffn receptance");
  ffn_v_ = f32(R * C, "workspace ffn value");
  x_last_ = f32(R * C, "workspace last rows");
  delta_last_ = f32(R * C, "workspace last rows");
  y_ = dtv(R * C, "workspace ln_out");
  logits_ = f32(R * V, "workspace logits");
  ws_.emplace_back(sizeof(int), "error flag");
  error_flag_ = ws_.back().as<int>();
  RWKV_CUDA_TRY(cudaMemset(error_flag_, 0, sizeof(int)));
  // Descriptor: tokens[R], seq_start[R+1], row_seq[R], last_rows[R], then states[R].
  desc_bytes_ = (4 * R + 1) * sizeof(int32_t);
  desc_bytes_ = (desc_bytes_ + 15) & ~size_t(15);
  desc_bytes_ += R * sizeof(float*);
  ws_.emplace_back(desc_bytes_, "batch descriptor");
  desc_dev_ = ws_.back().get();
  RWKV_CUDA_TRY(cudaMallocHost(&desc_host_, desc_bytes_));
}

// ---- state slots --------------------------------------------------------------

float* CudaBackend::slot(int i) const {
  if (i < 0 || i >= n_slots_)
    throw Error("cuda backend: slot " + std::to_string(i) + " is out of range [0, " +
                std::to_string(n_slots_) + ")");
  return slots_.as<float>() + (size_t)i * layout_.size();
}

void CudaBackend::init_state(float* state) const {
  RWKV_CUDA_TRY(cudaMemcpy(state, initial_state_.data(), initial_state_.size() * sizeof(float),
                           cudaMemcpyHostToDevice));
}
void CudaBackend::reset_slot(int i) { init_state(slot(i)); }
void CudaBackend::copy_slot(int src, int dst) {
  RWKV_CUDA_TRY(cudaMemcpy(slot(dst), slot(src), layout_.size() * sizeof(float),
                           cudaMemcpyDeviceToDevice));
}
void CudaBackend::read_slot(int i, float* host) const {
  RWKV_CUDA_TRY(cudaMemcpy(host, slot(i), layout_.size() * sizeof(float), cudaMemcpyDeviceToHost));
}
void CudaBackend::write_slot(int i, const float* host) {
  RWKV_CUDA_TRY(cudaMemcpy(slot(i), host, layout_.size() * sizeof(float), cudaMemcpyHostToDevice));
}

// ---- forward ------------------------------------------------------------------

void CudaBackend::forward(const Batch& batch, float* logits) {
  std::lock_guard<std::mutex> lock(forward_mu_);
  validate_batch(batch, info_, layout_, logits == nullptr);
  const size_t n = batch.seqs.size();
  std::vector<size_t> done(n, 0), out_base(n, 0);
  for (size_t i = 1; i < n; ++i) out_base[i] = out_base[i - 1] + batch.seqs[i - 1].n_tokens;

  // Rounds: each unfinished sequence contributes up to its share of max_rows.
  for (;;) {
    std::vector<size_t> active;
    for (size_t i = 0; i < n; ++i)
      if (done[i] < batch.seqs[i].n_tokens) active.push_back(i);
    if (active.empty()) break;
    const int share = std::max(1, opt_.max_rows / (int)active.size());
    Round round;
    for (size_t i : active) {
      const SeqInput& s = batch.seqs[i];
      const int take = (int)std::min<size_t>((size_t)share, s.n_tokens - done[i]);
      if (round.rows + take > opt_.max_rows) break;
      Round::Piece p;
      p.tokens = s.tokens + done[i];
      p.n = take;
      p.state = s.state;
      p.last_piece = done[i] + take == s.n_tokens;
      p.out_row = batch.logits == LogitsMode::all ? out_base[i] + done[i] : i;
      round.pieces.push_back(p);
      round.rows += take;
      done[i] += take;
    }
    run_round(round, batch.logits, logits);
  }
}

void CudaBackend::run_round(const Round& round, LogitsMode mode, float* logits) {
  const int M = round.rows, S = (int)round.pieces.size();
  const size_t R = (size_t)opt_.max_rows;
  const int C = info_.n_embd, V = info_.n_vocab;

  // Descriptor: one host-to-device copy per round.
  int32_t* h = static_cast<int32_t*>(desc_host_);
  int32_t* tokens = h;
  int32_t* seq_start = h + R;
  int32_t* row_seq = h + 2 * R + 1;
  int32_t* last_rows = h + 3 * R + 1;
  float** states = reinterpret_cast<float**>(static_cast<char*>(desc_host_) + desc_bytes_ - R * sizeof(float*));
  int row = 0;
  for (int s = 0; s < S; ++s) {
    const Round::Piece& p = round.pieces[(size_t)s];
    seq_start[s] = row;
    for (int t = 0; t < p.n; ++t) {
      tokens[row] = p.tokens[t];
      row_seq[row] = s;
      ++row;
    }
    last_rows[s] = row - 1;
    states[s] = p.state;
  }
  seq_start[S] = row;
  RWKV_CUDA_TRY(cudaMemcpyAsync(desc_dev_, desc_host_, desc_bytes_, cudaMemcpyHostToDevice, stream_));
  int32_t* d = static_cast<int32_t*>(desc_dev_);
  d_tokens_ = d;
  d_seq_start_ = d + R;
  d_row_seq_ = d + 2 * R + 1;
  d_last_rows_ = d + 3 * R + 1;
  d_states_ = reinterpret_cast<float* const*>(static_cast<char*>(desc_dev_) + desc_bytes_ - R * sizeof(float*));
  n_seq_ = S;

  rwkv_kernels::embedding_params emb;
  emb.ids = d_tokens_;
  emb.emb = w_.emb.data;
  emb.emb_dtype = w_.dtype;
  emb.out = x_;
  emb.error_flag = error_flag_;
  emb.n = M;
  emb.V = V;
  emb.C = C;
  RWKV_CUDA_TRY(rwkv_kernels::embedding_gather(emb, stream_));

  for (int l = 0; l < info_.n_layer; ++l) run_layer(l, M);

  if (mode != LogitsMode::none) {
    // ln_out of the rows whose logits are wanted, then the head.
    rwkv_kernels::layernorm_params ln;
    ln.weight = w_.ln_out_w;
    ln.bias = w_.ln_out_b;
    ln.y = y_;
    ln.y_dtype = w_.dtype;
    ln.C = C;
    int rows = M;
    if (mode == LogitsMode::last) {
      for (int which = 0; which < 2; ++which) {
        rwkv_kernels::embedding_params g;
        g.ids = d_last_rows_;
        g.emb = which == 0 ? x_ : delta_;
        g.out = which == 0 ? x_last_ : delta_last_;
        g.error_flag = error_flag_;
        g.n = S;
        g.V = M;
        g.C = C;
        RWKV_CUDA_TRY(rwkv_kernels::embedding_gather(g, stream_));
      }
      ln.x = x_last_;
      ln.delta = delta_last_;
      rows = S;
    } else {
      ln.x = x_;
      ln.delta = delta_;
    }
    ln.rows = rows;
    RWKV_CUDA_TRY(rwkv_kernels::layernorm_residual(ln, stream_));
    linear(cublas_, w_.head, y_, C, rows, logits_, DType::f32, V);
    if (mode == LogitsMode::last) {
      for (int s = 0; s < S; ++s) {
        const Round::Piece& p = round.pieces[(size_t)s];
        if (!p.last_piece) continue;
        RWKV_CUDA_TRY(cudaMemcpyAsync(logits + p.out_row * V, logits_ + (size_t)s * V,
                                      (size_t)V * sizeof(float), cudaMemcpyDeviceToHost, stream_));
      }
    } else {
      int r0 = 0;
      for (const Round::Piece& p : round.pieces) {
        RWKV_CUDA_TRY(cudaMemcpyAsync(logits + p.out_row * V, logits_ + (size_t)r0 * V,
                                      (size_t)p.n * V * sizeof(float), cudaMemcpyDeviceToHost, stream_));
        r0 += p.n;
      }
    }
  }
  RWKV_CUDA_TRY(cudaStreamSynchronize(stream_));
}

void CudaBackend::run_layer(int l, int M) {
  const cuda::CudaLayer& L = w_.layers[(size_t)l];
  const LayerStateOffsets& so = layout_.layer(l);
  const size_t R = (size_t)opt_.max_rows;
  const int C = info_.n_embd, A = info_.n_att > 0 ? info_.n_att : info_.n_embd, F = info_.n_ffn;
  const int H = info_.n_head, N = info_.head_size;
  const DType dt = w_.dtype;
  const Arch arch = info_.arch;
  rwkv_kernels::ragged_batch rb;
  rb.seq_start = d_seq_start_;
  rb.state = d_states_;
  rb.row_seq = d_row_seq_;
  rb.n_seq = n_seq_;
  rb.n_rows = M;
  auto mix_plane = [&](int z) { return offset(mix_, (size_t)z * R * C, dt); };
  auto proj_plane = [&](int z) { return proj_ + (size_t)z * R * A; };

  // LN1, adding the previous layer's channel-mix output to the residual stream.
  rwkv_kernels::layernorm_params ln;
  ln.x = x_;
  ln.delta = l == 0 ? nullptr : delta_;
  ln.weight = L.ln1_w;
  ln.bias = L.ln1_b;
  ln.y = a_;
  ln.rows = M;
  ln.C = C;
  RWKV_CUDA_TRY(rwkv_kernels::layernorm_residual(ln, stream_));

  rwkv_kernels::shift_mix_params sm;
  sm.batch = rb;
  sm.state_offset = so.att_x;
  sm.cur = a_;
  sm.C = C;
  sm.out_dtype = dt;

  // The v5/v6 WKV core; v6 adds per-token decays (w_lora), 5.1+ and v6 a gate.
  auto run_wkv5 = [&](const float* w_lora, const float* gate) {
    rwkv_kernels::wkv5_params p;
    p.batch = rb;
    p.kv_offset = so.kv;
    p.H = H;
    p.N = N;
    p.k = proj_plane(0);
    p.v = proj_plane(1);
    p.r = proj_plane(2);
    p.g = gate;
    p.decay = L.decay;
    p.w_lora = w_lora;
    p.u = L.bonus;
    p.ln_w = L.ln_x_w;
    p.ln_b = L.ln_x_b;
    p.out = att_out_;
    p.out_dtype = dt;
    RWKV_CUDA_TRY(rwkv_kernels::wkv5_forward(p, stream_));
  };

  if (arch == Arch::v7) {
    sm.n_out = 6;
    for (int z = 0; z < 6; ++z) {
      sm.mu[z] = L.mix[z];
      sm.out[z] = mix_plane(z);
    }
    RWKV_CUDA_TRY(rwkv_kernels::shift_mix(sm, stream_));
    linear_batched(cublas_, L.att_kvrg, 3, mix_plane(0), C, (long long)(R * C), M, proj_, DType::f32, A,
                   (long long)(R * A));
    // LoRA: first matrices into one [M, width] buffer, activations, second matrices.
    const int Dw = L.w1.out, Da = L.a1.out, Dv = L.has_v_mix ? L.v1.out : 0, Dg = L.g1.out;
    const int width = Dw + Da + Dv + Dg;
    linear(cublas_, L.w1, mix_plane(3), C, M, lora_f_, DType::f32, width);
    linear(cublas_, L.a1, mix_plane(4), C, M, lora_f_ + Dw, DType::f32, width);
    if (Dv) linear(cublas_, L.v1, mix_plane(1), C, M, lora_f_ + Dw + Da, DType::f32, width);
    linear(cublas_, L.g1, mix_plane(5), C, M, lora_f_ + Dw + Da + Dv, DType::f32, width);
    rwkv_kernels::activation_params act;
    act.in = lora_f_;
    act.out = lora_d_;
    act.out_dtype = dt;
    act.rows = M;
    act.width = width;
    act.n_seg = 0;
    for (auto seg : {std::make_pair(Dw, rwkv_kernels::act_kind::tanh),
                     std::make_pair(Da, rwkv_kernels::act_kind::identity),
                     std::make_pair(Dv, rwkv_kernels::act_kind::identity),
                     std::make_pair(Dg, rwkv_kernels::act_kind::sigmoid)}) {
      if (seg.first == 0) continue;
      act.seg_width[act.n_seg] = seg.first;
      act.seg_act[act.n_seg++] = seg.second;
    }
    RWKV_CUDA_TRY(rwkv_kernels::activation(act, stream_));
    float* w_lora = lora_out_;
    float* a_lora = lora_out_ + R * A;
    float* v_lora = lora_out_ + 2 * R * A;
    float* g = lora_out_ + 3 * R * A;
    linear(cublas_, L.w2, lora_d_, width, M, w_lora, DType::f32, A);
    linear(cublas_, L.a2, offset(lora_d_, Dw, dt), width, M, a_lora, DType::f32, A);
    if (Dv) linear(cublas_, L.v2, offset(lora_d_, Dw + Da, dt), width, M, v_lora, DType::f32, A);
    linear(cublas_, L.g2, offset(lora_d_, Dw + Da + Dv, dt), width, M, g, DType::f32, A);

    rwkv_kernels::wkv7_params p;
    p.batch = rb;
    p.kv_offset = so.kv;
    p.H = H;
    p.N = N;
    p.k = proj_plane(0);
    p.v = proj_plane(1);
    p.r = proj_plane(2);
    p.w_lora = w_lora;
    p.a_lora = a_lora;
    p.v_lora = Dv ? v_lora : nullptr;
    p.g = g;
    p.v_first = v_first_;
    p.first_layer = l == 0;
    p.w0 = L.w0;
    p.a0 = L.a0;
    p.v0 = L.v0;
    p.k_k = L.k_k;
    p.k_a = L.k_a;
    p.r_k = L.r_k;
    p.ln_w = L.ln_x_w;
    p.ln_b = L.ln_x_b;
    p.out = att_out_;
    p.out_dtype = dt;
    RWKV_CUDA_TRY(rwkv_kernels::wkv7_forward(p, stream_));
  } else if (arch == Arch::v6) {
    // ddlerp (rwkv-spec.md 5.2): xxx = a + (prev - a) * maa_x; m = tanh(xxx maa_w1);
    // x_z = a + (prev - a) * (maa_z + m_z maa_w2[z]).
    const int D = L.maa_w1.out / 5;
    sm.n_out = 1;
    sm.mu[0] = L.mix[0];
    sm.out[0] = mix_plane(5);
    RWKV_CUDA_TRY(rwkv_kernels::shift_mix(sm, stream_));
    linear(cublas_, L.maa_w1, mix_plane(5), C, M, lora_f_, DType::f32, 5 * D);
    rwkv_kernels::activation_params act;
    act.in = lora_f_;
    act.out = lora_d_;
    act.out_dtype = dt;
    act.rows = M;
    act.width = 5 * D;
    act.seg_width[0] = 5 * D;
    act.seg_act[0] = rwkv_kernels::act_kind::tanh;
    RWKV_CUDA_TRY(rwkv_kernels::activation(act, stream_));
    linear_batched(cublas_, L.maa_w2, 5, lora_d_, 5 * D, D, M, lora_out_, DType::f32, C,
                   (long long)M * C);
    sm.n_out = 5;
    for (int z = 0; z < 5; ++z) {
      sm.mu[z] = L.mix[1 + z];
      sm.out[z] = mix_plane(z);  // w, k, v, r, g
    }
    sm.delta = lora_out_;
    RWKV_CUDA_TRY(rwkv_kernels::shift_mix(sm, stream_));
    // Data-dependent decay: time_decay + tanh(x_w decay_w1) decay_w2 (exp(-exp) in the kernel).
    const int Dd = L.decay_w1.out;
    linear(cublas_, L.decay_w1, mix_plane(0), C, M, lora_f_, DType::f32, Dd);
    act.width = Dd;
    act.seg_width[0] = Dd;
    RWKV_CUDA_TRY(rwkv_kernels::activation(act, stream_));
    float* w_lora = lora_out_;  // the ddlerp deltas are consumed
    linear(cublas_, L.decay_w2, lora_d_, Dd, M, w_lora, DType::f32, A);
    linear_batched(cublas_, L.att_kvrg, 4, mix_plane(1), C, (long long)(R * C), M, proj_, DType::f32, A,
                   (long long)(R * A));
    run_wkv5(w_lora, proj_plane(3));
  } else {
    // v4, v5: lerp mixes weighting the current token.
    sm.prev_weighted = false;
    sm.n_out = L.n_kvrg;
    for (int z = 0; z < L.n_kvrg; ++z) {
      sm.mu[z] = L.mix[z];
      sm.out[z] = mix_plane(z);
    }
    RWKV_CUDA_TRY(rwkv_kernels::shift_mix(sm, stream_));
    linear_batched(cublas_, L.att_kvrg, L.n_kvrg, mix_plane(0), C, (long long)(R * C), M, proj_,
                   DType::f32, A, (long long)(R * A));
    if (arch == Arch::v4) {
      rwkv_kernels::wkv4_params p;
      p.batch = rb;
      p.aa_offset = so.aa;
      p.bb_offset = so.bb;
      p.pp_offset = so.pp;
      p.A = A;
      p.k = proj_plane(0);
      p.v = proj_plane(1);
      p.r = proj_plane(2);
      p.w = L.decay;
      p.u = L.bonus;
      p.out = att_out_;
      p.out_dtype = dt;
      RWKV_CUDA_TRY(rwkv_kernels::wkv4_forward(p, stream_));
    } else {
      run_wkv5(nullptr, L.n_kvrg == 4 ? proj_plane(3) : nullptr);
    }
  }
  linear(cublas_, L.att_o, att_out_, A, M, delta_, DType::f32, C);

  // Channel mix.
  ln.delta = delta_;
  ln.weight = L.ln2_w;
  ln.bias = L.ln2_b;
  ln.y = f_;
  RWKV_CUDA_TRY(rwkv_kernels::layernorm_residual(ln, stream_));
  rwkv_kernels::shift_mix_params fm;
  fm.batch = rb;
  fm.state_offset = so.ffn_x;
  fm.cur = f_;
  fm.C = C;
  fm.out_dtype = dt;
  fm.prev_weighted = arch == Arch::v6 || arch == Arch::v7;
  fm.n_out = arch == Arch::v7 ? 1 : 2;
  for (int z = 0; z < fm.n_out; ++z) {
    fm.mu[z] = L.ffn_mix[z];
    fm.out[z] = mix_plane(z);
  }
  RWKV_CUDA_TRY(rwkv_kernels::shift_mix(fm, stream_));
  linear(cublas_, L.ffn_k, mix_plane(0), C, M, kk_f_, DType::f32, F);
  rwkv_kernels::activation_params sq;
  sq.in = kk_f_;
  sq.out = kk_d_;
  sq.out_dtype = dt;
  sq.rows = M;
  sq.width = F;
  sq.seg_width[0] = F;
  sq.seg_act[0] = rwkv_kernels::act_kind::relu_sq;
  RWKV_CUDA_TRY(rwkv_kernels::activation(sq, stream_));
  if (arch == Arch::v7) {
    linear(cublas_, L.ffn_v, kk_d_, F, M, delta_, DType::f32, C);
  } else {
    linear(cublas_, L.ffn_v, kk_d_, F, M, ffn_v_, DType::f32, C);
    linear(cublas_, L.ffn_r, mix_plane(1), C, M, ffn_r_, DType::f32, C);
    RWKV_CUDA_TRY(rwkv_kernels::gate_mul(ffn_r_, ffn_v_, delta_, (size_t)M * C, stream_));
  }

  rwkv_kernels::shift_store_params st;
  st.batch = rb;
  st.att_offset = so.att_x;
  st.ffn_offset = so.ffn_x;
  st.att_cur = a_;
  st.ffn_cur = f_;
  st.C = C;
  RWKV_CUDA_TRY(rwkv_kernels::shift_store(st, stream_));
}

}  // namespace rwkv
