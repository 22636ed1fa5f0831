// Tests that kernels/embedding.cu gathers embedding rows exactly (fp16/bf16 -> fp32 is exact) and
// that ids outside [0, V) read nothing, give NaN rows and raise the error flag.
#include <catch2/catch.hpp>

#include <climits>
#include <cmath>
#include <cstring>
#include <vector>

#include "gpu_test_util.h"
#include "kernels/embedding.cuh"

using gpu_test::DeviceBuffer;
using rwkv::DType;

namespace {

// Gathers `ids` from a random [V, C] table; returns the fp32 output and the error flag.
std::vector<float> gather(const std::vector<int32_t>& ids, int V, int C, DType t, uint32_t seed,
                          std::vector<float>* table, int* flag) {
  std::mt19937 rng(seed);
  *table = gpu_test::random_floats(rng, (size_t)V * C, -1.0f, 1.0f, t);
  const int n = (int)ids.size();
  DeviceBuffer dids(ids.size() * 4), demb((size_t)V * C * rwkv::dtype_size(t)), dout((size_t)n * C * 4),
      dflag(4);
  std::vector<uint8_t> id_bytes(ids.size() * 4);
  std::memcpy(id_bytes.data(), ids.data(), id_bytes.size());
  dids.upload(id_bytes);
  demb.upload(gpu_test::encode(t, *table));
  REQUIRE(cudaMemset(dflag.get(), 0, 4) == cudaSuccess);

  rwkv_kernels::embedding_params p;
  p.ids = dids.as<int32_t>();
  p.emb = demb.get();
  p.emb_dtype = t;
  p.out = dout.as<float>();
  p.error_flag = dflag.as<int>();
  p.n = n;
  p.V = V;
  p.C = C;
  REQUIRE(rwkv_kernels::embedding_gather(p, nullptr) == cudaSuccess);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  REQUIRE(cudaMemcpy(flag, dflag.get(), 4, cudaMemcpyDeviceToHost) == cudaSuccess);
  CHECK(dout.guard_intact());
  CHECK(demb.guard_intact());
  return gpu_test::decode(DType::f32, dout.download());
}

}  // namespace

TEST_CASE("embedding_gather: rows are copied exactly for every table dtype", "[gpu][kernels][embedding]") {
  uint32_t seed = 6100;
  const int V = 50;
  for (DType t : {DType::f32, DType::f16, DType::bf16})
    for (int C : {200, 768, 1000, 77, 1}) {
      CAPTURE(seed, rwkv::dtype_name(t), C);
      const std::vector<int32_t> ids = {3, 0, 49, 3, 17, 8, 49};  // repeats and both ends
      std::vector<float> table;
      int flag = -1;
      const std::vector<float> out = gather(ids, V, C, t, seed++, &table, &flag);
      CHECK(flag == 0);
      size_t bad = 0;
      for (size_t i = 0; i < ids.size(); ++i)
        for (int c = 0; c < C; ++c)
          if (!(out[i * C + c] == table[(size_t)ids[i] * C + c])) ++bad;
      CHECK(bad == 0);
    }
}

TEST_CASE("embedding_gather: ids below 0 or not below V give NaN rows and set the flag", "[gpu][kernels][embedding]") {
  uint32_t seed = 6300;
  const int V = 50;
  for (DType t : {DType::f32, DType::bf16})
    for (int C : {768, 77}) {
      CAPTURE(seed, rwkv::dtype_name(t), C);
      const std::vector<int32_t> ids = {5, -1, 50, INT_MAX, INT_MIN, 49};
      std::vector<float> table;
      int flag = 0;
      const std::vector<float> out = gather(ids, V, C, t, seed++, &table, &flag);
      CHECK(flag == 1);
      size_t bad = 0;
      for (size_t i = 0; i < ids.size(); ++i) {
        const bool valid = ids[i] >= 0 && ids[i] < V;
        for (int c = 0; c < C; ++c) {
          const float v = out[i * C + c];
          if (valid ? !(v == table[(size_t)ids[i] * C + c]) : !std::isnan(v)) ++bad;
        }
      }
      CHECK(bad == 0);
    }
}

TEST_CASE("embedding_gather: rejects bad parameters", "[gpu][kernels][embedding]") {
  DeviceBuffer dids(4 * 4), demb(10 * 8 * 4), dout(4 * 8 * 4), dflag(4);
  rwkv_kernels::embedding_params p;
  p.ids = dids.as<int32_t>();
  p.emb = demb.get();
  p.out = dout.as<float>();
  p.error_flag = dflag.as<int>();
  p.n = 4;
  p.V = 10;
  p.C = 8;
  REQUIRE(cudaMemset(dids.get(), 0, 16) == cudaSuccess);
  CHECK(rwkv_kernels::embedding_gather(p, nullptr) == cudaSuccess);
  rwkv_kernels::embedding_params q = p;
  q.V = 0;
  CHECK(rwkv_kernels::embedding_gather(q, nullptr) == cudaErrorInvalidValue);
  q = p;
  q.error_flag = nullptr;
  CHECK(rwkv_kernels::embedding_gather(q, nullptr) == cudaErrorInvalidValue);
  q = p;
  q.out = demb.as<float>() + 8;  // overlaps the table
  CHECK(rwkv_kernels::embedding_gather(q, nullptr) == cudaErrorInvalidValue);
  q = p;
  q.n = 0;
  CHECK(rwkv_kernels::embedding_gather(q, nullptr) == cudaSuccess);
}
