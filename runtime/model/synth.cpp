// runtime/model/synth.cpp: synthetic RWKV checkpoints (see synth.h).
//
// Shapes follow the released models: sizes, vocabulary, FFN and LoRA widths
// come from the version registry (runtime/arch/v*.cpp, released_sizes and
// released_hyper_parameters), the tensor list from its schema.
// Value ranges are those of trained checkpoints, roughly: mixing
// coefficients in [0,1], LayerNorm weights near 1, matrices ~ U(+-sqrt(3/in)*k).
#include "runtime/model/synth.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <thread>

#include "runtime/arch/arch.h"
#include "runtime/core/half_float.h"

namespace rwkv {

namespace {

// The registry's spec of a version that has released sizes, or an error.
const ArchSpec& released_spec(const std::string& version) {
  Arch a;
  if (!arch_from_name(version, &a) || arch_spec(a).released_sizes().empty())
    throw Error("synth: version '" + version + "' (use 4, 5.2, 6 or 7)");
  return arch_spec(a);
}

}  // namespace

ModelInfo synth_model_info(const SynthSpec& sp) {
  ModelInfo in;
  in.arch = sp.arch;
  in.n_embd = in.n_att = sp.n_embd;
  in.n_layer = sp.n_layer;
  in.n_vocab = sp.n_vocab;
  in.n_ffn = sp.n_ffn;
  if (arch_spec(sp.arch).has_heads()) {
    in.head_size = sp.head_size;
    in.n_head = sp.n_embd / sp.head_size;
  }
  in.lora_w = sp.lora_w;
  in.lora_a = sp.lora_a;
  in.lora_v = sp.lora_v;
  in.lora_g = sp.lora_g;
  in.lora_maa = sp.lora_maa;
  in.lora_decay = sp.lora_decay;
  return in;
}

namespace {

// splitmix64: a counter-based generator, so element i needs no state.
uint64_t mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t name_hash(const std::string& s) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

bool ends_with(const std::string& s, const char* suffix) {
  size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

// Uniform range [lo, hi) for a tensor, from its name and shape.
void value_range(const SynthSpec& sp, const std::string& n, const std::vector<int64_t>& shape,
                 double* lo, double* hi) {
  auto sym = [&](double a) { *lo = -a; *hi = a; };
  auto in_width = [&]() { return double(shape.back()); };
  const double C = sp.n_embd;
  if (n == "emb.weight") return sym(1.7);
  if (ends_with(n, "ln_x.weight")) { *lo = 0.3; *hi = 1.5; return; }
  if (ends_with(n, ".weight") && shape.size() == 1) { *lo = 0.6; *hi = 1.4; return; }  // LayerNorms
  if (ends_with(n, ".bias")) return sym(0.2);
  if (n == "head.weight") return sym(std::sqrt(3.0 / C));
  if (ends_with(n, ".weight")) return sym(0.5 * std::sqrt(3.0 / in_width()));  // projections
  if (n.find("time_mix") != std::string::npos || n.find("time_maa_") != std::string::npos ||
      n.find(".x_") != std::string::npos) {
    if (ends_with(n, "_w1") || ends_with(n, "_w2")) return sym(0.1 * std::sqrt(3.0 / in_width()));
    *lo = 0.0;
    *hi = 1.0;
    return;
  }
  if (ends_with(n, "time_decay")) { *lo = -8.0; *hi = 1.0; return; }
  if (ends_with(n, "time_first")) { *lo = -2.0; *hi = 1.0; return; }
  if (ends_with(n, "time_faaaa")) return sym(1.0);
  if (ends_with(n, "time_decay_w1") || ends_with(n, "time_decay_w2")) return sym(0.1 * std::sqrt(3.0 / in_width()));
  if (ends_with(n, ".w0")) { *lo = -7.0; *hi = -1.0; return; }
  if (ends_with(n, ".a0")) return sym(1.0);
  if (ends_with(n, ".v0")) { *lo = 0.0; *hi = 2.0; return; }
  if (ends_with(n, ".k_k")) { *lo = 0.6; *hi = 1.0; return; }
  if (ends_with(n, ".k_a")) { *lo = 0.8; *hi = 1.2; return; }
  if (ends_with(n, ".r_k")) return sym(0.5);
  // v7 LoRA matrices w1..g2
  return sym(0.2 * std::sqrt(3.0 / in_width()));
}

}  // namespace

std::vector<std::string> synth_sizes(const std::string& version) {
  std::vector<std::string> out;
  for (const ReleasedSize& r : released_spec(version).released_sizes()) out.push_back(r.size);
  return out;
}

namespace {

// A spec with the released hyper-parameters of a model of width n_embd.
SynthSpec spec_of_width(const ArchSpec& spec, const std::string& size, int n_embd, int n_layer) {
  ModelInfo in;
  in.arch = spec.arch();
  in.n_embd = n_embd;
  in.n_layer = n_layer;
  spec.released_hyper_parameters(in);
  SynthSpec s;
  s.arch = in.arch;
  s.size = size;
  s.n_embd = in.n_embd;
  s.n_layer = in.n_layer;
  s.n_vocab = in.n_vocab;
  s.n_ffn = in.n_ffn;
  if (in.head_size > 0) s.head_size = in.head_size;
  s.lora_w = in.lora_w;
  s.lora_a = in.lora_a;
  s.lora_v = in.lora_v;
  s.lora_g = in.lora_g;
  s.lora_maa = in.lora_maa;
  s.lora_decay = in.lora_decay;
  return s;
}

}  // namespace

SynthSpec synth_spec(const std::string& version, const std::string& size) {
  const ArchSpec& spec = released_spec(version);
  const std::vector<ReleasedSize> sizes = spec.released_sizes();
  for (const ReleasedSize& r : sizes)
    if (size == r.size) return spec_of_width(spec, r.size, r.n_embd, r.n_layer);
  std::string known;
  for (const ReleasedSize& r : sizes) known += std::string(known.empty() ? "" : ", ") + r.size;
  throw Error("synth: no released v" + version + " model of size '" + size + "' (known: " + known + ")");
}

SynthSpec synth_spec_of_width(const std::string& version, int n_embd, int n_layer, int n_vocab) {
  SynthSpec s = spec_of_width(released_spec(version), "custom", n_embd, n_layer);
  s.n_vocab = n_vocab;
  return s;
}

// The registry's canonical schema of the spec, without the optional tensors.
std::vector<SafetensorsEntry> synth_tensors(const SynthSpec& sp, DType dtype) {
  const int64_t C = sp.n_embd, N = sp.head_size;
  const bool heads = arch_spec(sp.arch).has_heads();
  if (C <= 0 || sp.n_layer <= 0 || sp.n_vocab <= 0 || sp.n_ffn <= 0 || (heads && (N <= 0 || C % N)))
    throw Error("synth: inconsistent spec");
  std::vector<SafetensorsEntry> out;
  for (const TensorSpec& t : model_tensors(synth_model_info(sp), nullptr))
    if (t.required) out.push_back({t.name, dtype, t.shape});
  return out;
}

void synth_values(const SynthSpec& sp, const std::string& name, uint64_t seed, int64_t begin, int64_t count,
                  float* out) {
  std::vector<int64_t> shape;
  for (const SafetensorsEntry& e : synth_tensors(sp, DType::f32))
    if (e.name == name) shape = e.shape;
  if (shape.empty()) throw Error("synth: no tensor '" + name + "'");
  double lo, hi;
  value_range(sp, name, shape, &lo, &hi);
  const uint64_t key = mix(seed ^ name_hash(name));
  for (int64_t i = 0; i < count; i++) {
    const double u = double(mix(key + uint64_t(begin + i) * 0xd1b54a32d192ed03ull) >> 40) * (1.0 / 16777216.0);
    out[i] = float(lo + (hi - lo) * u);
  }
}

namespace {

// Fills bytes[i] with tensor i of `entries` in `dtype`: work items of 1M
// elements of every tensor, taken in turn by n_threads threads.
void fill_tensors(const SynthSpec& sp, const std::vector<SafetensorsEntry>& entries, DType dtype, uint64_t seed,
                  int n_threads, std::vector<std::vector<uint8_t>>* bytes) {
  struct Piece {
    size_t tensor;
    int64_t begin, count;
  };
  const int64_t kPiece = int64_t(1) << 20;
  const size_t es = dtype_size(dtype);
  std::vector<Piece> pieces;
  bytes->resize(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    int64_t n = 1;
    for (int64_t d : entries[i].shape) n *= d;
    (*bytes)[i].resize(size_t(n) * es);
    for (int64_t b = 0; b < n; b += kPiece) pieces.push_back({i, b, std::min(kPiece, n - b)});
  }
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::string error;
  auto work = [&]() {
    try {
      std::vector<float> buf(static_cast<size_t>(kPiece));
      for (size_t c; !failed && (c = next++) < pieces.size();) {
        const Piece& p = pieces[c];
        synth_values(sp, entries[p.tensor].name, seed, p.begin, p.count, buf.data());
        convert_floats(buf.data(), DType::f32, (*bytes)[p.tensor].data() + size_t(p.begin) * es, dtype,
                       size_t(p.count));
      }
    } catch (const std::exception& e) {  // no exception may leave a thread
      if (!failed.exchange(true)) error = std::string("synthetic model: ") + e.what();
    }
  };
  std::vector<std::thread> threads;
  for (int t = 1; t < n_threads; ++t) threads.emplace_back(work);
  work();
  for (std::thread& t : threads) t.join();
  if (failed) throw Error(error);
}

}  // namespace

std::unique_ptr<Model> make_synth_model(const SynthSpec& sp, DType dtype, uint64_t seed, int n_threads) {
  if (n_threads <= 0) n_threads = int(std::max(1u, std::thread::hardware_concurrency()));
  const std::vector<SafetensorsEntry> entries = synth_tensors(sp, dtype);
  std::vector<std::vector<uint8_t>> bytes;
  fill_tensors(sp, entries, dtype, seed, n_threads, &bytes);
  auto m = std::make_unique<Model>();
  m->info.format = "synthetic";
  m->info.path = "synthetic v" + std::string(arch_name(sp.arch)) + " " + sp.size;
  for (size_t i = 0; i < entries.size(); ++i) {
    Tensor t;
    t.name = entries[i].name;
    t.dtype = dtype;
    t.shape = entries[i].shape;
    m->add_owned(std::move(t), std::move(bytes[i]));
  }
  check_model(*m, m->info.path);
  return m;
}

void write_synth_safetensors(const SynthSpec& sp, DType dtype, uint64_t seed, const std::string& path,
                             ProgressFn progress, void* progress_user) {
  std::vector<SafetensorsEntry> entries = synth_tensors(sp, dtype);
  uint64_t total = 0, done = 0;
  for (const auto& e : entries) {
    uint64_t n = dtype_size(dtype);
    for (int64_t d : e.shape) n *= uint64_t(d);
    total += n;
  }
  SafetensorsWriter w(path, entries,
                      {{"source", "rwkv-run synth"}, {"rwkv_version", arch_name(sp.arch)},
                       {"size", sp.size}, {"seed", std::to_string(seed)}});
  const int64_t chunk = 1 << 20;
  std::vector<float> buf(static_cast<size_t>(chunk));
  for (size_t i : w.order()) {
    const SafetensorsEntry& e = entries[i];
    int64_t n = 1;
    for (int64_t d : e.shape) n *= d;
    for (int64_t k = 0; k < n; k += chunk) {
      const int64_t c = std::min(chunk, n - k);
      synth_values(sp, e.name, seed, k, c, buf.data());
      w.write_f32(buf.data(), size_t(c));
      done += uint64_t(c) * dtype_size(dtype);
      if (progress) progress(progress_user, done, total);
    }
  }
  w.finish();
}

}  // namespace rwkv
