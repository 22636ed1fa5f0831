// tools/rwkv-run/cli_model.cpp: see cli_model.h.
#include "cli_model.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "runtime/core/regular_file.h"

namespace cli {

namespace {

#ifndef RWKV_RUN_GPU_PATH
#define RWKV_RUN_GPU_PATH "none"
#endif

// Progress of the model file's read, redrawn in place ("\r") on a terminal.
struct LoadProgress {
  std::string name;
  int last_percent = -1;
  bool drawn = false;
};

void on_progress(void* user, uint64_t done, uint64_t total) {
  auto* p = static_cast<LoadProgress*>(user);
  if (total < (64u << 20)) return;  // small files load too fast to need it
  const int percent = int(done * 100 / total);
  if (percent == p->last_percent) return;
  p->last_percent = percent;
  p->drawn = true;
  std::fprintf(stderr, "\rloading %s: %3d%% (%.0f / %.0f MiB)", p->name.c_str(), percent,
               double(done) / 1048576.0, double(total) / 1048576.0);
  std::fflush(stderr);
}

std::unique_ptr<rwkv::Model> read_model(const ModelOptions& o) {
  try {
    rwkv::RegularFile check(o.path);  // refuses a FIFO, device or directory without blocking
  } catch (const rwkv::FileError& e) {
    runtime_fail(std::string(e.what()) + " (check the path given to -m)");
  }
  LoadProgress progress;
  progress.name = o.path;
  std::unique_ptr<rwkv::Model> model;
  try {
    model = rwkv::load_model(o.path, isatty(2) ? on_progress : nullptr, &progress);
  } catch (const rwkv::Error& e) {
    if (progress.drawn) std::fputs("\r\033[K", stderr);
    runtime_fail(std::string(e.what()) +
                 " (rwkv-run reads official .pth, safetensors and rwkv.cpp .bin files)");
  }
  if (progress.drawn) std::fputs("\r\033[K", stderr);  // clear the progress line
  for (const std::string& w : model->info.warnings) std::fprintf(stderr, "rwkv-run: note: %s: %s\n", o.path.c_str(), w.c_str());
  return model;
}

// The engine for the model; a failure names what to do about it.
std::unique_ptr<rwkv::Engine> open_engine(const rwkv::Model& model, const ModelOptions& o, int n_slots) {
  rwkv::EngineOptions eo;
  eo.device = o.device;
  eo.backend.threads = o.threads;
  eo.backend.n_slots = n_slots;
  if (!o.dtype.empty()) {
    rwkv::DType t;
    rwkv::QuantKind q;
    if (rwkv::quant_kind_from_name(o.dtype, &q))
      eo.backend.quant = q;  // matrices quantized at load; the rest in the default dtype
    else if (rwkv::dtype_from_name(o.dtype, &t))
      eo.backend.dtype = t;
    else
      usage_fail("unknown dtype '" + o.dtype + "'");
  }
  eo.backend.state_dtype = parse_state_dtype(o.state_dtype);
  eo.backend.max_rows = o.max_rows;
  eo.backend.wkv_chunk_min_tokens = o.wkv_chunk_min;
  const std::string device_hint =
      o.device == "cpu" ? (o.state_dtype.empty() ? std::string()
                                                 : std::string(" (drop --state-dtype, or use --device cuda)"))
                        : std::string(" (this build's GPU path: ") + RWKV_RUN_GPU_PATH +
                              "; --device cpu runs without a GPU)";
  try {
    auto engine = std::make_unique<rwkv::Engine>(model, eo);
    print_device_note("rwkv-run", *engine);
    return engine;
  } catch (const rwkv::InputError& e) {
    if (e.kind == rwkv::InputError::Kind::unsupported) runtime_fail(e.what() + device_hint);
    usage_fail(e.what());
  } catch (const rwkv::Error& e) {
    runtime_fail(e.what() + device_hint);
  }
  return nullptr;
}

std::unique_ptr<rwkv::Tokenizer> open_tokenizer(const std::string& kind) {
  try {
    return rwkv::load_tokenizer(kind);
  } catch (const rwkv::Error& e) {
    runtime_fail(std::string(e.what()) +
                 (kind == "world" || kind == "20b"
                      ? " (--tokenizer FILE)"
                      : ""));
  }
  return nullptr;
}

}  // namespace

LoadedModel load_model_and_tokenizer(const ModelOptions& o, int n_slots) {
  if (o.path.empty()) usage_fail("no model given (use -m MODEL)");
  const auto t0 = std::chrono::steady_clock::now();
  LoadedModel m;
  {
    const std::unique_ptr<rwkv::Model> model = read_model(o);
    m.engine = open_engine(*model, o, n_slots);  // keeps its own weights
    m.info = model->info;
  }
  m.version = rwkv::arch_name(m.info.arch);
  m.device = m.engine->device().name();
  rwkv::QuantKind quant;
  m.dtype = rwkv::quant_kind_from_name(o.dtype, &quant) ? std::string(rwkv::quant_kind_name(quant)) + " weights, " +
                                                             rwkv::dtype_name(m.engine->compute_dtype())
                                                       : std::string(rwkv::dtype_name(m.engine->compute_dtype()));

  std::string kind = o.tokenizer;
  if (kind.empty()) {
    try {
      kind = rwkv::tokenizer_kind_for_vocab(m.info.n_vocab);
    } catch (const rwkv::Error&) {
      runtime_fail("the model's vocabulary (" + std::to_string(m.info.n_vocab) +
                   " tokens) has no standard tokenizer; pass --tokenizer FILE");
    }
  }
  m.tokenizer = open_tokenizer(kind);
  if (m.tokenizer->vocab_size() != m.info.n_vocab)
    usage_fail("the tokenizer '" + kind + "' has " + std::to_string(m.tokenizer->vocab_size()) +
               " tokens but the model's vocabulary has " + std::to_string(m.info.n_vocab) +
               "; pass the matching --tokenizer");
  m.load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return m;
}

rwkv::SamplerParams sampler_params(const SamplerOptions& o) {
  rwkv::SamplerParams p;
  p.temperature = o.temp;
  p.top_p = o.top_p;
  p.top_k = o.top_k;
  p.alpha_presence = o.presence;
  p.alpha_frequency = o.frequency;
  p.alpha_decay = o.decay;
  p.token_ban = o.ban;
  return p;
}

void note_replaced_bytes(const char* cmd, const rwkv::Tokenizer& tokenizer, const std::string& text) {
  const size_t n = tokenizer.replaced_bytes(text);
  if (n)
    std::fprintf(stderr,
                 "rwkv-run %s: note: %zu byte%s of the input %s not valid UTF-8; the %s tokenizer replaced them by "
                 "U+FFFD\n",
                 cmd, n, n == 1 ? "" : "s", n == 1 ? "is" : "are", tokenizer.kind());
}

}  // namespace cli
