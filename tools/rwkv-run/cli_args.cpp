// tools/rwkv-run/cli_args.cpp: see cli_args.h.
#include "cli_args.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "runtime/engine/device.h"

namespace cli {

void usage_fail(const std::string& msg) { throw CliError(2, msg); }
void runtime_fail(const std::string& msg) { throw CliError(1, msg); }

int report(const char* cmd, const CliError& e) {
  std::string msg = e.what();
  for (char& c : msg)
    if (c == '\n' || c == '\r') c = ' ';  // always one line
  std::fprintf(stderr, "rwkv-run %s: %s\n", cmd, msg.c_str());
  return e.exit_code;
}

namespace {

std::string range_text(double lo, double hi) {
  char buf[96];
  if (std::isinf(hi)) std::snprintf(buf, sizeof buf, ">= %g", lo);
  else std::snprintf(buf, sizeof buf, "in [%g, %g]", lo, hi);
  return buf;
}

}  // namespace

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
  if (value.empty() || value[0] == '-' || end == s || *end || errno == ERANGE)
    usage_fail(opt + " needs a whole number in [0, 2^64), got '" + value + "'");
  return uint64_t(v);
}

std::vector<int32_t> parse_id_list(const std::string& opt, const std::string& value) {
  std::vector<int32_t> ids;
  std::string item;
  auto flush = [&] {
    if (item.empty()) return;
    ids.push_back(int32_t(parse_int(opt, item, 0, INT32_MAX)));
    item.clear();
  };
  for (char c : value) {
    if (c == ',' || c == ' ' || c == '\t') flush();
    else item += c;
  }
  flush();
  if (ids.empty()) usage_fail(opt + " needs token ids, e.g. " + opt + " 0 or " + opt + " 11,261");
  return ids;
}

std::string ArgCursor::next() {
  inline_value_.reset();
  std::string a = argv_[i_++];
  const size_t eq = a.find('=');
  if (a.size() > 2 && a.compare(0, 2, "--") == 0 && eq != std::string::npos) {
    inline_value_ = a.substr(eq + 1);
    a.resize(eq);
  }
  opt_ = a;
  return a;
}

std::string ArgCursor::value() {
  if (inline_value_) {
    std::string v = *inline_value_;
    inline_value_.reset();
    return v;
  }
  if (i_ >= argc_) usage_fail(opt_ + " needs a value (see --help)");
  return argv_[i_++];
}

const char kModelOptionsHelp[] =
    "model:\n"
    "  -m, --model FILE       model file: official .pth, safetensors or rwkv.cpp .bin\n"
    "  --device DEV           cpu (default), auto, cuda or cuda:N\n"
    "  --dtype T              fp32, fp16 or bf16 (cpu: fp32 only; cuda: default the checkpoint's)\n"
    "  --threads N            CPU threads (default 0: all hardware threads)\n"
    "  --tokenizer T          world, 20b, bytes or a tokenizer file (default: the one that\n"
    "                         fits the model's vocabulary)\n";

bool parse_model_option(const std::string& opt, ArgCursor& args, ModelOptions& o) {
  if (opt == "-m" || opt == "--model") {
    o.path = args.value();
    if (o.path.empty()) usage_fail(opt + " needs a model file");
  } else if (opt == "--device") {
    o.device = args.value();
    try {
      rwkv::parse_device(o.device);  // the one device parser (runtime/engine/device.h)
    } catch (const rwkv::InputError&) {
      usage_fail("--device must be auto, cpu, cuda or cuda:N, got '" + o.device + "'");
    }
  } else if (opt == "--dtype") {
    o.dtype = args.value();
    if (o.dtype != "fp32" && o.dtype != "fp16" && o.dtype != "bf16")
      usage_fail("--dtype must be fp32, fp16 or bf16, got '" + o.dtype + "'");
  } else if (opt == "--threads" || opt == "-t") {
    o.threads = int(parse_int(opt, args.value(), 0, 1024));
  } else if (opt == "--tokenizer") {
    o.tokenizer = args.value();
    if (o.tokenizer.empty()) usage_fail("--tokenizer needs world, 20b, bytes or a file");
  } else {
    return false;
  }
  return true;
}

bool parse_sampler_option(const std::string& opt, ArgCursor& args, SamplerOptions& o) {
  const double kInf = INFINITY;
  if (opt == "--temp") o.temp = parse_double(opt, args.value(), 0, 100);
  else if (opt == "--top-p") o.top_p = parse_double(opt, args.value(), 0, 1);
  else if (opt == "--top-k") o.top_k = int(parse_int(opt, args.value(), 0, INT32_MAX));
  else if (opt == "--presence") o.presence = parse_double(opt, args.value(), -kInf, kInf);
  else if (opt == "--frequency") o.frequency = parse_double(opt, args.value(), -kInf, kInf);
  else if (opt == "--decay") o.decay = parse_double(opt, args.value(), 0, 1);
  else if (opt == "--seed" || opt == "-s") o.seed = parse_u64(opt, args.value());
  else if (opt == "--ban") {
    const std::vector<int32_t> ids = parse_id_list(opt, args.value());
    o.ban.insert(o.ban.end(), ids.begin(), ids.end());
  } else {
    return false;
  }
  return true;
}

std::string sampler_options_help(const SamplerOptions& d) {
  char buf[1200];
  std::snprintf(buf, sizeof buf,
                "sampling (rwkv-spec.md 8: top-p at temperature 1, then top-k, then temperature):\n"
                "  --temp X               temperature >= 0; 0 = greedy (default %g)\n"
                "  --top-p X              nucleus in [0, 1]; 0 = greedy (default %g)\n"
                "  --top-k N              keep the N most likely tokens; 0 = all (default %d)\n"
                "  --presence X           presence penalty (default %g)\n"
                "  --frequency X          frequency penalty (default %g)\n"
                "  --decay X              penalty decay per token, in [0, 1] (default %g)\n"
                "  -s, --seed N           random seed (default: random; printed on stderr)\n"
                "  --ban ID[,ID...]       never generate these token ids (repeatable)\n",
                d.temp, d.top_p, d.top_k, d.presence, d.frequency, d.decay);
  return buf;
}

uint64_t random_seed() {
  std::random_device rd;
  return (uint64_t(rd()) << 32) ^ uint64_t(rd());
}

}  // namespace cli
