// bench/cpu_bench.cpp: tokens/s of the CPU reference backend, RNN mode (one
// token per forward) and sequence mode (one forward over T tokens), with one
// thread and with all threads.
//
//   rwkv-cpu-bench [--rnn-tokens N] [--seq-tokens T] [--repeat R] [MODEL ...]
// Without models: the synthetic models of testdata (models/synth-rwkv-*.pth).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "runtime/cpu/cpu_backend.h"
#include "runtime/model/model.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct Result {
  double rnn_tps = 0, seq_tps = 0;
};

Result bench(const rwkv::Model& model, int threads, int rnn_tokens, int seq_tokens, int repeat) {
  rwkv::CpuBackend be(model, rwkv::CpuOptions{threads});
  const size_t V = static_cast<size_t>(be.info().n_vocab), S = be.state_layout().size();
  std::vector<int32_t> toks(static_cast<size_t>(std::max(rnn_tokens, seq_tokens)));
  for (size_t i = 0; i < toks.size(); ++i) toks[i] = static_cast<int32_t>((i * 7919 + 13) % V);
  std::vector<float> state(S), logits(V);
  auto forward = [&](const int32_t* t, size_t n) {
    rwkv::Batch b;
    b.logits = rwkv::LogitsMode::last;
    b.seqs.push_back({t, n, state.data(), S});
    be.forward(b, logits.data());
  };
  Result r;
  double best = 1e30;
  for (int rep = 0; rep < repeat + 1; ++rep) {  // first round warms up
    be.init_state(state.data());
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < rnn_tokens; ++i) forward(&toks[static_cast<size_t>(i)], 1);
    if (rep) best = std::min(best, seconds_since(t0));
  }
  r.rnn_tps = rnn_tokens / best;
  best = 1e30;
  for (int rep = 0; rep < repeat + 1; ++rep) {
    be.init_state(state.data());
    const auto t0 = std::chrono::steady_clock::now();
    forward(toks.data(), static_cast<size_t>(seq_tokens));
    if (rep) best = std::min(best, seconds_since(t0));
  }
  r.seq_tps = seq_tokens / best;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  int rnn_tokens = 64, seq_tokens = 256, repeat = 3;
  std::vector<std::string> models;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto num = [&](int& dst) {
      if (i + 1 >= argc || (dst = std::atoi(argv[++i])) <= 0) {
        std::fprintf(stderr, "cpu_bench: %s needs a positive number\n", a.c_str());
        std::exit(2);
      }
    };
    if (a == "--rnn-tokens") num(rnn_tokens);
    else if (a == "--seq-tokens") num(seq_tokens);
    else if (a == "--repeat") num(repeat);
    else if (a == "-h" || a == "--help") {
      std::printf("usage: rwkv-cpu-bench [--rnn-tokens N] [--seq-tokens T] [--repeat R] [MODEL ...]\n");
      return 0;
    } else models.push_back(a);
  }
  if (models.empty()) {
    const char* env = std::getenv("RWKV_TESTDATA");
    const std::string dir = (env && *env ? std::string(env) : std::string(RWKV_TESTDATA_DEFAULT)) + "/models/";
    for (const char* m : {"synth-rwkv-v4-bf16", "synth-rwkv-v52-bf16", "synth-rwkv-v6-bf16", "synth-rwkv-v7-bf16"})
      models.push_back(dir + m + ".pth");
  }
  const int all = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::printf("rnn: %d tokens one by one; seq: one call of %d tokens; best of %d; all threads = %d\n",
              rnn_tokens, seq_tokens, repeat, all);
  std::printf("%-28s %4s %8s %12s %12s\n", "model", "ver", "threads", "rnn tok/s", "seq tok/s");
  try {
    for (const std::string& path : models) {
      auto model = rwkv::load_model(path);
      std::string name = path.substr(path.find_last_of('/') + 1);
      for (int threads : {1, all}) {
        const Result r = bench(*model, threads, rnn_tokens, seq_tokens, repeat);
        std::printf("%-28s %4s %8d %12.1f %12.1f\n", name.c_str(), rwkv::arch_name(model->info.arch),
                    threads, r.rnn_tps, r.seq_tps);
        if (all == 1) break;
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cpu_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
