// tools/rwkv-run/cmd_convert.cpp: `rwkv-run convert IN OUT.safetensors` (or -m IN OUT),
// any supported model file to safetensors with the official tensor names
// (rwkv.cpp files converted back to official values), optionally cast. Quantized
// tensors (a quantized safetensors file, an rwkv.cpp Q* file) are written dense:
// dequantized to fp32, or to --dtype (`rwkv-run quantize` writes quantized files).
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "cli_args.h"
#include "cli_output_path.h"
#include "commands.h"
#include "runtime/model/model.h"
#include "runtime/model/safetensors_writer.h"

namespace {

void progress(void*, uint64_t done, uint64_t total) {
  std::fprintf(stderr, "\rreading %5.1f%%", total ? 100.0 * double(done) / double(total) : 100.0);
  if (done == total) std::fprintf(stderr, "\n");
}

}  // namespace

int cmd_convert(int argc, char** argv) {
  cli::ModelArg model;
  std::vector<std::string> files;  // [IN] OUT
  std::string dtype_name;
  cli::Command cmd("convert",
                   "Reads IN (.pth, safetensors or rwkv.cpp .bin; or -m IN) and writes OUT as safetensors with\n"
                   "the official tensor names and shapes. OUT appears only when complete. Quantized matrices\n"
                   "(rwkv-run quantize's files, rwkv.cpp's Q4_0..Q8_0) are written dense: dequantized to fp32,\n"
                   "or to --dtype.");
  cli::add_model(cmd.app(), model, false);
  cmd.app()
      .add_option("IN OUT", files, "the model file (unless -m) and the safetensors file to write")
      ->expected(1, 2)
      ->type_name("");
  cmd.app()
      .add_option_function<std::string>(
          "--dtype",
          [&dtype_name](const std::string& v) {
            rwkv::DType t;
            if (!rwkv::dtype_from_name(v, &t))
              cli::usage_fail("--dtype must be fp32, fp16 or bf16, got '" + v +
                              "' (rwkv-run quantize writes int8 and q4 files)");
            dtype_name = v;
          },
          "cast every tensor to fp32, fp16 or bf16 (round to nearest even); by default each tensor keeps "
          "its dtype (quantized tensors become fp32)")
      ->type_name("T");
  return cmd.run([&] {
    if (!cmd.parse(argc, argv)) return 0;
    if (model.flag.empty() && files.size() == 2) model.positional = files[0];
    if (files.size() != (model.flag.empty() ? 2u : 1u))
      cli::usage_fail(model.flag.empty() ? "needs IN and OUT: rwkv-run convert IN OUT.safetensors"
                                         : "with -m IN, give only OUT");
    const std::string& out = files.back();
    const std::string target = cli::checked_safetensors_path("OUT", out, {model.path()});
    rwkv::DType dtype = rwkv::DType::f32;
    const bool have_dtype = !dtype_name.empty() && rwkv::dtype_from_name(dtype_name, &dtype);
    auto m = rwkv::load_model(model.path(), isatty(2) ? progress : nullptr, nullptr);
    rwkv::write_safetensors(*m, target, have_dtype ? &dtype : nullptr);
    std::printf("wrote %s: RWKV-%s, %zu tensors, %lld parameters%s%s\n", out.c_str(),
                rwkv::arch_name(m->info.arch), m->tensors().size(), (long long)m->info.params,
                have_dtype ? ", " : "", have_dtype ? rwkv::dtype_name(dtype) : "");
    return 0;
  });
}
