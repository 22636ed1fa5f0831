// tests/kernels/bf16_state_util.h: a WKV kernel state whose att.kv block is held in bf16 (the
// CUDA backend's --state-dtype bf16, runtime/cuda/device_state.h), for the kernel tests: packing an
// fp32 state into that layout and back, and checking a bf16 result against an fp32 reference.
//
// A state of `floats` fp32 values with its kv block of `numel` values at `kv_offset` becomes
// kv_offset floats, then numel bf16 values in numel/2 floats of room, then the rest unchanged.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gpu_test_util.h"
#include "runtime/core/half_float.h"

namespace bf16_state {

inline size_t packed_floats(size_t floats, size_t numel) { return floats - numel + numel / 2; }

// fp32 state -> packed state (kv rounded to nearest even).
inline std::vector<float> pack(const float* state, size_t floats, size_t kv_offset, size_t numel) {
  std::vector<float> out(packed_floats(floats, numel));
  std::memcpy(out.data(), state, kv_offset * sizeof(float));
  char* kv = reinterpret_cast<char*>(out.data() + kv_offset);
  for (size_t e = 0; e < numel; ++e) {
    const uint16_t h = rwkv::f32_to_bf16(state[kv_offset + e]);
    std::memcpy(kv + 2 * e, &h, 2);
  }
  std::memcpy(out.data() + kv_offset + numel / 2, state + kv_offset + numel,
              (floats - kv_offset - numel) * sizeof(float));
  return out;
}

// Packed state -> fp32 state (kv widened exactly).
inline std::vector<float> unpack(const float* packed, size_t floats, size_t kv_offset, size_t numel) {
  std::vector<float> out(floats);
  std::memcpy(out.data(), packed, kv_offset * sizeof(float));
  const char* kv = reinterpret_cast<const char*>(packed + kv_offset);
  for (size_t e = 0; e < numel; ++e) {
    uint16_t h;
    std::memcpy(&h, kv + 2 * e, 2);
    out[kv_offset + e] = rwkv::bf16_to_f32(h);
  }
  std::memcpy(out.data() + kv_offset + numel, packed + kv_offset + numel / 2,
              (floats - kv_offset - numel) * sizeof(float));
  return out;
}

// Rounds the kv block of an fp32 state to bf16 values in place.
inline void round_kv(float* state, size_t kv_offset, size_t numel) {
  for (size_t e = 0; e < numel; ++e) state[kv_offset + e] = rwkv::round_to_bf16(state[kv_offset + e]);
}

// Random initial states (values in [-1, 1]) for every sequence of a kernel test: `device` gets
// them packed (kv in bf16), `ref` the same values with kv rounded to bf16, widened back to fp32
// (what the device holds); returns those fp32 states, one per sequence.
inline std::vector<std::vector<float>> fill_states(gpu_test::RaggedBatch& device, gpu_test::RaggedBatch& ref,
                                                   std::mt19937& rng, size_t floats, size_t kv_offset,
                                                   size_t numel) {
  std::vector<std::vector<float>> init((size_t)device.n_seq());
  for (int s = 0; s < device.n_seq(); ++s) {
    std::vector<float>& st = init[(size_t)s];
    st = gpu_test::random_floats(rng, floats, -1.0f, 1.0f);
    round_kv(st.data(), kv_offset, numel);
    std::copy(st.begin(), st.end(), ref.state(s));
    const std::vector<float> packed = pack(st.data(), floats, kv_offset, numel);
    std::copy(packed.begin(), packed.end(), device.state(s));
  }
  return init;
}

struct Check {
  size_t bad = 0;      // values that are not the fp32 reference rounded to nearest even
  size_t checked = 0;  // values whose rounding the fp32 tolerance cannot flip (compared exactly)
  std::string first;
};

// got: bf16 values (widened) the kernel stored; want: the fp32 reference before rounding, within
// tol = abs_tol + rel_tol*|want| of the kernel's fp32 value. Where want - tol and want + tol round
// to the same bf16 value the kernel must have stored exactly that value (round to nearest even,
// not truncation); elsewhere it must lie between those two roundings.
inline Check check_rounded(const std::vector<float>& got, const std::vector<float>& want, double abs_tol,
                           double rel_tol) {
  Check c;
  for (size_t i = 0; i < got.size() && i < want.size(); ++i) {
    const double tol = abs_tol + rel_tol * std::fabs(want[i]);
    const float lo = rwkv::round_to_bf16(float(want[i] - tol)), hi = rwkv::round_to_bf16(float(want[i] + tol));
    const bool ok = lo == hi ? got[i] == lo : got[i] >= lo && got[i] <= hi;
    c.checked += lo == hi;
    if (!ok && ++c.bad <= 5)
      c.first += "[" + std::to_string(i) + "] got " + std::to_string(got[i]) + " want " + std::to_string(want[i]) +
                 "; ";
  }
  if (got.size() != want.size()) {
    ++c.bad;
    c.first += "size mismatch; ";
  }
  return c;
}

// One sequence's packed state as a WKV kernel left it, against `ref`, the fp32 reference's state
// run from `init`: everything outside the kv block unchanged from init (bit for bit), the kv block
// the reference rounded to nearest even (check_rounded, fp32 tolerance 1e-5 absolute and relative).
struct SequenceCheck {
  bool rest_unchanged = false;
  Check kv;
};

inline SequenceCheck check_sequence(const float* packed, const std::vector<float>& init, const float* ref,
                                    size_t floats, size_t kv_offset, size_t numel) {
  const std::vector<float> got = unpack(packed, floats, kv_offset, numel);
  SequenceCheck r;
  const size_t tail = kv_offset + numel;
  r.rest_unchanged = std::memcmp(got.data(), init.data(), kv_offset * sizeof(float)) == 0 &&
                     std::memcmp(got.data() + tail, init.data() + tail, (floats - tail) * sizeof(float)) == 0;
  r.kv = check_rounded(std::vector<float>(got.begin() + long(kv_offset), got.begin() + long(tail)),
                       std::vector<float>(ref + kv_offset, ref + tail), 1e-5, 1e-5);
  return r;
}

}  // namespace bf16_state
