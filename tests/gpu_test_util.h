// tests/gpu_test_util.h: helpers for tests that run device code (emu and cuda builds).
//
// Host code only (cuda_runtime.h, cuda_fp16.h, cuda_bf16.h); nothing here depends on the emulator.
//   DeviceBuffer       cudaMalloc'd bytes followed by guard bytes that must stay untouched
//   encode / decode    float vectors <-> raw fp32/fp16/bf16 bytes (round to nearest even)
//   round_to           what one rounding to a dtype does to a float
//   rounding_slack     half the spacing of a dtype at a magnitude: the "one rounding" tolerance
//   random_floats      reproducible inputs from a fixed seed
//   to_device / from_device  float vectors to and from DeviceBuffers
//   RaggedBatch        several sequences of different lengths with their states, as kernels see them
//                      (kernels/common/ragged_batch.cuh)
//   no_device_reason   why no CUDA device is usable (empty when one is); tests tagged [gpu] are
//                      skipped with it (tests/kernels/gpu_skip.cpp, exit code kSkipExitCode)
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/common/ragged_batch.cuh"
#include "runtime/model/model.h"

namespace gpu_test {

// Exit code of a test process skipped for want of a device; tests/CMakeLists.txt gives it to
// CTest as SKIP_RETURN_CODE for the tests tagged [gpu].
constexpr int kSkipExitCode = 77;

// Empty when device 0 is usable (the emulator always is); otherwise one line saying why not.
inline std::string no_device_reason() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error for whoever asks next
    return std::string("no usable CUDA device (cudaGetDeviceCount: ") + cudaGetErrorString(e) + ")";
  }
  if (n == 0) return "no CUDA device (cudaGetDeviceCount: 0 devices)";
  return "";
}

inline void cuda_ok(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}

constexpr uint8_t kGuardByte = 0xA5;
constexpr size_t kGuardBytes = 64;

// Device allocation of `bytes` usable bytes plus kGuardBytes guard bytes after them. The usable
// part starts filled with 0xFF bytes (NaN in fp32, fp16 and bf16), the guard with kGuardByte.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes) : bytes_(bytes) {
    cuda_ok(cudaMalloc(&ptr_, bytes + kGuardBytes), "cudaMalloc");
    cuda_ok(cudaMemset(ptr_, 0xFF, bytes), "cudaMemset");
    cuda_ok(cudaMemset(static_cast<char*>(ptr_) + bytes, kGuardByte, kGuardBytes), "cudaMemset guard");
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(o.ptr_), bytes_(o.bytes_) { o.ptr_ = nullptr; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      if (ptr_) cudaFree(ptr_);
      ptr_ = o.ptr_;
      bytes_ = o.bytes_;
      o.ptr_ = nullptr;
    }
    return *this;
  }
  ~DeviceBuffer() {
    if (ptr_) cudaFree(ptr_);
  }

  void* get() const { return ptr_; }
  template <class T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  size_t bytes() const { return bytes_; }

  void upload(const std::vector<uint8_t>& host) {
    if (host.size() > bytes_) throw std::runtime_error("DeviceBuffer::upload: too many bytes");
    cuda_ok(cudaMemcpy(ptr_, host.data(), host.size(), cudaMemcpyHostToDevice), "cudaMemcpy H2D");
  }
  std::vector<uint8_t> download() const {
    std::vector<uint8_t> host(bytes_);
    cuda_ok(cudaMemcpy(host.data(), ptr_, bytes_, cudaMemcpyDeviceToHost), "cudaMemcpy D2H");
    return host;
  }
  // True when every guard byte still holds kGuardByte.
  bool guard_intact() const {
    std::vector<uint8_t> g(kGuardBytes);
    cuda_ok(cudaMemcpy(g.data(), static_cast<char*>(ptr_) + bytes_, kGuardBytes, cudaMemcpyDeviceToHost),
            "cudaMemcpy guard");
    for (uint8_t b : g)
      if (b != kGuardByte) return false;
    return true;
  }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

inline float round_to(rwkv::DType t, float v) {
  switch (t) {
    case rwkv::DType::f16: return __half2float(__float2half_rn(v));
    case rwkv::DType::bf16: return __bfloat162float(__float2bfloat16_rn(v));
    default: return v;
  }
}

inline std::vector<uint8_t> encode(rwkv::DType t, const std::vector<float>& v) {
  std::vector<uint8_t> out(v.size() * rwkv::dtype_size(t));
  for (size_t i = 0; i < v.size(); ++i) {
    if (t == rwkv::DType::f16) {
      const __half h = __float2half_rn(v[i]);
      std::memcpy(&out[i * 2], &h, 2);
    } else if (t == rwkv::DType::bf16) {
      const __nv_bfloat16 h = __float2bfloat16_rn(v[i]);
      std::memcpy(&out[i * 2], &h, 2);
    } else {
      std::memcpy(&out[i * 4], &v[i], 4);
    }
  }
  return out;
}

inline std::vector<float> decode(rwkv::DType t, const std::vector<uint8_t>& bytes) {
  const size_t es = rwkv::dtype_size(t);
  std::vector<float> out(bytes.size() / es);
  for (size_t i = 0; i < out.size(); ++i) {
    if (t == rwkv::DType::f16) {
      __half h;
      std::memcpy(&h, &bytes[i * 2], 2);
      out[i] = __half2float(h);
    } else if (t == rwkv::DType::bf16) {
      __nv_bfloat16 h;
      std::memcpy(&h, &bytes[i * 2], 2);
      out[i] = __bfloat162float(h);
    } else {
      std::memcpy(&out[i], &bytes[i * 4], 4);
    }
  }
  return out;
}

// A device copy of v in dtype t (f32: the exact floats).
inline DeviceBuffer to_device(const std::vector<float>& v, rwkv::DType t = rwkv::DType::f32) {
  DeviceBuffer b(std::max<size_t>(1, v.size()) * rwkv::dtype_size(t));
  b.upload(encode(t, v));
  return b;
}

// The contents of b as floats, b holding dtype t.
inline std::vector<float> from_device(const DeviceBuffer& b, rwkv::DType t = rwkv::DType::f32) {
  return decode(t, b.download());
}

// Half the spacing between neighbouring values of dtype t at magnitude `mag` (the largest error
// of one round-to-nearest); 0 for fp32, whose rounding the fp32 tolerance already covers.
inline double rounding_slack(rwkv::DType t, double mag) {
  if (t == rwkv::DType::f32) return 0.0;
  const int mant = t == rwkv::DType::f16 ? 10 : 7;         // stored mantissa bits
  const int emin = t == rwkv::DType::f16 ? -14 : -126;     // smallest normal exponent
  int e = mag > 0 ? (int)std::floor(std::log2(mag)) : emin;
  if (e < emin) e = emin;
  return std::ldexp(1.0, e - mant) / 2.0;
}

// Result of comparing device output with a double reference.
struct Comparison {
  size_t bad = 0;          // elements outside tolerance (a NaN/inf output always counts)
  size_t nonfinite = 0;    // NaN or inf outputs
  double worst = 0.0;      // largest |got - ref| / tolerance
  std::string first;       // the first few bad elements, for the failure message
};

// Element i passes when |got - ref| <= tol, tol = abs_tol + rel_tol*|ref|, plus one rounding to
// dtype t (rounding_slack) for 16-bit outputs: the result of an fp32 computation within
// abs_tol + rel_tol*|ref|, rounded once.
inline Comparison compare(const std::vector<float>& got, const std::vector<double>& ref, rwkv::DType t,
                          double abs_tol, double rel_tol) {
  Comparison c;
  for (size_t i = 0; i < got.size() && i < ref.size(); ++i) {
    double tol = abs_tol + rel_tol * std::fabs(ref[i]);
    tol += rounding_slack(t, std::fabs(ref[i]) + tol);
    const double err = std::fabs((double)got[i] - ref[i]);
    const bool finite = std::isfinite(got[i]);
    if (!finite) ++c.nonfinite;
    if (finite && err / tol > c.worst) c.worst = err / tol;
    if (!finite || !(err <= tol)) {
      if (++c.bad <= 5)
        c.first += "[" + std::to_string(i) + "] got " + std::to_string(got[i]) + " want " + std::to_string(ref[i]) +
                   " tol " + std::to_string(tol) + "; ";
    }
  }
  if (got.size() != ref.size()) {
    ++c.bad;
    c.first += "size mismatch; ";
  }
  return c;
}

// n values uniform in [lo, hi), already rounded to dtype t (so the reference sees what the
// device sees).
inline std::vector<float> random_floats(std::mt19937& rng, size_t n, float lo, float hi,
                                        rwkv::DType t = rwkv::DType::f32) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = round_to(t, dist(rng));
  return v;
}

// A ragged batch in device memory: sequence s owns rows begin(s) .. begin(s+1)-1 and a state of
// state_floats floats. The states sit in shuffled slots of one pool, so their addresses are not in
// sequence order. Fill the host states (state(s)), then upload(); after the kernels, download().
class RaggedBatch {
 public:
  RaggedBatch(const std::vector<int>& lens, size_t state_floats, std::mt19937& rng) {
    start_.push_back(0);
    std::vector<int> row_seq;
    for (size_t s = 0; s < lens.size(); ++s) {
      start_.push_back(start_.back() + lens[s]);
      for (int t = 0; t < lens[s]; ++t) row_seq.push_back((int)s);
    }
    std::vector<size_t> slot(lens.size());
    std::iota(slot.begin(), slot.end(), 0);
    std::shuffle(slot.begin(), slot.end(), rng);
    for (size_t s = 0; s < lens.size(); ++s) state_at_.push_back(slot[s] * state_floats);
    pool_.assign(lens.size() * state_floats, 0.0f);

    d_start_ = DeviceBuffer(start_.size() * sizeof(int));
    d_start_.upload(raw(start_));
    d_row_seq_ = DeviceBuffer(std::max<size_t>(1, row_seq.size()) * sizeof(int));
    d_row_seq_.upload(raw(row_seq));
    d_pool_ = DeviceBuffer(std::max<size_t>(1, pool_.size()) * sizeof(float));
    std::vector<float*> ptrs;
    for (size_t at : state_at_) ptrs.push_back(d_pool_.as<float>() + at);
    d_states_ = DeviceBuffer(std::max<size_t>(1, ptrs.size()) * sizeof(float*));
    d_states_.upload(raw(ptrs));
    rb_.seq_start = d_start_.as<int>();
    rb_.row_seq = d_row_seq_.as<int>();
    rb_.state = d_states_.as<float* const>();
    rb_.n_seq = (int)lens.size();
    rb_.n_rows = start_.back();
  }

  int n_seq() const { return rb_.n_seq; }
  int n_rows() const { return rb_.n_rows; }
  int begin(int s) const { return start_[(size_t)s]; }
  // Host copy of sequence s's state (what upload() sends, what download() fills).
  float* state(int s) { return pool_.data() + state_at_[(size_t)s]; }
  const rwkv_kernels::ragged_batch& batch() const { return rb_; }
  // Every sequence's host state, in sequence order (`state_floats` each).
  std::vector<float> states_in_order(size_t state_floats) {
    std::vector<float> out;
    for (int s = 0; s < n_seq(); ++s) out.insert(out.end(), state(s), state(s) + state_floats);
    return out;
  }

  void upload() { d_pool_.upload(encode(rwkv::DType::f32, pool_)); }
  void download() {
    const std::vector<float> all = decode(rwkv::DType::f32, d_pool_.download());
    std::copy(all.begin(), all.begin() + (std::ptrdiff_t)pool_.size(), pool_.begin());
  }
  bool guards_intact() const { return d_pool_.guard_intact(); }

 private:
  template <class T>
  static std::vector<uint8_t> raw(const std::vector<T>& v) {
    std::vector<uint8_t> b(v.size() * sizeof(T));
    if (!b.empty()) std::memcpy(b.data(), v.data(), b.size());
    return b;
  }

  std::vector<int> start_;
  std::vector<size_t> state_at_;
  std::vector<float> pool_;
  DeviceBuffer d_start_, d_row_seq_, d_pool_, d_states_;
  rwkv_kernels::ragged_batch rb_;
};

}  // namespace gpu_test
