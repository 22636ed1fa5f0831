// tools/rwkv-run/cli_args.cpp: see cli_args.h.
#include "cli_args.h"

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>

#include "cli_output_path.h"
#include "runtime/engine/device.h"
#include "runtime/engine/engine.h"
#include "runtime/model/model.h"

namespace cli {

void usage_fail(const std::string& msg) { throw CliError(2, msg); }
void runtime_fail(const std::string& msg) { throw CliError(1, msg); }

namespace {

std::string one_line(std::string msg) {
  for (char& c : msg)
    if (c == '\n' || c == '\r') c = ' ';
  return msg;
}

std::string range_text(double lo, double hi) {
  char buf[96];
  if (std::isinf(hi)) std::snprintf(buf, sizeof buf, ">= %g", lo);
  else std::snprintf(buf, sizeof buf, "in [%g, %g]", lo, hi);
  return buf;
}

// CLI11's help with "-m, --model" (a space after the comma, as man pages write it).
class HelpFormatter : public CLI::Formatter {
 public:
  std::string make_option_name(const CLI::Option* opt, bool is_positional) const override {
    std::string s = CLI::Formatter::make_option_name(opt, is_positional);
    for (size_t at = s.find(','); at != std::string::npos; at = s.find(',', at + 2)) s.insert(at + 1, " ");
    return s;
  }
  // Only the value's name (CLI11 would add the defaults, "Excludes: ..." and "..."; the text says them).
  std::string make_option_opts(const CLI::Option* opt) const override {
    if (opt->get_type_size() == 0 || opt->get_type_name().empty()) return "";
    return " " + opt->get_type_name();
  }
};

}  // namespace

void flush_stdout() {
  errno = 0;
  if (std::fflush(stdout) != 0 || std::ferror(stdout))
    runtime_fail(std::string("cannot write to stdout: ") + std::strerror(errno ? errno : EIO));
}

int report(const char* cmd, const CliError& e) {
  std::string line = "rwkv-run " + std::string(cmd) + ": " + one_line(e.what());
  if (e.exit_code == 2) line += " (see rwkv-run " + std::string(cmd) + " --help)";
  std::fprintf(stderr, "%s\n", line.c_str());
  return e.exit_code;
}

double parse_double(const std::string& opt, const std::string& value, double lo, double hi) {
  const char* s = value.c_str();
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s, &end);
  if (value.empty() || end == s || *end || errno == ERANGE || !std::isfinite(v))
    usage_fail(opt + " needs a number " + range_text(lo, hi) + ", got '" + value + "'");
  if (v < lo || v > hi) usage_fail(opt + " must be " + range_text(lo, hi) + ", got '" + value + "'");
  return v;
}

long long parse_int(const std::string& opt, const std::string& value, long long lo, long long hi) {
  const char* s = value.c_str();
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(s, &end, 10);
  const std::string range = "in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  if (value.empty() || end == s || *end || errno == ERANGE)
    usage_fail(opt + " needs a whole number " + range + ", got '" + value + "'");
  if (v < lo || v > hi) usage_fail(opt + " must be " + range + ", got '" + value + "'");
  return v;
}

uint64_t parse_u64(const std::string& opt, const std::string& value) {
  const char* s = value.c_str();
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(s, &end, 10);
  // A digit first: strtoull would skip blanks and wrap a '-' (' -1' -> 2^64-1).
  if (value.empty() || value[0] < '0' || value[0] > '9' || end == s || *end || errno == ERANGE)
    usage_fail(opt + " needs a whole number in [0, 2^64), got '" + value + "'");
  return uint64_t(v);
}

std::vector<int32_t> parse_id_list(const std::string& opt, const std::string& value, long long lo, long long hi) {
  std::vector<int32_t> ids;
  std::string item;
  auto flush = [&] {
    if (item.empty()) return;
    ids.push_back(int32_t(parse_int(opt, item, lo, hi)));
    item.clear();
  };
  for (char c : value) {
    if (c == ',' || c == ' ' || c == '\t' || c == '\n') flush();
    else item += c;
  }
  flush();
  if (ids.empty()) usage_fail(opt + " needs token ids, e.g. " + opt + " 0 or " + opt + " 11,261");
  return ids;
}

std::vector<int> parse_int_list(const std::string& opt, const std::string& value, long long lo, long long hi) {
  std::vector<int> out;
  size_t from = 0;
  for (;;) {
    const size_t comma = value.find(',', from);
    const std::string item = value.substr(from, comma == std::string::npos ? std::string::npos : comma - from);
    out.push_back(int(parse_int(opt, item, lo, hi)));
    if (comma == std::string::npos) return out;
    from = comma + 1;
  }
}

Command::Command(const std::string& name, const std::string& description)
    : name_(name), app_(description, "rwkv-run " + name) {
  app_.formatter(std::make_shared<HelpFormatter>());
  app_.get_formatter()->column_width(30);
  app_.allow_extras(true);  // unknown options and stray arguments: our own message below
  app_.set_help_flag("-h,--help", "this help");
}

bool Command::parse(int argc, char** argv) {
  try {
    app_.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app_.help().c_str(), stdout);
    return false;
  } catch (const CLI::ArgumentMismatch& e) {
    // CLI11: "--top-p: 1 required X missing"
    const std::string what = e.what();
    usage_fail(what.find(" missing") != std::string::npos ? what.substr(0, what.find(':')) + " needs a value" : what);
  } catch (const CLI::ParseError& e) {
    usage_fail(e.what());
  }
  const std::vector<std::string> rest = app_.remaining();
  if (!rest.empty()) {
    const std::string& a = rest.front();
    if (a.size() > 1 && a[0] == '-') usage_fail("unknown option '" + a + "'");
    usage_fail("unexpected argument '" + a + "'");
  }
  return true;
}

namespace {

// Flushes stdout; false (errno in *err) when a write to it failed, now or earlier.
bool stdout_ok(int* err) {
  errno = 0;
  const bool flushed = std::fflush(stdout) == 0;
  *err = errno ? errno : EIO;
  return flushed && !std::ferror(stdout);
}

}  // namespace

int Command::run(const std::function<int()>& body) const {
  try {
    const int code = body();
    int err = 0;
    // Every command's results end on stdout: a full disk or a closed pipe is an error, not success.
    if (!stdout_ok(&err)) runtime_fail(std::string("cannot write to stdout: ") + std::strerror(err));
    return code;
  } catch (const CliError& e) {
    return report(name_.c_str(), e);
  } catch (const std::bad_alloc&) {
    return report(name_.c_str(), CliError(1, "out of memory"));
  } catch (const std::exception& e) {
    return report(name_.c_str(), CliError(1, e.what()));
  }
}

void add_model(CLI::App& app, ModelArg& m, bool positional) {
  app.add_option("-m,--model", m.flag, "model file: official .pth, safetensors or rwkv.cpp .bin")
      ->type_name("FILE");
  if (positional) app.add_option("MODEL", m.positional, "the model file, as -m FILE")->type_name("");
}

void require_model(const ModelArg& m, const std::string& example) {
  if (!m.flag.empty() && !m.positional.empty())
    usage_fail("give the model once, as -m FILE or as the first argument, not both");
  if (m.path().empty()) usage_fail("no model given: " + example);
}

void add_device(CLI::App& app, std::string& device) {
  app.add_option_function<std::string>(
         "--device",
         [&device](const std::string& v) {
           try {
             rwkv::parse_device(v);  // the one device parser (runtime/engine/device.h)
           } catch (const rwkv::Error&) {
             usage_fail("--device must be auto, cpu, cuda or cuda:N, got '" + v + "'");
           }
           device = v;
         },
         "auto (default: the first usable CUDA device, else cpu), cpu, cuda or cuda:N")
      ->type_name("DEV");
}

void add_dtype(CLI::App& app, std::string& dtype, const std::string& help, bool allow_quant) {
  app.add_option_function<std::string>(
         "--dtype",
         [&dtype, allow_quant](const std::string& v) {
           rwkv::DType t;
           rwkv::QuantKind q;
           if (!rwkv::dtype_from_name(v, &t) && !(allow_quant && rwkv::quant_kind_from_name(v, &q)))
             usage_fail(std::string("--dtype must be fp32, fp16, bf16") + (allow_quant ? ", int8 or q4" : "") +
                        ", got '" + v + "'");
           dtype = v;
         },
         help)
      ->type_name("T");
}

void add_state_dtype(CLI::App& app, std::string& state_dtype) {
  app.add_option_function<std::string>(
         "--state-dtype",
         [&state_dtype](const std::string& v) {
           parse_state_dtype(v);
           state_dtype = v;
         },
         "fp32 (default) or bf16: the WKV matrix state in GPU memory (cuda, v5-v7; halves the state's "
         "traffic; state files stay fp32)")
      ->type_name("T");
}

void add_round_options(CLI::App& app, int& max_rows, int& wkv_chunk_min) {
  app.add_option_function<std::string>(
         "--max-rows",
         [&max_rows](const std::string& v) { max_rows = int(parse_int("--max-rows", v, 1, 65535)); },
         "cuda: token rows per round, 1-65535 (default: automatic, from the free GPU memory)")
      ->type_name("N");
  app.add_option_function<std::string>(
         "--wkv-chunk-min",
         [&wkv_chunk_min](const std::string& v) {
           wkv_chunk_min = int(parse_int("--wkv-chunk-min", v, 0, 65535));
         },
         "cuda: prefill rounds averaging at least N tokens per sequence use the chunked WKV kernels, "
         "shorter ones the sequential kernels (default " + std::to_string(kDefaultWkvChunkMin) +
             "; 0: never chunked)")
      ->type_name("N");
}

rwkv::DType parse_state_dtype(const std::string& state_dtype) {
  rwkv::DType t = rwkv::DType::f32;
  if (!state_dtype.empty() &&
      (!rwkv::dtype_from_name(state_dtype, &t) || (t != rwkv::DType::f32 && t != rwkv::DType::bf16)))
    usage_fail("--state-dtype must be fp32 or bf16, got '" + state_dtype + "'");
  return t;
}

void add_threads(CLI::App& app, int& threads) {
  app.add_option_function<std::string>(
         "-t,--threads", [&threads](const std::string& v) { threads = int(parse_int("--threads", v, 0, 1024)); },
         "CPU threads (default 0: all hardware threads)")
      ->type_name("N");
}

void add_quiet(CLI::App& app, bool& quiet, const std::string& help) { app.add_flag("-q,--quiet", quiet, help); }

void add_tokenizer(CLI::App& app, std::string& tokenizer) {
  app.add_option_function<std::string>(
         "--tokenizer",
         [&tokenizer](const std::string& v) {
           if (v.empty()) usage_fail("--tokenizer needs world, 20b, bytes or a tokenizer file");
           tokenizer = v;
         },
         "world, 20b, bytes or a tokenizer file (default: the one that fits the model's vocabulary)")
      ->type_name("T");
}

void add_json(CLI::App& app, JsonOutput& json, const std::string& what) {
  json.option = app.add_option("--json", json.file,
                               what + " as JSON: alone on stdout in place of the usual output; with FILE "
                                      "(any name) written to FILE")
                    ->expected(0, 1)
                    ->type_name("[FILE]");
}

void write_file_atomic(const std::string& path, const std::string& text) {
  // A device or pipe (/dev/stdout, /dev/full) is written into; a regular file is replaced whole.
  const bool direct = is_special_file(path);
  const std::string tmp = direct ? path : path + ".tmp" + std::to_string(getpid());
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) runtime_fail("cannot write " + path + ": " + std::strerror(errno));
  errno = 0;
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size() && std::fflush(f) == 0;
  const int write_errno = errno;
  if (std::fclose(f) != 0 || !ok || (!direct && std::rename(tmp.c_str(), path.c_str()) != 0)) {
    const int e = !ok && write_errno ? write_errno : errno;
    if (!direct) std::remove(tmp.c_str());
    runtime_fail("cannot write " + path + ": " + std::strerror(e));
  }
}

void print_device_note(const std::string& who, const rwkv::Engine& engine) {
  // Only a build with a real GPU path has a choice to explain; in the CPU-only
  // and emulated builds "auto" is always the CPU.
  if (std::strcmp(RWKV_RUN_GPU_PATH, "cuda") == 0 && !engine.device_note().empty())
    std::fprintf(stderr, "%s: %s\n", who.c_str(), engine.device_note().c_str());
}

void add_model_options(CLI::App& app, ModelOptions& o) {
  add_model(app, o.model, true);
  app.get_option("--model")->group("model");
  add_device(app, o.device);
  add_dtype(app, o.dtype,
            "fp32, fp16, bf16, int8 or q4 (int8/q4: every matrix quantized at load, docs/quantization.md; "
            "cpu: fp32 compute; cuda: default the checkpoint's)");
  add_state_dtype(app, o.state_dtype);
  add_round_options(app, o.max_rows, o.wkv_chunk_min);
  add_threads(app, o.threads);
  add_tokenizer(app, o.tokenizer);
  for (const char* name :
       {"--device", "--dtype", "--state-dtype", "--max-rows", "--wkv-chunk-min", "--threads", "--tokenizer"})
    app.get_option(name)->group("model");
}

void finish_model_options(ModelOptions& o, const std::string& example) {
  require_model(o.model, example);
  o.path = o.model.path();
}

void add_sampler_options(CLI::App& app, SamplerOptions& o) {
  const double kInf = INFINITY;
  const std::string group =
      "sampling (docs/rwkv-math.md section 8: top-p at temperature 1, then top-k, then temperature)";
  auto number = [&app, &group](const char* name, double& dst, double lo, double hi, const std::string& help) {
    app.add_option_function<std::string>(
           name, [&dst, name, lo, hi](const std::string& v) { dst = parse_double(name, v, lo, hi); }, help)
        ->type_name("X")
        ->group(group);
  };
  auto dflt = [](double v) {
    char d[64];
    std::snprintf(d, sizeof d, " (default %g)", v);
    return std::string(d);
  };
  number("--temp", o.temp, 0, 100, "temperature >= 0; 0 = greedy" + dflt(o.temp));
  number("--top-p", o.top_p, 0, 1, "nucleus in [0, 1]; 0 = greedy" + dflt(o.top_p));
  app.add_option_function<std::string>(
         "--top-k", [&o](const std::string& v) { o.top_k = int(parse_int("--top-k", v, 0, INT32_MAX)); },
         "keep the N most likely tokens; 0 = all" + dflt(o.top_k))
      ->type_name("N")
      ->group(group);
  number("--presence", o.presence, -kInf, kInf, "presence penalty" + dflt(o.presence));
  number("--frequency", o.frequency, -kInf, kInf, "frequency penalty" + dflt(o.frequency));
  number("--decay", o.decay, 0, 1, "penalty decay per token, in [0, 1]" + dflt(o.decay));
  app.add_option_function<std::string>(
         "-s,--seed", [&o](const std::string& v) { o.seed = parse_u64("--seed", v); },
         "random seed (default: random; printed on stderr)")
      ->type_name("N")
      ->group(group);
  app.add_option_function<std::vector<std::string>>(
         "--ban",
         [&o](const std::vector<std::string>& values) {
           for (const std::string& v : values) {
             const std::vector<int32_t> ids = parse_id_list("--ban", v);
             o.ban.insert(o.ban.end(), ids.begin(), ids.end());
           }
         },
         "never generate these token ids (repeatable)")
      ->type_name("ID[,ID...]")
      ->allow_extra_args(false)
      ->group(group);
}

uint64_t random_seed() {
  std::random_device rd;
  return (uint64_t(rd()) << 32) ^ uint64_t(rd());
}

}  // namespace cli
