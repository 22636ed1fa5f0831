// rwkv-run: command-line front end. Dispatches to one cmd_*.cpp per subcommand.
#include <cstdio>
#include <cstring>
#include <new>

#include "commands.h"
#include "rwkv_git_commit.h"

namespace {

struct Subcommand {
  const char* name;
  int (*run)(int argc, char** argv);  // argv[0] is the subcommand name
  const char* summary;
};

const Subcommand kSubcommands[] = {
    {"generate", cmd_generate, "continue a prompt, streaming the text (sampling options, timings)"},
    {"chat", cmd_chat, "chat with a model, ChatRWKV style (+help in the chat lists commands)"},
    {"serve", cmd_serve, "an OpenAI-compatible HTTP server with continuous batching"},
    {"bench-serve", cmd_bench_serve, "load benchmark of serve: throughput, time to first token, latency"},
    {"selfcheck", cmd_selfcheck, "run the built-in kernels on small inputs and check them"},
    {"tokenize", cmd_tokenize, "print the token ids of a text"},
    {"detokenize", cmd_detokenize, "print the text of token ids"},
    {"logits", cmd_logits, "write a model's logits and final state for a token list"},
    {"info", cmd_info, "show a model file's format, version and hyper-parameters"},
    {"convert", cmd_convert, "convert a .pth / rwkv.cpp / safetensors model to safetensors"},
    {"quantize", cmd_quantize, "write a model's matrices quantized (int8 or q4) to safetensors"},
    {"synth", cmd_synth, "write a synthetic checkpoint with a released model's shapes"},
    {"bench", cmd_bench, "prefill and decode throughput against the device's limits"},
};

void print_usage(FILE* out) {
  std::fprintf(out, "usage: rwkv-run [--version] [--help] <command> [options]\n\ncommands:\n");
  for (const auto& s : kSubcommands) std::fprintf(out, "  %-12s %s\n", s.name, s.summary);
  std::fprintf(out, "\n'rwkv-run <command> --help' describes a command's options.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    print_usage(stderr);
    return 2;
  }
  const char* cmd = argv[1];
  if (!std::strcmp(cmd, "--version") || !std::strcmp(cmd, "-V")) {
    std::printf("rwkv-run %s (commit %s, gpu path: %s)\n", RWKV_RUN_VERSION, RWKV_GIT_COMMIT, RWKV_RUN_GPU_PATH);
    return 0;
  }
  if (!std::strcmp(cmd, "--help") || !std::strcmp(cmd, "-h") || !std::strcmp(cmd, "help")) {
    print_usage(stdout);
    return 0;
  }
  for (const auto& s : kSubcommands) {
    if (std::strcmp(cmd, s.name)) continue;
    try {
      return s.run(argc - 1, argv + 1);
    } catch (const std::bad_alloc&) {  // outside a command's own handler (cli_args.cpp Command::run)
      std::fprintf(stderr, "rwkv-run %s: out of memory\n", cmd);
      return 1;
    }
  }
  std::fprintf(stderr, "rwkv-run: unknown command '%s' (see 'rwkv-run --help')\n", cmd);
  return 2;
}
