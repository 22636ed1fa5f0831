// tools/rwkv-run/cmd_convert.cpp: `rwkv-run convert IN OUT.safetensors`,
// any supported model file to safetensors with the official tensor names
// (rwkv.cpp files converted back to official values), optionally cast.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "commands.h"
#include "runtime/model/model.h"
#include "runtime/model/safetensors_writer.h"

namespace {

const char kUsage[] =
    "usage: rwkv-run convert IN OUT.safetensors [--dtype fp32|fp16|bf16]\n"
    "  Reads IN (.pth, safetensors or rwkv.cpp .bin) and writes OUT as safetensors\n"
    "  with the official tensor names and shapes. --dtype casts every tensor\n"
    "  (round to nearest even); by default each tensor keeps its dtype\n"
    "  (quantised rwkv.cpp tensors become fp32). OUT appears only when complete.\n";

int usage_error(const std::string& msg) {
  std::fprintf(stderr, "rwkv-run convert: %s (see 'rwkv-run convert --help')\n", msg.c_str());
  return 2;
}

void progress(void*, uint64_t done, uint64_t total) {
  std::fprintf(stderr, "\rreading %5.1f%%", total ? 100.0 * double(done) / double(total) : 100.0);
  if (done == total) std::fprintf(stderr, "\n");
}

}  // namespace

int cmd_convert(int argc, char** argv) {
  std::string in, out;
  bool have_dtype = false;
  rwkv::DType dtype = rwkv::DType::f32;
  for (int i = 1; i < argc; i++) {
    const char* a = argv[i];
    if (!std::strcmp(a, "--dtype")) {
      if (i + 1 >= argc) return usage_error("--dtype needs a value (fp32, fp16 or bf16)");
      if (!rwkv::dtype_from_name(argv[++i], &dtype)) return usage_error(std::string("unknown dtype '") + argv[i] + "'");
      have_dtype = true;
    } else if (!std::strcmp(a, "--help") || !std::strcmp(a, "-h")) {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (a[0] == '-' && a[1]) {
      return usage_error(std::string("unknown option '") + a + "'");
    } else if (in.empty()) {
      in = a;
    } else if (out.empty()) {
      out = a;
    } else {
      return usage_error(std::string("unexpected argument '") + a + "'");
    }
  }
  if (out.empty()) return usage_error("needs IN and OUT");
  try {
    auto m = rwkv::load_model(in, isatty(2) ? progress : nullptr, nullptr);
    rwkv::write_safetensors(*m, out, have_dtype ? &dtype : nullptr);
    std::printf("wrote %s: RWKV-%s, %zu tensors, %lld parameters%s%s\n", out.c_str(),
                rwkv::arch_name(m->info.arch), m->tensors().size(), (long long)m->info.params,
                have_dtype ? ", " : "", have_dtype ? rwkv::dtype_name(dtype) : "");
    return 0;
  } catch (const rwkv::Error& e) {
    std::fprintf(stderr, "rwkv-run convert: %s\n", e.what());
    return 1;
  }
}
