// tools/rwkv-run/cmd_quantize.cpp: `rwkv-run quantize IN OUT --dtype int8|q4`, any
// supported model file (or a synthetic model) to a safetensors file whose matrices are
// stored quantized (layout: runtime/quant/quant_file.h, docs/quantization.md).
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "bench/synthetic_models.h"
#include "cli_args.h"
#include "cli_output_path.h"
#include "commands.h"
#include "runtime/model/model.h"
#include "runtime/model/synth.h"
#include "runtime/quant/quant_file.h"

namespace {

void progress(void*, uint64_t done, uint64_t total) {
  std::fprintf(stderr, "\rreading %5.1f%%", total ? 100.0 * double(done) / double(total) : 100.0);
  if (done == total) std::fprintf(stderr, "\n");
}

}  // namespace

int cmd_quantize(int argc, char** argv) {
  cli::ModelArg model;
  std::vector<std::string> files;  // [IN] OUT
  std::string kind_name, synthetic;
  unsigned long long seed = 0;
  cli::Command cmd("quantize",
                   "Reads IN (.pth, safetensors or rwkv.cpp .bin; or -m IN, or --synthetic NAME) and writes OUT as\n"
                   "safetensors with every matrix the model applies as a Linear (projections, v6/v7 LoRA, and under\n"
                   "q4 the head) quantized, w = q * scale + offset with an fp16 scale and offset per group of inputs:\n"
                   "int8 (groups up to 1024, at least 4 a row) or q4 (groups up to 128, at least 8 a row), exactly\n"
                   "as --dtype int8|q4 quantizes at load. The embedding, vectors, v6's time_maa_w2 and under int8\n"
                   "the head keep their dtype. Matrices IN already stores in that kind are kept as stored (an rwkv.cpp\n"
                   "file's group 32 included); others go through fp32. OUT appears only when complete.");
  cli::add_model(cmd.app(), model, false);
  cmd.app()
      .add_option("IN OUT", files, "the model file (unless -m or --synthetic) and the safetensors file to write")
      ->expected(1, 2)
      ->type_name("");
  cmd.app()
      .add_option_function<std::string>(
          "--dtype",
          [&kind_name](const std::string& v) {
            rwkv::QuantKind k;
            if (!rwkv::quant_kind_from_name(v, &k)) cli::usage_fail("--dtype must be int8 or q4, got '" + v + "'");
            kind_name = v;
          },
          "int8 or q4 (required)")
      ->type_name("T")
      ->required();
  cmd.app().add_option("--synthetic", synthetic,
                       "quantize a synthetic model built in memory (names as rwkv-run bench --synthetic: "
                       "v7-7.2B, v6-tiny, ...)")->type_name("NAME");
  cmd.app().add_option_function<std::string>(
      "--seed", [&seed](const std::string& v) { seed = cli::parse_u64("--seed", v); },
      "synthetic weights' seed (default 0)")->type_name("N");
  return cmd.run([&] {
    if (!cmd.parse(argc, argv)) return 0;
    if (!model.flag.empty() && !synthetic.empty()) cli::usage_fail("give -m IN or --synthetic NAME, not both");
    const bool input_named = !model.flag.empty() || !synthetic.empty();
    if (files.size() != (input_named ? 1u : 2u))
      cli::usage_fail(input_named ? "with -m IN or --synthetic NAME, give only OUT"
                                  : "needs IN and OUT: rwkv-run quantize IN OUT.safetensors --dtype int8|q4");
    if (!input_named) model.positional = files[0];
    rwkv::QuantKind kind = rwkv::QuantKind::none;
    rwkv::quant_kind_from_name(kind_name, &kind);
    const std::string& out = files.back();
    const std::string target = cli::checked_safetensors_path("OUT", out, {model.path()});
    std::unique_ptr<rwkv::Model> m;
    if (!synthetic.empty())
      m = rwkv::make_synth_model(rwkv::bench::synthetic_spec(synthetic), rwkv::DType::bf16, seed, 0);
    else
      m = rwkv::load_model(model.path(), isatty(2) ? progress : nullptr, nullptr);
    const rwkv::QuantizeReport r = rwkv::write_quantized_safetensors(*m, kind, target);
    std::printf("wrote %s: RWKV-%s, %s, %d matrices quantized, %d kept as stored, %d tensors dense, "
                "%llu bytes of tensors\n",
                out.c_str(), rwkv::arch_name(m->info.arch), rwkv::quant_kind_name(kind), r.quantized, r.kept,
                r.dense, (unsigned long long)r.bytes);
    return 0;
  });
}
