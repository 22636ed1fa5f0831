// tools/rwkv-run/commands.h: the subcommands of rwkv-run, one file each.
// Each returns the process exit code: 0 success, 1 run-time error, 2 usage error.
#pragma once

int cmd_selfcheck(int argc, char** argv);  // cmd_selfcheck.cpp
int cmd_tokenize(int argc, char** argv);    // cmd_tokenize.cpp
int cmd_detokenize(int argc, char** argv);  // cmd_tokenize.cpp
int cmd_logits(int argc, char** argv);      // cmd_logits.cpp
int cmd_info(int argc, char** argv);        // cmd_info.cpp
int cmd_convert(int argc, char** argv);     // cmd_convert.cpp
int cmd_quantize(int argc, char** argv);    // cmd_quantize.cpp
int cmd_synth(int argc, char** argv);       // cmd_synth.cpp
int cmd_bench(int argc, char** argv);       // cmd_bench.cpp
int cmd_generate(int argc, char** argv);    // cmd_generate.cpp
int cmd_chat(int argc, char** argv);        // cmd_chat.cpp
int cmd_serve(int argc, char** argv);       // cmd_serve.cpp
int cmd_bench_serve(int argc, char** argv);  // cmd_bench_serve.cpp
