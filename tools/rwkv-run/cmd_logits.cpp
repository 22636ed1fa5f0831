// tools/rwkv-run/cmd_logits.cpp: `rwkv-run logits`, the model's raw outputs
// for a token list, in the golden file formats (testdata/README.md):
//   logits: raw little-endian float32 [T, V] (with --last: [V])
//   state:  the flat float32 state in the official order (runtime/backend/state_layout.h),
//           i.e. the golden state_rnn_final/NNN_*.f32 files concatenated.
// Output files are written to a temporary name beside the target and renamed.
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "runtime/backend/backend.h"
#include "runtime/engine/engine.h"
#include "runtime/model/model.h"
#include "runtime/tokenizer/tokenizer.h"

namespace {

const char kUsage[] =
    "usage: rwkv-run logits MODEL (--tokens 1,2,3 | --text TEXT) --out FILE.f32\n"
    "                       [--device cpu|cuda[:N]] [--dtype fp32|fp16|bf16] [--mode rnn|seq]\n"
    "                       [--last] [--threads N]\n"
    "                       [--state-in FILE] [--state-out FILE] [--tokenizer world|20b|bytes|FILE]\n"
    "  Runs the tokens through the model and writes the logits as raw float32:\n"
    "  [T, V] rows (one per token), or with --last only the last token's [V].\n"
    "  --mode rnn feeds one token per call, seq (default) the whole list in one call.\n"
    "  --device cuda runs the GPU backend (weights in --dtype, default the checkpoint's).\n"
    "  --state-in starts from a saved state (default: the model's initial state);\n"
    "  --state-out saves the final state: flat float32 in the official order\n"
    "  (the golden state_*/NNN_<name>.f32 files concatenated).\n"
    "  --text is tokenized with the tokenizer that goes with the model's vocabulary\n"
    "  unless --tokenizer names one.\n";

struct Options {
  std::string model, tokens, text, out, device = "cpu", mode = "seq", state_in, state_out,
                                        tokenizer;
  bool have_dtype = false;
  rwkv::DType dtype = rwkv::DType::f32;
  bool have_tokens = false, have_text = false, last = false;
  int threads = 0;
};

int usage_error(const std::string& msg) {
  std::fprintf(stderr, "rwkv-run logits: %s\n%s", msg.c_str(), kUsage);
  return 2;
}

std::vector<int32_t> parse_tokens(const std::string& s) {
  std::vector<int32_t> r;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ',' || s[i] == ' ' || s[i] == '\t' || s[i] == '\n')) ++i;
    if (i >= s.size()) break;
    const char* begin = s.c_str() + i;
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(begin, &end, 10);
    if (end == begin || errno == ERANGE || v < INT32_MIN || v > INT32_MAX ||
        (*end && *end != ',' && *end != ' ' && *end != '\t' && *end != '\n'))
      throw rwkv::Error("--tokens: '" + std::string(begin, std::strcspn(begin, ", \t\n")) +
                        "' is not a token id");
    r.push_back(static_cast<int32_t>(v));
    i = static_cast<size_t>(end - s.c_str());
  }
  return r;
}

std::vector<float> read_floats(const std::string& path, size_t expected) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw rwkv::Error(path + ": cannot open (" + std::strerror(errno) + ")");
  std::fseek(f, 0, SEEK_END);
  const long bytes = std::ftell(f);
  std::fseek(f, 0, SEEK_SET);
  if (bytes < 0 || static_cast<size_t>(bytes) != expected * sizeof(float)) {
    std::fclose(f);
    throw rwkv::Error(path + ": state file has " + std::to_string(bytes) +
                      " bytes, the model's state is " + std::to_string(expected) + " floats (" +
                      std::to_string(expected * sizeof(float)) + " bytes)");
  }
  std::vector<float> v(expected);
  const size_t got = std::fread(v.data(), sizeof(float), expected, f);
  std::fclose(f);
  if (got != expected) throw rwkv::Error(path + ": short read");
  return v;
}

// Writes to PATH.tmp.<pid> and renames it over PATH.
void write_floats_atomic(const std::string& path, const float* data, size_t n) {
  const std::string tmp = path + ".tmp." + std::to_string(static_cast<long>(getpid()));
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw rwkv::Error(path + ": cannot create " + tmp + " (" + std::strerror(errno) + ")");
  const size_t put = n ? std::fwrite(data, sizeof(float), n, f) : 0;
  const bool ok = put == n && std::fflush(f) == 0 && fsync(fileno(f)) == 0;
  if (std::fclose(f) != 0 || !ok) {
    std::remove(tmp.c_str());
    throw rwkv::Error(path + ": write failed (" + std::strerror(errno) + ")");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    std::remove(tmp.c_str());
    throw rwkv::Error(path + ": cannot rename " + tmp + " (" + std::strerror(e) + ")");
  }
}

int run(const Options& o) {
  std::unique_ptr<rwkv::Model> model = rwkv::load_model(o.model);
  rwkv::EngineOptions eo;
  eo.device = o.device;
  eo.backend.threads = o.threads;
  if (o.have_dtype) eo.backend.dtype = o.dtype;
  rwkv::Engine engine(*model, eo);
  if (!engine.device_note().empty()) std::fprintf(stderr, "rwkv-run logits: %s\n", engine.device_note().c_str());
  rwkv::Backend& backend = engine.host_backend();  // states in host memory on every device
  if (backend.device_bytes())
    std::fprintf(stderr, "rwkv-run logits: %s backend holds %.1f MiB of device memory\n", backend.name(),
                 backend.device_bytes() / 1048576.0);
  const size_t V = static_cast<size_t>(backend.info().n_vocab);
  const size_t S = backend.state_layout().size();

  std::vector<int32_t> tokens;
  if (o.have_tokens) {
    tokens = parse_tokens(o.tokens);
  } else {
    const std::string kind =
        o.tokenizer.empty() ? rwkv::tokenizer_kind_for_vocab(backend.info().n_vocab) : o.tokenizer;
    tokens = rwkv::load_tokenizer(kind)->encode(o.text);
  }
  if (tokens.empty()) throw rwkv::Error("no tokens to run (empty token list)");

  std::vector<float> state(S);
  if (o.state_in.empty()) backend.init_state(state.data());
  else state = read_floats(o.state_in, S);

  const size_t T = tokens.size();
  std::vector<float> logits((o.last ? 1 : T) * V);
  auto forward = [&](const int32_t* tok, size_t n, rwkv::LogitsMode mode, float* out) {
    rwkv::Batch b;
    b.logits = mode;
    b.seqs.push_back({tok, n, state.data(), S});
    backend.forward(b, out);
  };
  if (o.mode == "seq") {
    forward(tokens.data(), T, o.last ? rwkv::LogitsMode::last : rwkv::LogitsMode::all, logits.data());
  } else {
    // Validate everything first so a bad id late in the list changes nothing.
    for (size_t t = 0; t < T; ++t)
      if (tokens[t] < 0 || static_cast<size_t>(tokens[t]) >= V)
        throw rwkv::Error("token " + std::to_string(tokens[t]) + " at position " + std::to_string(t) +
                          " is outside the vocabulary [0, " + std::to_string(V) + ")");
    for (size_t t = 0; t < T; ++t) {
      float* row = o.last ? logits.data() : logits.data() + t * V;
      forward(&tokens[t], 1, rwkv::LogitsMode::all, row);
    }
  }

  write_floats_atomic(o.out, logits.data(), logits.size());
  if (!o.state_out.empty()) write_floats_atomic(o.state_out, state.data(), state.size());
  std::fprintf(stderr, "rwkv-run logits: %zu tokens, %s mode, wrote %s [%s%zu]%s%s\n", T,
               o.mode.c_str(), o.out.c_str(), o.last ? "" : (std::to_string(T) + ", ").c_str(), V,
               o.state_out.empty() ? "" : " and state ", o.state_out.c_str());
  return 0;
}

}  // namespace

int cmd_logits(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](std::string& dst) {
      if (i + 1 >= argc) return false;
      dst = argv[++i];
      return true;
    };
    std::string v;
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (a == "--tokens") {
      if (!value(o.tokens)) return usage_error(a + " needs a value");
      o.have_tokens = true;
    } else if (a == "--text") {
      if (!value(o.text)) return usage_error(a + " needs a value");
      o.have_text = true;
    } else if (a == "--out") {
      if (!value(o.out)) return usage_error(a + " needs a value");
    } else if (a == "--device") {
      if (!value(o.device)) return usage_error(a + " needs a value");
    } else if (a == "--dtype") {
      if (!value(v)) return usage_error(a + " needs a value");
      if (!rwkv::dtype_from_name(v, &o.dtype)) return usage_error("--dtype must be fp32, fp16 or bf16");
      o.have_dtype = true;
    } else if (a == "--mode") {
      if (!value(o.mode)) return usage_error(a + " needs a value");
      if (o.mode != "rnn" && o.mode != "seq") return usage_error("--mode must be rnn or seq");
    } else if (a == "--state-in") {
      if (!value(o.state_in)) return usage_error(a + " needs a value");
    } else if (a == "--state-out") {
      if (!value(o.state_out)) return usage_error(a + " needs a value");
    } else if (a == "--tokenizer") {
      if (!value(o.tokenizer)) return usage_error(a + " needs a value");
    } else if (a == "--threads") {
      if (!value(v)) return usage_error(a + " needs a value");
      char* end = nullptr;
      const long n = std::strtol(v.c_str(), &end, 10);
      if (end == v.c_str() || *end || n < 0 || n > 1024) return usage_error("--threads: bad count '" + v + "'");
      o.threads = static_cast<int>(n);
    } else if (a == "--last") {
      o.last = true;
    } else if (!a.empty() && a[0] == '-') {
      return usage_error("unknown option '" + a + "'");
    } else if (o.model.empty()) {
      o.model = a;
    } else {
      return usage_error("unexpected argument '" + a + "'");
    }
  }
  if (o.model.empty()) return usage_error("no MODEL given");
  if (o.have_tokens == o.have_text) return usage_error("give exactly one of --tokens and --text");
  if (o.out.empty()) return usage_error("--out FILE is required");
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rwkv-run logits: %s\n", e.what());
    return 1;
  }
}
