// tools/rwkv-run/cmd_synth.cpp: `rwkv-run synth`, a synthetic checkpoint with
// the shapes of a released RWKV model (runtime/model/synth.h), written as
// safetensors tensor by tensor.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "cli_args.h"
#include "cli_output_path.h"
#include "commands.h"
#include "runtime/model/model.h"
#include "runtime/model/synth.h"

namespace {

void progress(void*, uint64_t done, uint64_t total) {
  static_cast<void>(total);
  if (done == total || done % (256ull << 20) < (4ull << 20))
    std::fprintf(stderr, "\rwriting %5.1f%%%s", 100.0 * double(done) / double(total), done == total ? "\n" : "");
}

}  // namespace

int cmd_synth(int argc, char** argv) {
  std::string version, size, out, dtype_name = "bf16";
  unsigned long long seed = 0;
  cli::Command cmd("synth",
                   "Writes random weights with the shapes of a released model and realistic value ranges.\n"
                   "Sizes: v4 169M 430M 1.5B 3B 7B 14B; v5.2 0.4B 1.5B 3B 7B; v6 1.6B 3B 7B 14B;\n"
                   "v7 0.1B 0.4B 1.5B 2.9B 7.2B.");
  CLI::App& app = cmd.app();
  app.add_option("--version", version, "RWKV version: 4, 5.2, 6 or 7")->type_name("V")->required();
  app.add_option("--size", size, "a released size of that version, e.g. 1.5B")->type_name("SIZE")->required();
  cli::add_dtype(app, dtype_name, "fp32, fp16 or bf16 (default bf16; rwkv-run quantize makes int8/q4 files)", false);
  app.add_option_function<std::string>(
         "--seed", [&seed](const std::string& v) { seed = cli::parse_u64("--seed", v); }, "weights' seed (default 0)")
      ->type_name("N");
  app.add_option("OUT", out, "the safetensors file to write")->type_name("OUT.safetensors")->required();
  return cmd.run([&] {
    if (!cmd.parse(argc, argv)) return 0;
    const std::string target = cli::checked_safetensors_path("OUT", out, {});
    rwkv::DType dtype = rwkv::DType::bf16;
    rwkv::dtype_from_name(dtype_name, &dtype);  // checked by --dtype
    if (version.size() > 1 && version[0] == 'v') version = version.substr(1);
    if (version == "6.0") version = "6";
    if (version == "7.0") version = "7";
    rwkv::SynthSpec spec = rwkv::synth_spec(version, size);
    rwkv::write_synth_safetensors(spec, dtype, seed, target, isatty(2) ? progress : nullptr, nullptr);
    std::printf("wrote %s: synthetic RWKV-%s %s (C %d, L %d, V %d, F %d), %s, seed %llu\n", out.c_str(),
                rwkv::arch_name(spec.arch), spec.size.c_str(), spec.n_embd, spec.n_layer, spec.n_vocab,
                spec.n_ffn, rwkv::dtype_name(dtype), seed);
    return 0;
  });
}
