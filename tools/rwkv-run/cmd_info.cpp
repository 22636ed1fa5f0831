// tools/rwkv-run/cmd_info.cpp: `rwkv-run info MODEL [--json]`, what a model
// file holds: format, RWKV version, hyper-parameters, parameter count, dtypes.
#include <cstdio>
#include <cstring>
#include <map>
#include <string>

#include "commands.h"
#include "runtime/model/model.h"

namespace {

const char kUsage[] =
    "usage: rwkv-run info MODEL [--json]\n"
    "  Prints the format (pth, safetensors, ggml), RWKV version, n_embd, n_layer,\n"
    "  n_vocab, heads, FFN and LoRA widths, parameter count and dtypes of a model.\n";

std::string json_escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += char(c);
    }
  }
  return out;
}

}  // namespace

int cmd_info(int argc, char** argv) {
  std::string path;
  bool json = false;
  for (int i = 1; i < argc; i++) {
    const char* a = argv[i];
    if (!std::strcmp(a, "--json")) {
      json = true;
    } else if (!std::strcmp(a, "--help") || !std::strcmp(a, "-h")) {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (a[0] == '-' && a[1]) {
      std::fprintf(stderr, "rwkv-run info: unknown option '%s' (see 'rwkv-run info --help')\n", a);
      return 2;
    } else if (path.empty()) {
      path = a;
    } else {
      std::fprintf(stderr, "rwkv-run info: unexpected argument '%s' (one MODEL only)\n", a);
      return 2;
    }
  }
  if (path.empty()) {
    std::fprintf(stderr, "rwkv-run info: missing MODEL (see 'rwkv-run info --help')\n");
    return 2;
  }
  try {
    auto m = rwkv::load_model(path);
    const rwkv::ModelInfo& in = m->info;
    std::map<std::string, int> dtypes;
    for (const auto& kv : m->tensors()) dtypes[rwkv::dtype_name(kv.second.dtype)]++;
    const bool v6 = in.arch == rwkv::Arch::v6, v7 = in.arch == rwkv::Arch::v7;
    if (json) {
      std::printf("{\"path\": \"%s\", \"format\": \"%s\", \"file_bytes\": %llu, \"version\": \"%s\",\n",
                  json_escape(in.path).c_str(), in.format.c_str(), (unsigned long long)in.file_bytes,
                  rwkv::arch_name(in.arch));
      std::printf(" \"n_embd\": %d, \"n_layer\": %d, \"n_vocab\": %d, \"n_head\": %d, \"head_size\": %d,"
                  " \"n_att\": %d, \"n_ffn\": %d, \"params\": %lld, \"tensors\": %zu,\n",
                  in.n_embd, in.n_layer, in.n_vocab, in.n_head, in.head_size, in.n_att, in.n_ffn,
                  (long long)in.params, m->tensors().size());
      std::printf(" \"dtypes\": {");
      const char* sep = "";
      for (const auto& kv : dtypes) {
        std::printf("%s\"%s\": %d", sep, kv.first.c_str(), kv.second);
        sep = ", ";
      }
      std::printf("}");
      if (v7) std::printf(",\n \"lora\": {\"w\": %d, \"a\": %d, \"v\": %d, \"g\": %d}", in.lora_w, in.lora_a, in.lora_v, in.lora_g);
      if (v6) std::printf(",\n \"lora\": {\"time_maa\": %d, \"time_decay\": %d}, \"has_time_state\": %s",
                          in.lora_maa, in.lora_decay, in.has_time_state ? "true" : "false");
      std::printf("}\n");
      return 0;
    }
    std::printf("file:       %s (%llu bytes)\n", in.path.c_str(), (unsigned long long)in.file_bytes);
    std::printf("format:     %s\n", in.format.c_str());
    std::printf("version:    RWKV-%s\n", rwkv::arch_name(in.arch));
    std::printf("n_embd:     %d\nn_layer:    %d\nn_vocab:    %d\n", in.n_embd, in.n_layer, in.n_vocab);
    if (in.n_head) std::printf("heads:      %d x %d\n", in.n_head, in.head_size);
    std::printf("n_att:      %d\nn_ffn:      %d\n", in.n_att, in.n_ffn);
    if (v7) std::printf("lora:       w %d, a %d, v %d, g %d\n", in.lora_w, in.lora_a, in.lora_v, in.lora_g);
    if (v6) std::printf("lora:       time_maa %d, time_decay %d%s\n", in.lora_maa, in.lora_decay,
                        in.has_time_state ? " (with time_state)" : "");
    std::printf("params:     %lld (%.3f B)\n", (long long)in.params, double(in.params) / 1e9);
    std::printf("tensors:    %zu (", m->tensors().size());
    const char* sep = "";
    for (const auto& kv : dtypes) {
      std::printf("%s%s x %d", sep, kv.first.c_str(), kv.second);
      sep = ", ";
    }
    std::printf(")\n");
    return 0;
  } catch (const rwkv::Error& e) {
    std::fprintf(stderr, "rwkv-run info: %s\n", e.what());
    return 1;
  }
}
