// tools/rwkv-run/cli_model.cpp: see cli_model.h.
#include "cli_model.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>

namespace cli {

namespace {

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

// What to do about a failed load, by status.
std::string load_hint(rwkv_status s, const ModelOptions& o) {
  switch (s) {
    case RWKV_ERR_FILE: return " (check the path given to -m)";
    case RWKV_ERR_FORMAT: return " (rwkv-run reads official .pth, safetensors and rwkv.cpp .bin files)";
    case RWKV_ERR_UNSUPPORTED:
    case RWKV_ERR_DEVICE:
      if (o.device == "cpu")
        return o.dtype.empty() ? std::string() : std::string(" (drop --dtype, or use --device cuda)");
      return std::string(" (this build's GPU path: ") + rwkv_gpu_support() + "; --device cpu runs without a GPU)";
    default: return "";
  }
}

}  // namespace

void check(rwkv_status s, const rwkv_model* model, const std::string& what) {
  if (s == RWKV_OK) return;
  runtime_fail(what + ": " + rwkv_model_last_error(model));
}

LoadedModel load_model_and_tokenizer(const ModelOptions& o, int n_slots) {
  if (o.path.empty()) usage_fail("no model given (use -m MODEL)");
  const auto t0 = std::chrono::steady_clock::now();
  rwkv_model_params mp = rwkv_model_default_params();
  mp.device = o.device.c_str();
  mp.dtype = o.dtype.empty() ? nullptr : o.dtype.c_str();
  mp.n_threads = o.threads;
  mp.n_slots = n_slots;
  LoadProgress progress;
  progress.name = o.path;
  if (isatty(2)) {
    mp.progress = on_progress;
    mp.progress_user_data = &progress;
  }
  char err[1024];
  rwkv_model* raw = nullptr;
  const rwkv_status s = rwkv_model_load(o.path.c_str(), &mp, &raw, err, sizeof err);
  if (progress.drawn) std::fputs("\r\033[K", stderr);  // clear the progress line
  if (s != RWKV_OK) {
    const std::string msg = std::string(err) + load_hint(s, o);
    if (s == RWKV_ERR_INVALID_ARGUMENT) usage_fail(msg);
    runtime_fail(msg);
  }
  LoadedModel m;
  m.model.reset(raw);
  rwkv_model_get_info(raw, &m.info);

  const std::string kind = o.tokenizer.empty() ? m.info.tokenizer_kind : o.tokenizer;
  if (kind.empty())
    runtime_fail("the model's vocabulary (" + std::to_string(m.info.n_vocab) +
                 " tokens) has no standard tokenizer; pass --tokenizer FILE");
  rwkv_tokenizer* tok = nullptr;
  if (rwkv_tokenizer_load(kind.c_str(), &tok, err, sizeof err) != RWKV_OK)
    runtime_fail(std::string(err) +
                 (kind == "world" || kind == "20b"
                      ? " (set RWKV_TOKENIZER_DIR, run scripts/setup.sh, or pass --tokenizer FILE)"
                      : ""));
  m.tokenizer.reset(tok);
  if (rwkv_tokenizer_n_vocab(tok) != m.info.n_vocab)
    usage_fail("the tokenizer '" + kind + "' has " + std::to_string(rwkv_tokenizer_n_vocab(tok)) +
               " tokens but the model's vocabulary has " + std::to_string(m.info.n_vocab) +
               "; pass the matching --tokenizer");
  m.load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return m;
}

SamplerPtr make_sampler(const rwkv_sampler_params& p) {
  rwkv_sampler* s = nullptr;
  char err[512];
  if (rwkv_sampler_init(&p, &s, err, sizeof err) != RWKV_OK) usage_fail(err);
  return SamplerPtr(s);
}

}  // namespace cli
