// tools/rwkv-run/cmd_logits.cpp: `rwkv-run logits`, the model's raw outputs
// for a token list, in the golden file formats (docs/testdata.md section 2):
//   logits: raw little-endian float32 [T, V] (with --last: [V])
//   --state-in / --state-out: the checked state file of generate, chat and the
//           C API (runtime/state/state_file.h: model fingerprint, checksum)
//   --raw-state-out: the flat float32 state in the official order
//           (runtime/backend/state_layout.h), i.e. the golden
//           state_rnn_final/NNN_*.f32 files concatenated.
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

#include "cli_args.h"
#include "cli_output_path.h"
#include "commands.h"
#include "runtime/backend/backend.h"
#include "runtime/engine/engine.h"
#include "runtime/model/model.h"
#include "runtime/state/state_file.h"
#include "runtime/tokenizer/tokenizer.h"

namespace {

struct Options {
  cli::ModelArg model;
  std::string tokens, text, out, device = "auto", mode = "seq", state_in, state_out, raw_state_out, tokenizer,
                                  dtype, state_dtype;
  bool have_tokens = false, have_text = false, last = false;
  bool state_out_given = false, raw_state_out_given = false;  // to refuse an empty name
  int threads = 0;
  int max_rows = 0, wkv_chunk_min = cli::kDefaultWkvChunkMin;
};

void add_options(cli::Command& cmd, Options& o) {
  CLI::App& app = cmd.app();
  cli::add_model(app, o.model, true);
  CLI::Option* tokens = app.add_option("--tokens", o.tokens, "token ids, e.g. 1,2,3")->type_name("IDS");
  app.add_option("--text", o.text, "text, tokenized with the model's tokenizer (or --tokenizer)")
      ->type_name("TEXT")
      ->excludes(tokens);
  app.add_option("--out", o.out, "logits file: raw float32 [T, V], one row per token (with --last: [V])")
      ->type_name("FILE")
      ->required();
  cli::add_device(app, o.device);
  cli::add_dtype(app, o.dtype, "cuda: weights' dtype fp32, fp16 or bf16 (default: the checkpoint's; cpu: fp32)");
  cli::add_state_dtype(app, o.state_dtype);
  cli::add_round_options(app, o.max_rows, o.wkv_chunk_min);
  app.add_option_function<std::string>(
         "--mode",
         [&o](const std::string& v) {
           if (v != "rnn" && v != "seq") cli::usage_fail("--mode must be rnn or seq, got '" + v + "'");
           o.mode = v;
         },
         "rnn: one token per call; seq (default): the whole list in one call")
      ->type_name("M");
  app.add_flag("--last", o.last, "write only the last token's logits");
  cli::add_threads(app, o.threads);
  app.add_option("--state-in", o.state_in, "start from a state file of --state-out, generate or chat (same model)")
      ->type_name("FILE");
  app.add_option("--state-out", o.state_out, "save the final state: the checked state file of generate and chat")
      ->type_name("FILE");
  app.add_option("--raw-state-out", o.raw_state_out,
                 "save the final state as raw float32 in the official order (the golden state_*/NNN_<name>.f32 "
                 "files concatenated)")
      ->type_name("FILE");
  cli::add_tokenizer(app, o.tokenizer);
}

// Writes to PATH.tmp.<pid> and renames it over PATH; into PATH itself when it is a device or pipe.
void write_floats_atomic(const std::string& path, const float* data, size_t n) {
  const bool direct = cli::is_special_file(path);
  const std::string tmp = direct ? path : path + ".tmp." + std::to_string(static_cast<long>(getpid()));
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw rwkv::Error(path + ": cannot create " + tmp + " (" + std::strerror(errno) + ")");
  const size_t put = n ? std::fwrite(data, sizeof(float), n, f) : 0;
  const bool ok = put == n && std::fflush(f) == 0 && (direct || fsync(fileno(f)) == 0);
  const int write_errno = errno;
  if (std::fclose(f) != 0 || !ok) {
    const int e = ok ? errno : write_errno;
    if (!direct) std::remove(tmp.c_str());
    throw rwkv::Error(path + ": write failed (" + std::strerror(e) + ")");
  }
  if (direct) return;
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    std::remove(tmp.c_str());
    throw rwkv::Error(path + ": cannot rename " + tmp + " (" + std::strerror(e) + ")");
  }
}

int run(Options o) {
  const std::vector<std::string> inputs = {o.model.path(), o.state_in};
  o.out = cli::checked_output_path("--out", o.out, inputs, false);
  if (!o.state_out.empty() || o.state_out_given)
    o.state_out = cli::checked_output_path("--state-out", o.state_out, {o.model.path()}, true);
  if (!o.raw_state_out.empty() || o.raw_state_out_given)
    o.raw_state_out = cli::checked_output_path("--raw-state-out", o.raw_state_out, inputs, false);
  std::unique_ptr<rwkv::Model> model = rwkv::load_model(o.model.path());
  rwkv::EngineOptions eo;
  eo.device = o.device;
  eo.backend.threads = o.threads;
  rwkv::DType dtype;
  if (!o.dtype.empty() && rwkv::dtype_from_name(o.dtype, &dtype)) eo.backend.dtype = dtype;
  eo.backend.state_dtype = cli::parse_state_dtype(o.state_dtype);
  eo.backend.max_rows = o.max_rows;
  eo.backend.wkv_chunk_min_tokens = o.wkv_chunk_min;
  rwkv::Engine engine(*model, eo);
  cli::print_device_note("rwkv-run logits", engine);
  rwkv::Backend& backend = engine.host_backend();  // states in host memory on every device
  if (backend.device_bytes())
    std::fprintf(stderr, "rwkv-run logits: %s backend holds %.1f MiB of device memory\n", backend.name(),
                 backend.device_bytes() / 1048576.0);
  const size_t V = static_cast<size_t>(backend.info().n_vocab);
  const size_t S = backend.state_layout().size();

  std::vector<int32_t> tokens;
  if (o.have_tokens) {
    // Malformed ids are usage errors; ids outside the vocabulary are the backend's to refuse.
    tokens = cli::parse_id_list("--tokens", o.tokens, INT32_MIN, INT32_MAX);
  } else {
    const std::string kind =
        o.tokenizer.empty() ? rwkv::tokenizer_kind_for_vocab(backend.info().n_vocab) : o.tokenizer;
    tokens = rwkv::load_tokenizer(kind)->encode(o.text);
  }
  if (tokens.empty()) throw rwkv::Error("no tokens to run (empty token list)");

  const rwkv::StateFileModel& file_model = engine.state_file_model();
  std::vector<float> state(S);
  if (o.state_in.empty()) backend.init_state(state.data());
  else state = rwkv::read_state_file(o.state_in, file_model);

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
    // The whole list is checked first, so a bad id late in it changes nothing.
    rwkv::Batch whole;
    whole.seqs.push_back({tokens.data(), T, state.data(), S});
    rwkv::validate_spans(whole, backend.info().n_vocab);
    for (size_t t = 0; t < T; ++t) {
      float* row = o.last ? logits.data() : logits.data() + t * V;
      forward(&tokens[t], 1, rwkv::LogitsMode::all, row);
    }
  }

  write_floats_atomic(o.out, logits.data(), logits.size());
  if (!o.state_out.empty()) rwkv::write_state_file(o.state_out, file_model, state.data());
  if (!o.raw_state_out.empty()) write_floats_atomic(o.raw_state_out, state.data(), state.size());
  std::fprintf(stderr, "rwkv-run logits: %zu tokens, %s mode, wrote %s [%s%zu]%s%s\n", T,
               o.mode.c_str(), o.out.c_str(), o.last ? "" : (std::to_string(T) + ", ").c_str(), V,
               o.state_out.empty() ? "" : " and state ", o.state_out.c_str());
  return 0;
}

}  // namespace

int cmd_logits(int argc, char** argv) {
  Options o;
  cli::Command cmd("logits",
                   "Runs the tokens through the model and writes the logits as raw float32. --state-in starts\n"
                   "from a saved state (default: the model's initial state).");
  add_options(cmd, o);
  return cmd.run([&] {
    if (!cmd.parse(argc, argv)) return 0;
    cli::require_model(o.model, "rwkv-run logits -m MODEL --tokens 1,2,3 --out FILE.f32");
    o.have_tokens = cmd.app().count("--tokens") > 0;
    o.have_text = cmd.app().count("--text") > 0;
    o.state_out_given = cmd.app().count("--state-out") > 0;
    o.raw_state_out_given = cmd.app().count("--raw-state-out") > 0;
    if (!o.have_tokens && !o.have_text) cli::usage_fail("give one of --tokens and --text");
    if (o.have_tokens) cli::parse_id_list("--tokens", o.tokens, INT32_MIN, INT32_MAX);  // before the model loads
    return run(o);
  });
}
