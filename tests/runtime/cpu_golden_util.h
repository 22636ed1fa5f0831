// tests/runtime/cpu_golden_util.h: reading the official golden folders
// (testdata/golden/<name>/manifest.json + raw float32 files) and running a
// backend in every mode the goldens were made with (docs/testdata.md section 2).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/backend/backend.h"
#include "runtime/core/json.h"
#include "testdata.h"

namespace golden {

inline std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw rwkv::Error("cannot open " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline std::vector<float> read_f32(const std::string& path) {
  const std::string bytes = read_text(path);
  if (bytes.size() % 4 != 0) throw rwkv::Error(path + ": size is not a multiple of 4");
  std::vector<float> v(bytes.size() / 4);
  std::copy(bytes.begin(), bytes.end(), reinterpret_cast<char*>(v.data()));
  return v;
}

struct GoldenFile {
  std::string key;           // path inside the folder, e.g. "state_rnn_final/003_blocks.0.att.pp.f32"
  std::vector<int64_t> shape;
  size_t numel() const {
    size_t n = 1;
    for (int64_t d : shape) n *= static_cast<size_t>(d);
    return n;
  }
};

struct GoldenStateEntry {
  size_t index = 0;
  std::string name;
  std::vector<int64_t> shape;
};

struct Folder {
  std::string name;      // folder name
  std::string dir;       // absolute path
  std::string model_file;  // testdata-relative
  std::string strategy;  // "cpu fp32" or "cpu bf16"
  std::vector<int32_t> tokens;
  size_t chunk_split = 0;
  std::vector<GoldenFile> files;
  std::vector<GoldenStateEntry> state;
  double bf16_vs_fp32_rnn = -1;  // vs_cpu_fp32_strategy_golden.logits_rnn_max_abs_diff, if given
  bool bf16_compute() const { return name.find("__cpu-bf16") != std::string::npos; }
};

inline std::vector<int64_t> int_list(const rwkv::Json& v) { return v.get<std::vector<int64_t>>(); }

inline const rwkv::Json& member(const rwkv::Json& obj, const std::string& key, const std::string& where) {
  return rwkv::json_member(obj, key, where);
}

inline Folder read_folder(const std::string& name) {
  Folder f;
  f.name = name;
  f.dir = testdata_path("golden/" + name);
  const std::string mpath = f.dir + "/manifest.json";
  const rwkv::Json m = rwkv::parse_json(read_text(mpath), mpath);
  f.model_file = member(m, "model_file", mpath).get<std::string>();
  f.strategy = member(member(m, "official", mpath), "strategy", mpath).get<std::string>();
  for (int64_t t : int_list(member(m, "tokens", mpath))) f.tokens.push_back(static_cast<int32_t>(t));
  f.chunk_split = member(m, "chunk_split", mpath).get<size_t>();
  for (const auto& kv : member(m, "files", mpath).items())
    f.files.push_back({kv.key(), int_list(member(kv.value(), "shape", mpath))});
  for (const auto& e : member(m, "state", mpath))
    f.state.push_back({member(e, "index", mpath).get<size_t>(), member(e, "name", mpath).get<std::string>(),
                       int_list(member(e, "shape", mpath))});
  if (const auto* vs = rwkv::json_find(m, "vs_cpu_fp32_strategy_golden"))
    if (const auto* d = rwkv::json_find(*vs, "logits_rnn_max_abs_diff")) f.bf16_vs_fp32_rnn = d->get<double>();
  return f;
}

// Every golden folder (those with a manifest.json), sorted by name.
inline std::vector<std::string> list_folders() {
  namespace fs = std::filesystem;
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(testdata_path("golden")))
    if (e.is_directory() && fs::exists(e.path() / "manifest.json"))
      names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// A backend's outputs in every golden mode.
struct Outputs {
  std::vector<float> logits_rnn;      // [T, V], one forward per token
  std::vector<float> logits_seq_full; // [T, V], one forward over all tokens
  std::vector<float> logits_seq_last; // [V]
  std::vector<float> logits_seq_chunked;  // [T, V]: tokens[:split], then the rest from that state
  std::vector<float> state_after_tok0, state_rnn_final;
  std::vector<float> state_seq_final, state_chunked_final;
};

inline void run_seq(rwkv::Backend& be, const int32_t* tok, size_t n, std::vector<float>& state,
                    rwkv::LogitsMode mode, float* logits) {
  rwkv::Batch b;
  b.logits = mode;
  b.seqs.push_back({tok, n, state.data(), state.size()});
  be.forward(b, logits);
}

inline Outputs run_all_modes(rwkv::Backend& be, const std::vector<int32_t>& tokens, size_t split) {
  const size_t V = static_cast<size_t>(be.info().n_vocab), T = tokens.size();
  const size_t S = be.state_layout().size();
  Outputs o;
  std::vector<float> st(S);
  be.init_state(st.data());
  o.logits_rnn.resize(T * V);
  for (size_t t = 0; t < T; ++t) {
    run_seq(be, &tokens[t], 1, st, rwkv::LogitsMode::all, &o.logits_rnn[t * V]);
    if (t == 0) o.state_after_tok0 = st;
  }
  o.state_rnn_final = st;

  be.init_state(st.data());
  o.logits_seq_full.resize(T * V);
  run_seq(be, tokens.data(), T, st, rwkv::LogitsMode::all, o.logits_seq_full.data());
  o.state_seq_final = st;

  be.init_state(st.data());
  o.logits_seq_last.resize(V);
  run_seq(be, tokens.data(), T, st, rwkv::LogitsMode::last, o.logits_seq_last.data());

  be.init_state(st.data());
  o.logits_seq_chunked.resize(T * V);
  run_seq(be, tokens.data(), split, st, rwkv::LogitsMode::all, o.logits_seq_chunked.data());
  run_seq(be, tokens.data() + split, T - split, st, rwkv::LogitsMode::all,
          o.logits_seq_chunked.data() + split * V);
  o.state_chunked_final = st;
  return o;
}

inline double max_abs_diff(const float* a, const float* b, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; ++i) {
    const double d = std::fabs(static_cast<double>(a[i]) - b[i]);
    if (!(d <= m)) m = d;  // NaN propagates as NaN
  }
  return m;
}

// max |a - ref| / max(1, |ref|): relative error, absolute below magnitude 1.
inline double max_rel_diff(const float* a, const float* ref, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; ++i) {
    const double d = std::fabs(static_cast<double>(a[i]) - ref[i]) /
                     std::max(1.0, std::fabs(static_cast<double>(ref[i])));
    if (!(d <= m)) m = d;
  }
  return m;
}

}  // namespace golden
