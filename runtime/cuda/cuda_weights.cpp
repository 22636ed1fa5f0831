// runtime/cuda/cuda_weights.cpp: uploads a model to the device.
//
// The load-time transforms are the version registry's (runtime/arch/weights.h),
// the same the CPU backend computes with, so both backends start from identical
// numbers; matrices are then rounded once to the chosen dtype (round to nearest
// even).
#include "runtime/cuda/cuda_weights.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <thread>
#include <type_traits>

#include "runtime/arch/weights.h"
#include "runtime/cuda/cuda_check.h"
#include "runtime/core/half_float.h"

namespace rwkv {
namespace cuda {
namespace {

class Uploader {
 public:
  Uploader(CudaWeights& w) : w_(w) {}

  // Matrices stored back to back in one buffer, converted to the weights' dtype.
  DeviceMatrix matrices(std::initializer_list<const Linear*> ms, const char* what) {
    const Linear& first = **ms.begin();
    for (const Linear* m : ms)
      if (m->out != first.out || m->in != first.in || m->q.kind != first.q.kind || m->q.group != first.q.group)
        throw Error(std::string("cannot pack ") + what + ": matrices differ in shape or format");
    if (first.quantized()) return quantized(ms, what);
    const size_t per = (size_t)first.out * first.in;
    const size_t es = dtype_size(w_.dtype);
    std::vector<uint8_t> host(per * ms.size() * es);
    size_t z = 0;
    for (const Linear* m : ms) convert(m->w.data(), per, host.data() + z++ * per * es);
    DeviceMatrix d;
    d.data = upload(host.data(), host.size(), what);
    d.dtype = w_.dtype;
    d.out = first.out;
    d.in = first.in;
    return d;
  }
  DeviceMatrix matrix(const Linear& m, const char* what) { return matrices({&m}, what); }

  DeviceMatrix matrix_rows(const std::vector<float>& data, int out, int in, const char* what) {
    Linear l;
    l.out = out;
    l.in = in;
    l.w.assign(data.begin(), data.end());
    return matrix(l, what);
  }

  // Quantized matrices back to back: the packed values in one buffer, the scales (and offsets)
  // in another, each in the order of `ms`.
  DeviceMatrix quantized(std::initializer_list<const Linear*> ms, const char* what) {
    const QuantMatrix& first = (*ms.begin())->q;
    auto concat = [&](auto member) {
      using Elem = typename std::remove_reference_t<decltype(first.*member)>::value_type;
      std::vector<Elem> all;
      for (const Linear* m : ms) all.insert(all.end(), (m->q.*member).begin(), (m->q.*member).end());
      return all;
    };
    const std::vector<uint8_t> q = concat(&QuantMatrix::q);
    const std::vector<uint16_t> scale = concat(&QuantMatrix::scale), mins = concat(&QuantMatrix::min);
    DeviceMatrix d;
    d.data = upload(q.data(), q.size(), what);
    d.scale = static_cast<const uint16_t*>(upload(scale.data(), scale.size() * 2, what));
    if (!mins.empty()) d.min = static_cast<const uint16_t*>(upload(mins.data(), mins.size() * 2, what));
    d.dtype = w_.dtype;
    d.out = first.out;
    d.in = first.in;
    d.quant = first.kind;
    d.group = first.group;
    if (w_.quant == QuantKind::none) w_.quant = first.kind;
    if (w_.quant != first.kind) throw Error(std::string("cannot upload ") + what + ": two quantized kinds in one model");
    return d;
  }

  float* vec(const std::vector<float>& v, const char* what) {
    if (v.empty()) return nullptr;
    return static_cast<float*>(upload(v.data(), v.size() * sizeof(float), what));
  }

 private:
  // fp32 -> weight dtype, round to nearest even (runtime/core/half_float.h),
  // split over the machine's cores for large matrices.
  void convert(const float* src, size_t n, uint8_t* dst) {
    const DType dt = w_.dtype;
    auto part = [=](size_t b, size_t e) {
      if (dt == DType::f32) {
        std::memcpy(dst + b * 4, src + b, (e - b) * 4);
      } else if (dt == DType::bf16) {
        uint16_t* d = reinterpret_cast<uint16_t*>(dst);
        for (size_t i = b; i < e; ++i) d[i] = f32_to_bf16(src[i]);
      } else {
        uint16_t* d = reinterpret_cast<uint16_t*>(dst);
        for (size_t i = b; i < e; ++i) d[i] = f32_to_f16(src[i]);
      }
    };
    const size_t threads = std::max(1u, std::thread::hardware_concurrency());
    if (n < (size_t(1) << 20) || threads == 1) {
      part(0, n);
      return;
    }
    std::vector<std::thread> pool;
    const size_t per = (n + threads - 1) / threads;
    for (size_t t = 0; t < threads; ++t) {
      const size_t b = t * per, e = std::min(n, b + per);
      if (b < e) pool.emplace_back(part, b, e);
    }
    for (auto& th : pool) th.join();
  }

  void* upload(const void* host, size_t bytes, const char* what) {
    w_.buffers.emplace_back(bytes, what);
    RWKV_CUDA_TRY(cudaMemcpy(w_.buffers.back().get(), host, bytes, cudaMemcpyHostToDevice));
    w_.bytes += bytes;
    return w_.buffers.back().get();
  }

  CudaWeights& w_;
};

std::string mib(size_t b) { return std::to_string((b + (1 << 20) - 1) >> 20) + " MiB"; }

}  // namespace

size_t weight_bytes(const Model& model, DType dtype, WeightFormat format) {
  // Every matrix (2-D or more) in dtype, every vector in fp32; with a quantized format every
  // matrix but the embedding (and the head under int8) in its packed bytes and scales
  // (runtime/quant/quant_format.h), the product's input width being a Linear's last
  // dimension (*.weight) or a LoRA's next to last.
  size_t bytes = 0;
  for (const auto& kv : model.tensors()) {
    const Tensor& t = kv.second;
    int dims = 0;
    for (int64_t d : t.shape) dims += d > 1;
    if (dims < 2) {
      bytes += (size_t)t.numel() * sizeof(float);
      continue;
    }
    const bool embedding = kv.first == "emb.weight";
    if (!embedding && t.quantized() && (format.keeps(t.quant.kind))) {
      bytes += t.quant.bytes();
      continue;
    }
    const bool dense_head = kv.first == "head.weight" && !format.head_quantized();
    if (embedding || dense_head || format.quantize == QuantKind::none) {
      bytes += (size_t)t.numel() * dtype_size(dtype);
      continue;
    }
    const bool linear = kv.first.size() > 7 && kv.first.compare(kv.first.size() - 7, 7, ".weight") == 0;
    const int in = (int)t.shape[t.shape.size() - (linear ? 1 : 2)];
    const int group = default_quant_group(format.quantize, in);
    bytes += group > 0 ? quant_matrix_bytes(format.quantize, (int)(t.numel() / in), in, group)
                       : (size_t)t.numel() * dtype_size(dtype);
  }
  return bytes;
}

namespace {

// The token-shift mixes and decay of versions 4 and 5.x.
void upload_v4_v5_mix(Uploader& up, const LayerWeights& L, CudaLayer& d) {
  d.mix[0] = up.vec(L.mix_k, "att.time_mix_k");
  d.mix[1] = up.vec(L.mix_v, "att.time_mix_v");
  d.mix[2] = up.vec(L.mix_r, "att.time_mix_r");
  d.mix[3] = up.vec(L.mix_g, "att.time_mix_g");
  d.decay = up.vec(L.decay, "att.time_decay");
}

// Version 6: the data-dependent mixes (maa) and the data-dependent decay's LoRA.
void upload_v6_mix(Uploader& up, const LayerWeights& L, CudaLayer& d) {
  d.mix[0] = up.vec(L.maa_x, "att.time_maa_x");
  d.mix[1] = up.vec(L.maa_w, "att.time_maa_w");
  d.mix[2] = up.vec(L.maa_k, "att.time_maa_k");
  d.mix[3] = up.vec(L.maa_v, "att.time_maa_v");
  d.mix[4] = up.vec(L.maa_r, "att.time_maa_r");
  d.mix[5] = up.vec(L.maa_g, "att.time_maa_g");
  d.maa_w1 = up.matrix(L.maa_w1, "att.time_maa_w1");
  d.maa_w2 = up.matrices({&L.maa_w2[0], &L.maa_w2[1], &L.maa_w2[2], &L.maa_w2[3], &L.maa_w2[4]},
                         "att.time_maa_w2");
  d.decay = up.vec(L.decay_base, "att.time_decay");
  d.decay_w1 = up.matrix(L.decay_w1, "att.time_decay_w1");
  d.decay_w2 = up.matrix(L.decay_w2, "att.time_decay_w2");
}

// Version 7: the mixes, the decay / in-context rate / gate LoRAs and the value residual.
void upload_v7_mix(Uploader& up, const LayerWeights& L, CudaLayer& d) {
  d.mix[0] = up.vec(L.x_k, "att.x_k");
  d.mix[1] = up.vec(L.x_v, "att.x_v");
  d.mix[2] = up.vec(L.x_r, "att.x_r");
  d.mix[3] = up.vec(L.x_w, "att.x_w");
  d.mix[4] = up.vec(L.x_a, "att.x_a");
  d.mix[5] = up.vec(L.x_g, "att.x_g");
  d.w0 = up.vec(L.w0, "att.w0");
  d.a0 = up.vec(L.a0, "att.a0");
  d.k_k = up.vec(L.k_k, "att.k_k");
  d.k_a = up.vec(L.k_a, "att.k_a");
  d.r_k = up.vec(L.r_k, "att.r_k");
  d.w1 = up.matrix(L.w1, "att.w1");
  d.w2 = up.matrix(L.w2, "att.w2");
  d.a1 = up.matrix(L.a1, "att.a1");
  d.a2 = up.matrix(L.a2, "att.a2");
  d.g1 = up.matrix(L.g1, "att.g1");
  d.g2 = up.matrix(L.g2, "att.g2");
  d.has_v_mix = L.has_v_mix;
  if (L.has_v_mix) {
    d.v0 = up.vec(L.v0, "att.v0");
    d.v1 = up.matrix(L.v1, "att.v1");
    d.v2 = up.matrix(L.v2, "att.v2");
  }
}

// One layer, in the upload order: norms, output, FFN, bonus, the packed key/value/
// receptance(/gate) matrices, the version's mixes, then the FFN's mixes and receptance.
CudaLayer upload_layer(Uploader& up, Arch arch, const LayerWeights& L) {
  CudaLayer d;
  d.ln1_w = up.vec(L.ln1_w, "ln1.weight");
  d.ln1_b = up.vec(L.ln1_b, "ln1.bias");
  d.ln2_w = up.vec(L.ln2_w, "ln2.weight");
  d.ln2_b = up.vec(L.ln2_b, "ln2.bias");
  d.att_o = up.matrix(L.att_o, "att.output.weight");
  d.ln_x_w = up.vec(L.ln_x_w, "att.ln_x.weight");
  d.ln_x_b = up.vec(L.ln_x_b, "att.ln_x.bias");
  d.ffn_k = up.matrix(L.ffn_k, "ffn.key.weight");
  d.ffn_v = up.matrix(L.ffn_v, "ffn.value.weight");
  d.bonus = up.vec(L.bonus, "att.time_first");

  const bool gated = L.att_g.out > 0;
  if (gated) {
    d.att_kvrg = up.matrices({&L.att_k, &L.att_v, &L.att_r, &L.att_g}, "att.key/value/receptance/gate");
    d.n_kvrg = 4;
  } else {
    d.att_kvrg = up.matrices({&L.att_k, &L.att_v, &L.att_r}, "att.key/value/receptance");
    d.n_kvrg = 3;
  }

  switch (arch) {
    case Arch::v4:
    case Arch::v5_0:
    case Arch::v5_1:
    case Arch::v5_2:
      upload_v4_v5_mix(up, L, d);
      break;
    case Arch::v6:
      upload_v6_mix(up, L, d);
      break;
    case Arch::v7:
      upload_v7_mix(up, L, d);
      break;
  }
  d.ffn_mix[0] = up.vec(L.ffn_mix_k, "ffn.mix_k");
  d.ffn_mix[1] = up.vec(L.ffn_mix_r, "ffn.mix_r");
  if (L.ffn_r.out > 0) d.ffn_r = up.matrix(L.ffn_r, "ffn.receptance.weight");
  return d;
}

}  // namespace

CudaWeights upload_weights(const Model& model, DType dtype, WeightFormat format) {
  const size_t need = weight_bytes(model, dtype, format);
  const auto mem = device_memory_info();
  if (need > mem.first)
    throw Error("model " + model.info.path + " does not fit on the GPU: its " + dtype_name(dtype) +
                " weights need " + mib(need) + ", " + mib(mem.first) + " free of " + mib(mem.second));

  // One layer's fp32 copy at a time: host memory stays at about one layer
  // plus the embedding and head, whatever the model's size.
  const ModelWeights cw = load_weight_globals(model, format);
  CudaWeights w;
  w.dtype = dtype;
  Uploader up(w);
  w.emb = up.matrix_rows(cw.emb, cw.V, cw.C, "emb.weight");
  w.head = up.matrix(cw.head, "head.weight");
  w.ln_out_w = up.vec(cw.ln_out_w, "ln_out.weight");
  w.ln_out_b = up.vec(cw.ln_out_b, "ln_out.bias");

  for (int l = 0; l < cw.L; ++l) {
    const LayerWeights L = load_weight_layer(model, cw, l, format);
    w.layers.push_back(upload_layer(up, cw.arch, L));
  }
  return w;
}

}  // namespace cuda
}  // namespace rwkv
