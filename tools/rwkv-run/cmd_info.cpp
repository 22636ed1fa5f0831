// tools/rwkv-run/cmd_info.cpp: `rwkv-run info -m MODEL [--json [FILE]]`, what a model
// file holds: format, RWKV version, hyper-parameters, parameter count, dtypes.
#include <cstdio>
#include <map>
#include <string>

#include "cli_args.h"
#include "commands.h"
#include "runtime/arch/arch.h"
#include "runtime/core/json.h"
#include "runtime/model/model.h"

namespace {

// The --json document: what the text output shows, as numbers and strings.
rwkv::Json info_json(const rwkv::Model& m, const std::map<std::string, int>& dtypes) {
  const rwkv::ModelInfo& in = m.info;
  rwkv::Json j = {{"path", in.path},       {"format", in.format},   {"file_bytes", in.file_bytes},
                  {"version", rwkv::arch_name(in.arch)},           {"n_embd", in.n_embd},
                  {"n_layer", in.n_layer}, {"n_vocab", in.n_vocab}, {"n_head", in.n_head},
                  {"head_size", in.head_size}, {"n_att", in.n_att}, {"n_ffn", in.n_ffn},
                  {"params", in.params},   {"tensors", m.tensors().size()}};
  j["dtypes"] = rwkv::Json::object();
  for (const auto& kv : dtypes) j["dtypes"][kv.first] = kv.second;
  const auto lora = rwkv::arch_spec(in.arch).lora_widths(in);
  if (!lora.empty()) {
    j["lora"] = rwkv::Json::object();
    for (const auto& w : lora) j["lora"][w.name] = w.width;
  }
  j["has_time_state"] = in.has_time_state;
  return j;
}

void print_info(const rwkv::Model& m, const std::map<std::string, int>& dtypes) {
  const rwkv::ModelInfo& in = m.info;
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
  std::printf("tensors:    %zu (", m.tensors().size());
  const char* sep = "";
  for (const auto& kv : dtypes) {
    std::printf("%s%s x %d", sep, kv.first.c_str(), kv.second);
    sep = ", ";
  }
  std::printf(")\n");
}

}  // namespace

int cmd_info(int argc, char** argv) {
  cli::ModelArg model;
  cli::JsonOutput json;
  cli::Command cmd("info",
                   "Prints the format (pth, safetensors, ggml), RWKV version, n_embd, n_layer, n_vocab, heads,\n"
                   "FFN and LoRA widths, parameter count and dtypes of a model.");
  cli::add_model(cmd.app(), model, true);
  cli::add_json(cmd.app(), json, "the same facts");
  return cmd.run([&] {
    if (!cmd.parse(argc, argv)) return 0;
    cli::require_model(model, "rwkv-run info -m MODEL");
    auto m = rwkv::load_model(model.path());
    std::map<std::string, int> dtypes;
    for (const auto& kv : m->tensors()) dtypes[rwkv::dtype_name(kv.second.dtype)]++;
    if (!json.wanted()) {
      print_info(*m, dtypes);
      return 0;
    }
    const std::string text = info_json(*m, dtypes).dump(1, ' ', false, rwkv::Json::error_handler_t::replace) + "\n";
    if (json.file.empty()) {
      std::fputs(text.c_str(), stdout);
    } else {
      print_info(*m, dtypes);
      cli::write_file_atomic(json.file, text);
    }
    return 0;
  });
}
