// tests/runtime/model_testdata.h: what testdata's manifests say about each
// model file (read from the JSON files at run time, never hand-typed).
#pragma once

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/core/json.h"
#include "testdata.h"

namespace model_testdata {

inline std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline rwkv::Json read_json(const std::string& rel) {
  return rwkv::parse_json(read_text(testdata_path(rel)), rel);
}

// Manifests write versions as 4.0, "5.2", "v6", "7.0"...; arch_name() style.
inline std::string normalize_version(std::string v) {
  if (!v.empty() && v[0] == 'v') v = v.substr(1);
  double x = std::stod(v);
  if (x >= 5 && x < 6) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%.1f", x);
    return buf;
  }
  return std::to_string(int(x));
}

struct Expected {
  std::string file;  // relative to testdata
  std::string version;
  int n_embd = -1, n_layer = -1, n_vocab = -1, n_head = -1, head_size = -1, n_ffn = -1, n_att = -1;
  std::map<std::string, int> lora;  // golden manifests' "lora" object
  int64_t params = -1;
  std::map<std::string, std::vector<int64_t>> shapes;  // empty if the source has none
  std::map<std::string, std::pair<double, double>> ranges;
};

inline int get_int(const rwkv::Json& o, const char* k) {
  const rwkv::Json* v = rwkv::json_find(o, k);
  return v ? v->get<int>() : -1;
}

inline std::map<std::string, std::vector<int64_t>> read_shapes(const rwkv::Json& o) {
  std::map<std::string, std::vector<int64_t>> out;
  for (const auto& kv : o.items()) out[kv.key()] = kv.value().get<std::vector<int64_t>>();
  return out;
}

// Every .pth model of testdata/models with what the golden manifests (version,
// hparams) and models/*.json (shapes, n_params, ranges) say about it.
inline std::vector<Expected> pth_models() {
  std::map<std::string, Expected> by_file;
  // golden/<dir>/manifest.json: one per (model, strategy); same hparams per model file.
  // index.json also lists runs whose folders are not shipped; skip those.
  rwkv::Json index = read_json("golden/index.json");
  for (const rwkv::Json& run : index) {
    std::string dir = "golden/" + run.at("dir").get<std::string>();
    if (!std::ifstream(testdata_path(dir + "/manifest.json"))) continue;
    rwkv::Json man = read_json(dir + "/manifest.json");
    Expected e;
    e.file = man.at("model_file").get<std::string>();
    e.version = normalize_version(std::to_string(man.at("version").get<double>()));
    const rwkv::Json& hp = man.at("hparams");
    e.n_embd = get_int(hp, "n_embd");
    e.n_layer = get_int(hp, "n_layer");
    e.n_vocab = get_int(hp, "vocab");
    e.n_head = get_int(hp, "n_head");
    e.head_size = get_int(hp, "head_size");
    e.n_ffn = get_int(hp, "n_ffn");
    e.n_att = get_int(hp, "n_att");
    if (const rwkv::Json* l = rwkv::json_find(hp, "lora"))
      for (const auto& kv : l->items()) e.lora[kv.key()] = kv.value().get<int>();
    by_file[e.file] = e;
  }
  rwkv::Json tiny = read_json("models/tiny_models.json");
  for (const auto& kv : tiny.items()) {
    for (const char* key : {"fp32", "bf16"}) {
      std::string file = "models/" + kv.value().at(key).get<std::string>();
      Expected& e = by_file.at(file);
      e.shapes = read_shapes(kv.value().at("shapes"));
      if (normalize_version(kv.value().at("version").get<std::string>()) != e.version)
        throw std::runtime_error("manifests disagree on the version of " + file);
    }
  }
  rwkv::Json synth = read_json("models/synthetic_models.json");
  for (const auto& kv : synth.items()) {
    if (kv.key()[0] == '_') continue;
    std::string file = "models/" + kv.value().at("bf16").get<std::string>();
    Expected& e = by_file.at(file);
    e.shapes = read_shapes(kv.value().at("shapes"));
    e.params = kv.value().at("n_params").get<int64_t>();
    for (const auto& r : kv.value().at("ranges").items())
      e.ranges[r.key()] = {r.value().at(0).get<double>(), r.value().at(1).get<double>()};
  }
  std::vector<Expected> out;
  for (auto& kv : by_file) out.push_back(kv.second);
  return out;
}

}  // namespace model_testdata
