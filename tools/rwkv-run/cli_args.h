// tools/rwkv-run/cli_args.h: the one option style of every rwkv-run command,
// on CLI11 (Debian libcli11-dev).
//
// Each command builds a cli::Command (a CLI::App named "rwkv-run <cmd>") and
// adds its options; the options several commands share are added by the
// add_* functions below so that they are spelled, checked and documented the
// same everywhere: -m/--model FILE, --device, --dtype, -t/--threads, -q/--quiet,
// --json [FILE], --tokenizer and the sampler options.
//
// Every problem is a CliError carrying the exit code (2 usage, 1 run time) and
// one line naming the problem; report() prints it as "rwkv-run <cmd>: <message>",
// usage errors followed by "(see rwkv-run <cmd> --help)".
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/core/dtype.h"

namespace rwkv {
class Engine;
}

namespace cli {

struct CliError : std::runtime_error {
  CliError(int code, const std::string& msg) : std::runtime_error(msg), exit_code(code) {}
  int exit_code;
};

// A usage error (exit 2); the message names the option and the value.
[[noreturn]] void usage_fail(const std::string& msg);
// A run-time error (exit 1).
[[noreturn]] void runtime_fail(const std::string& msg);

// Prints "rwkv-run <cmd>: <e.what()>" on stderr (one line; usage errors end with
// " (see rwkv-run <cmd> --help)") and returns the exit code.
int report(const char* cmd, const CliError& e);

// Flushes stdout; a run-time error "cannot write to stdout: <reason>" when it fails (for
// streaming output, where the reason is known only at the failing write).
void flush_stdout();

// Checked numbers from option values. `opt` names the option in the message.
double parse_double(const std::string& opt, const std::string& value, double lo, double hi);
long long parse_int(const std::string& opt, const std::string& value, long long lo, long long hi);
uint64_t parse_u64(const std::string& opt, const std::string& value);
// "1,2,3" (commas or spaces) -> ids in [lo, hi].
std::vector<int32_t> parse_id_list(const std::string& opt, const std::string& value, long long lo = 0,
                                   long long hi = INT32_MAX);
// "1,2,3" (commas only) -> whole numbers in [lo, hi], at least one.
std::vector<int> parse_int_list(const std::string& opt, const std::string& value, long long lo, long long hi);

// One command's parser. parse() returns false when --help was printed (exit 0),
// throws CliError(2) for every usage problem, and leaves unknown options and
// stray arguments to no one: they are usage errors naming the argument.
class Command {
 public:
  Command(const std::string& name, const std::string& description);
  CLI::App& app() { return app_; }
  const std::string& name() const { return name_; }
  bool parse(int argc, char** argv);  // argv[0] is the subcommand
  // Runs `body` and turns CliError / exceptions into the exit code (one line on stderr).
  int run(const std::function<int()>& body) const;

 private:
  std::string name_;
  CLI::App app_;
};

// ---- options shared by several commands
// -m/--model FILE; with `positional`, a first positional MODEL is accepted too
// (not both). resolve_model() then says which, or fails naming the command's usage.
struct ModelArg {
  std::string flag, positional;
  const std::string& path() const { return flag.empty() ? positional : flag; }
};
void add_model(CLI::App& app, ModelArg& m, bool positional);
// Fails (usage) when neither or both forms were given; `example` shows a call.
void require_model(const ModelArg& m, const std::string& example);

// --device auto|cpu|cuda|cuda:N (default auto).
void add_device(CLI::App& app, std::string& device);
// --dtype fp32|fp16|bf16 (empty: the device's default).
// --dtype: fp32, fp16, bf16 and, with allow_quant, int8 and q4 (docs/quantization.md).
void add_dtype(CLI::App& app, std::string& dtype, const std::string& help, bool allow_quant = true);
// --state-dtype fp32|bf16 (default fp32): the WKV matrix state in device memory (cuda only).
void add_state_dtype(CLI::App& app, std::string& state_dtype);
// --max-rows N (cuda token rows per round, [1, 65535]; 0 = automatic, the default) and
// --wkv-chunk-min N (cuda: prefill rounds averaging N tokens per sequence run the chunked WKV,
// [0, 65535], 0 = never; default 64).
void add_round_options(CLI::App& app, int& max_rows, int& wkv_chunk_min);
constexpr int kDefaultWkvChunkMin = 64;  // CudaOptions::wkv_chunk_min_tokens's default
// "fp32" or "bf16" (empty: fp32) as a DType; usage error otherwise.
rwkv::DType parse_state_dtype(const std::string& state_dtype);
// -t/--threads N in [0, 1024], 0 = all hardware threads.
void add_threads(CLI::App& app, int& threads);
// -q/--quiet.
void add_quiet(CLI::App& app, bool& quiet, const std::string& help);
// --tokenizer world|20b|bytes|FILE.
void add_tokenizer(CLI::App& app, std::string& tokenizer);

// --json [FILE]: the JSON on stdout in place of the usual output, or with FILE
// also written to FILE (any name).
struct JsonOutput {
  std::string file;  // empty: stdout
  CLI::Option* option = nullptr;
  bool wanted() const { return option && option->count() > 0; }
};
void add_json(CLI::App& app, JsonOutput& json, const std::string& what);
// Writes `text` to `path` through a temporary file renamed into place (run-time error on failure).
void write_file_atomic(const std::string& path, const std::string& text);

// The one note on stderr about what --device auto picked (runtime/engine/device.h),
// printed in a build with a real GPU path only; `who` starts the line ("rwkv-run logits").
void print_device_note(const std::string& who, const rwkv::Engine& engine);

// ---- generate and chat
struct ModelOptions {
  ModelArg model;
  std::string device = "auto";
  std::string dtype;              // "" = the device's default
  std::string state_dtype;        // "" = fp32
  int max_rows = 0;               // cuda: token rows per round (0 = automatic)
  int wkv_chunk_min = kDefaultWkvChunkMin;  // cuda: the sequential/chunked WKV switch (0 = never chunked)
  int threads = 0;                // 0 = all hardware threads
  std::string tokenizer;          // "" = the kind that goes with the model's vocabulary
  std::string path;               // the model file, set by finish_model_options()
};
void add_model_options(CLI::App& app, ModelOptions& o);
// After parsing: the model given once.
void finish_model_options(ModelOptions& o, const std::string& example);

struct SamplerOptions {
  double temp = 1.0, top_p = 0.85;
  int top_k = 0;
  double presence = 0.2, frequency = 0.2, decay = 0.996;
  std::optional<uint64_t> seed;   // none: a random seed, printed so a run can be repeated
  std::vector<int32_t> ban;       // --ban ID[,ID...] (repeatable)
};
// The sampler options, their help showing `o`'s values as the defaults.
void add_sampler_options(CLI::App& app, SamplerOptions& o);

// A seed from the system's random device (for runs without --seed).
uint64_t random_seed();

}  // namespace cli
