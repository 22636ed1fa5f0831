// tools/rwkv-run/cli_args.h: command-line parsing shared by `generate` and
// `chat`: checked numbers, the model options (-m, --device, --dtype, --threads,
// --tokenizer) and the sampler options (--temp, --top-p, ...).
//
// Every problem is a CliError carrying the exit code (2 usage, 1 run time) and
// one line naming the problem and the fix; report() prints it as
// "rwkv-run <cmd>: <message>".
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace cli {

struct CliError : std::runtime_error {
  CliError(int code, const std::string& msg) : std::runtime_error(msg), exit_code(code) {}
  int exit_code;
};

// A usage error (exit 2); the message should say how to fix the call.
[[noreturn]] void usage_fail(const std::string& msg);
// A run-time error (exit 1).
[[noreturn]] void runtime_fail(const std::string& msg);

// Prints "rwkv-run <cmd>: <e.what()>" on stderr (one line) and returns the exit code.
int report(const char* cmd, const CliError& e);

// Numbers from option values. `opt` names the option in the message.
double parse_double(const std::string& opt, const std::string& value, double lo, double hi);
long long parse_int(const std::string& opt, const std::string& value, long long lo, long long hi);
uint64_t parse_u64(const std::string& opt, const std::string& value);
// "1,2,3" (commas or spaces) -> ids in [0, 2^31).
std::vector<int32_t> parse_id_list(const std::string& opt, const std::string& value);

// Walks argv; `value()` takes the next argument as the option's value.
class ArgCursor {
 public:
  ArgCursor(int argc, char** argv) : argc_(argc), argv_(argv) {}
  bool done() const { return i_ >= argc_; }
  // The next argument; an "--opt=value" form is split, so value() returns "value".
  std::string next();
  // The current option's value (inline "=value" or the next argument).
  std::string value();

 private:
  int argc_;
  char** argv_;
  int i_ = 1;  // argv[0] is the subcommand
  std::string opt_;
  std::optional<std::string> inline_value_;
};

// Model options common to generate and chat.
struct ModelOptions {
  std::string path;               // -m / --model, or the first positional argument
  std::string device = "cpu";     // cpu | cuda | cuda:N
  std::string dtype;              // "" = the device's default
  int threads = 0;                // 0 = all hardware threads
  std::string tokenizer;          // "" = the kind that goes with the model's vocabulary
};
// If `opt` is a model option, reads its value from `args` into `o` and returns true.
bool parse_model_option(const std::string& opt, ArgCursor& args, ModelOptions& o);
extern const char kModelOptionsHelp[];

// Sampler options common to generate and chat (defaults set by each command).
struct SamplerOptions {
  double temp = 1.0, top_p = 0.85;
  int top_k = 0;
  double presence = 0.2, frequency = 0.2, decay = 0.996;
  std::optional<uint64_t> seed;   // none: a random seed, printed so a run can be repeated
  std::vector<int32_t> ban;       // --ban ID[,ID...] (repeatable)
};
bool parse_sampler_option(const std::string& opt, ArgCursor& args, SamplerOptions& o);
// The help lines of the sampler options, showing the command's defaults.
std::string sampler_options_help(const SamplerOptions& defaults);

// A seed from the system's random device (for runs without --seed).
uint64_t random_seed();

}  // namespace cli
