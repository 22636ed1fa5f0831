// tools/rwkv-run/cmd_synth.cpp: `rwkv-run synth`, a synthetic checkpoint with
// the shapes of a released RWKV model (runtime/model/synth.h), written as
// safetensors tensor by tensor.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "commands.h"
#include "runtime/model/model.h"
#include "runtime/model/synth.h"

namespace {

const char kUsage[] =
    "usage: rwkv-run synth --version 4|5.2|6|7 --size SIZE [--dtype bf16|fp16|fp32] [--seed N] OUT.safetensors\n"
    "  Writes random weights with the shapes of a released model and realistic\n"
    "  value ranges. Sizes: v4 169M 430M 1.5B 3B 7B 14B; v5.2 0.4B 1.5B 3B 7B;\n"
    "  v6 1.6B 3B 7B 14B; v7 0.1B 0.4B 1.5B 2.9B 7.2B. Default dtype bf16, seed 0.\n";

int usage_error(const std::string& msg) {
  std::fprintf(stderr, "rwkv-run synth: %s (see 'rwkv-run synth --help')\n", msg.c_str());
  return 2;
}

void progress(void*, uint64_t done, uint64_t total) {
  static_cast<void>(total);
  if (done == total || done % (256ull << 20) < (4ull << 20))
    std::fprintf(stderr, "\rwriting %5.1f%%%s", 100.0 * double(done) / double(total), done == total ? "\n" : "");
}

}  // namespace

int cmd_synth(int argc, char** argv) {
  std::string version, size, out;
  rwkv::DType dtype = rwkv::DType::bf16;
  unsigned long long seed = 0;
  for (int i = 1; i < argc; i++) {
    const std::string a = argv[i];
    auto value = [&](std::string* v) {
      if (i + 1 >= argc) return false;
      *v = argv[++i];
      return true;
    };
    std::string v;
    if (a == "--version" || a == "--size" || a == "--dtype" || a == "--seed") {
      if (!value(&v)) return usage_error(a + " needs a value");
      if (a == "--version") version = v;
      else if (a == "--size") size = v;
      else if (a == "--dtype") {
        if (!rwkv::dtype_from_name(v, &dtype)) return usage_error("unknown dtype '" + v + "'");
      } else {
        char* end = nullptr;
        errno = 0;
        seed = std::strtoull(v.c_str(), &end, 10);
        if (v.empty() || *end || errno) return usage_error("--seed needs a non-negative integer");
      }
    } else if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (a.size() > 1 && a[0] == '-') {
      return usage_error("unknown option '" + a + "'");
    } else if (out.empty()) {
      out = a;
    } else {
      return usage_error("unexpected argument '" + a + "'");
    }
  }
  if (version.empty() || size.empty() || out.empty()) return usage_error("needs --version, --size and OUT");
  if (version.size() > 1 && version[0] == 'v') version = version.substr(1);
  if (version == "6.0") version = "6";
  if (version == "7.0") version = "7";
  try {
    rwkv::SynthSpec spec = rwkv::synth_spec(version, size);
    rwkv::write_synth_safetensors(spec, dtype, seed, out, isatty(2) ? progress : nullptr, nullptr);
    std::printf("wrote %s: synthetic RWKV-%s %s (C %d, L %d, V %d, F %d), %s, seed %llu\n", out.c_str(),
                rwkv::arch_name(spec.arch), spec.size.c_str(), spec.n_embd, spec.n_layer, spec.n_vocab,
                spec.n_ffn, rwkv::dtype_name(dtype), seed);
    return 0;
  } catch (const rwkv::Error& e) {
    std::fprintf(stderr, "rwkv-run synth: %s\n", e.what());
    return 1;
  }
}
