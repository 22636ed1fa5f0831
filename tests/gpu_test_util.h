// tests/gpu_test_util.h: helpers for tests that run device code (emu and cuda builds).
//
// Host code only (cuda_runtime.h, cuda_fp16.h, cuda_bf16.h); nothing here depends on the emulator.
//   DeviceBuffer       cudaMalloc'd bytes followed by guard bytes that must stay untouched
//   encode / decode    float vectors <-> raw fp32/fp16/bf16 bytes (round to nearest even)
//   round_to           what one rounding to a dtype does to a float
//   rounding_slack     half the spacing of a dtype at a magnitude: the "one rounding" tolerance
//   random_floats      reproducible inputs from a fixed seed
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/model/model.h"

namespace gpu_test {

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

}  // namespace gpu_test
