// tools/rwkv-run/cmd_info.cpp: `rwkv-run info -m MODEL [--json [FILE]] [--tensors]` (or
// --synthetic NAME), what a model holds: format, RWKV version, hyper-parameters, parameter
// count, each tensor's real type ("bf16", "int8 g64", "q4 g32") and stored bytes, and the
// bytes a backend holds for the weights in fp32, bf16, int8 and q4
// (runtime/quant/weight_bytes.h).
#include <cstdio>
#include <map>
#include <string>

#include "bench/synthetic_models.h"
#include "cli_args.h"
#include "cli_output_path.h"
#include "commands.h"
#include "runtime/arch/arch.h"
#include "runtime/core/json.h"
#include "runtime/model/model.h"
#include "runtime/model/synth.h"
#include "runtime/quant/weight_bytes.h"

namespace {

// What info shows, from a model file or from a synthetic spec's shapes.
struct InfoData {
  rwkv::ModelInfo info;
  size_t n_tensors = 0;
  std::vector<rwkv::WeightTensor> tensors;
  std::map<std::string, int> type_count;         // real type -> tensors
  std::map<std::string, uint64_t> type_bytes;    // real type -> stored bytes
  std::map<std::string, uint64_t> backend_bytes;  // "fp32", "bf16", "int8", "q4" -> bytes
};

std::string type_name(const rwkv::WeightTensor& t) {
  if (t.quant != rwkv::QuantKind::none) return std::string(rwkv::quant_kind_name(t.quant)) + " g" + std::to_string(t.group);
  return rwkv::dtype_name(t.dtype);
}

InfoData collect(const rwkv::ModelInfo& info, std::vector<rwkv::WeightTensor> tensors) {
  InfoData d;
  d.info = info;
  d.n_tensors = tensors.size();
  d.tensors = std::move(tensors);
  for (const auto& t : d.tensors) {
    d.type_count[type_name(t)]++;
    d.type_bytes[type_name(t)] += t.stored_bytes;
  }
  // Dense runs in that dtype; int8/q4 with the matrices quantized and the embedding in bf16.
  d.backend_bytes["fp32"] = rwkv::backend_weight_bytes(info, d.tensors, rwkv::DType::f32);
  d.backend_bytes["bf16"] = rwkv::backend_weight_bytes(info, d.tensors, rwkv::DType::bf16);
  d.backend_bytes["int8"] = rwkv::backend_weight_bytes(info, d.tensors, rwkv::DType::bf16, rwkv::QuantKind::int8);
  d.backend_bytes["q4"] = rwkv::backend_weight_bytes(info, d.tensors, rwkv::DType::bf16, rwkv::QuantKind::q4);
  return d;
}

std::string shape_text(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
  return out + "]";
}

// The --json document: what the text output shows, as numbers and strings.
rwkv::Json info_json(const InfoData& d, bool list) {
  const rwkv::ModelInfo& in = d.info;
  rwkv::Json j = {{"path", in.path},       {"format", in.format},   {"file_bytes", in.file_bytes},
                  {"version", rwkv::arch_name(in.arch)},           {"n_embd", in.n_embd},
                  {"n_layer", in.n_layer}, {"n_vocab", in.n_vocab}, {"n_head", in.n_head},
                  {"head_size", in.head_size}, {"n_att", in.n_att}, {"n_ffn", in.n_ffn},
                  {"params", in.params},   {"tensors", d.n_tensors}};
  j["warnings"] = rwkv::Json::array();
  for (const std::string& w : in.warnings) j["warnings"].push_back(w);
  j["dtypes"] = rwkv::Json::object();
  for (const auto& kv : d.type_count) j["dtypes"][kv.first] = kv.second;
  j["dtype_bytes"] = rwkv::Json::object();
  for (const auto& kv : d.type_bytes) j["dtype_bytes"][kv.first] = kv.second;
  j["tensor_bytes"] = rwkv::stored_weight_bytes(d.tensors);
  j["backend_weight_bytes"] = rwkv::Json::object();
  for (const auto& kv : d.backend_bytes) j["backend_weight_bytes"][kv.first] = kv.second;
  const auto lora = rwkv::arch_spec(in.arch).lora_widths(in);
  if (!lora.empty()) {
    j["lora"] = rwkv::Json::object();
    for (const auto& w : lora) j["lora"][w.name] = w.width;
  }
  j["has_time_state"] = in.has_time_state;
  if (list) {
    j["tensor_list"] = rwkv::Json::array();
    for (const auto& t : d.tensors)
      j["tensor_list"].push_back({{"name", t.name}, {"shape", t.shape}, {"type", type_name(t)}, {"bytes", t.stored_bytes}});
  }
  return j;
}

std::string gb(uint64_t bytes) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f GB", double(bytes) / 1e9);
  return buf;
}

void print_info(const InfoData& d, bool list) {
  const rwkv::ModelInfo& in = d.info;
  if (in.format == "synthetic")
    std::printf("file:       %s (no file: shapes only)\n", in.path.c_str());
  else
    std::printf("file:       %s (%llu bytes)\n", in.path.c_str(), (unsigned long long)in.file_bytes);
  std::printf("format:     %s\n", in.format.c_str());
  std::printf("version:    RWKV-%s\n", rwkv::arch_name(in.arch));
  std::printf("n_embd:     %d\nn_layer:    %d\nn_vocab:    %d\n", in.n_embd, in.n_layer, in.n_vocab);
  if (in.n_head) std::printf("heads:      %d x %d\n", in.n_head, in.head_size);
  std::printf("n_att:      %d\nn_ffn:      %d\n", in.n_att, in.n_ffn);
  std::string lora;
  for (const auto& w : rwkv::arch_spec(in.arch).lora_widths(in))
    lora += (lora.empty() ? "" : ", ") + std::string(w.name) + " " + std::to_string(w.width);
  if (!lora.empty())
    std::printf("lora:       %s%s\n", lora.c_str(), in.has_time_state ? " (with time_state)" : "");
  std::printf("params:     %lld (%.3f B)\n", (long long)in.params, double(in.params) / 1e9);
  for (const std::string& w : in.warnings) std::printf("warning:    %s\n", w.c_str());
  std::printf("tensors:    %zu (", d.n_tensors);
  const char* sep = "";
  for (const auto& kv : d.type_count) {
    std::printf("%s%s x %d", sep, kv.first.c_str(), kv.second);
    sep = ", ";
  }
  std::printf(")\n");
  std::printf("stored:     %llu bytes (", (unsigned long long)rwkv::stored_weight_bytes(d.tensors));
  sep = "";
  for (const auto& kv : d.type_bytes) {
    std::printf("%s%s %llu", sep, kv.first.c_str(), (unsigned long long)kv.second);
    sep = ", ";
  }
  std::printf(")\n");
  std::printf("weights:    a backend holds fp32 %s, bf16 %s, int8 %s, q4 %s\n", gb(d.backend_bytes.at("fp32")).c_str(),
              gb(d.backend_bytes.at("bf16")).c_str(), gb(d.backend_bytes.at("int8")).c_str(),
              gb(d.backend_bytes.at("q4")).c_str());
  std::printf("            (int8/q4: matrices quantized, embedding bf16, vectors fp32)\n");
  if (!list) return;
  for (const auto& t : d.tensors)
    std::printf("  %-40s %-16s %-10s %llu bytes\n", t.name.c_str(), shape_text(t.shape).c_str(), type_name(t).c_str(),
                (unsigned long long)t.stored_bytes);
}

InfoData synthetic_info(const std::string& name) {
  const rwkv::SynthSpec spec = rwkv::bench::synthetic_spec(name);
  rwkv::ModelInfo info = rwkv::synth_model_info(spec);
  info.format = "synthetic";
  info.path = "synthetic " + name;
  const auto entries = rwkv::synth_tensors(spec, rwkv::DType::bf16);
  for (const auto& e : entries) {
    int64_t n = 1;
    for (int64_t x : e.shape) n *= x;
    info.params += n;
  }
  return collect(info, rwkv::weight_tensors(entries));
}

}  // namespace

int cmd_info(int argc, char** argv) {
  cli::ModelArg model;
  cli::JsonOutput json;
  std::string synthetic;
  bool list = false;
  cli::Command cmd("info",
                   "Prints the format (pth, safetensors, ggml), RWKV version, n_embd, n_layer, n_vocab, heads,\n"
                   "FFN and LoRA widths, parameter count, the tensors' real types (fp32, bf16, int8 g64, q4 g32, ...)\n"
                   "and stored bytes, and the bytes a backend holds for the weights in fp32, bf16, int8 and q4.");
  cli::add_model(cmd.app(), model, true);
  cli::add_json(cmd.app(), json, "the same facts");
  cmd.app().add_flag("--tensors", list, "list every tensor: name, shape, real type, stored bytes");
  cmd.app().add_option("--synthetic", synthetic,
                       "a synthetic model's shapes instead of a file (names as rwkv-run bench --synthetic, "
                       "e.g. v7-7.2B)")->type_name("NAME");
  return cmd.run([&] {
    if (!cmd.parse(argc, argv)) return 0;
    if (json.wanted() && !json.file.empty())
      json.file = cli::checked_output_path("--json", json.file, {model.path()}, false);
    InfoData d;
    if (!synthetic.empty()) {
      if (!model.path().empty()) cli::usage_fail("give a MODEL or --synthetic NAME, not both");
      d = synthetic_info(synthetic);
    } else {
      cli::require_model(model, "rwkv-run info -m MODEL");
      auto m = rwkv::load_model(model.path());
      d = collect(m->info, rwkv::weight_tensors(*m));
      d.n_tensors = m->tensors().size();
    }
    if (!json.wanted()) {
      print_info(d, list);
      return 0;
    }
    const std::string text = info_json(d, list).dump(1, ' ', false, rwkv::Json::error_handler_t::replace) + "\n";
    if (json.file.empty()) {
      std::fputs(text.c_str(), stdout);
    } else {
      print_info(d, list);
      cli::write_file_atomic(json.file, text);
    }
    return 0;
  });
}
