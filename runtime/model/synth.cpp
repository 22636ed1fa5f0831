// runtime/model/synth.cpp: synthetic RWKV checkpoints (see synth.h).
//
// Shapes follow the released models: C and L per size, V = 50277 (v4, Pile
// tokenizer) or 65536 (World), head size 64, F = 4C (v4, v7) or
// floor(3.5C/32)*32 (v5.2, v6). LoRA widths: v6 32/64 (64/128 at C = 4096);
// v7 the release trainer's widths (0.1B/0.4B 64/64/32/128, 1.5B 96/96/64/256,
// 2.9B 96/96/64/320; 7.2B from its formula max(32, round(k*f(C)/32)*32) with
// 1.8*sqrt(C), 1.8*sqrt(C), 1.3*sqrt(C), 0.6*C^0.8: 128/128/96/480).
// Value ranges are those of trained checkpoints, roughly: mixing
// coefficients in [0,1], LayerNorm weights near 1, matrices ~ U(+-sqrt(3/in)*k).
#include "runtime/model/synth.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <thread>

#include "runtime/model/half_float.h"

namespace rwkv {

namespace {

struct SizeRow {
  const char* size;
  int C, L;
};

const SizeRow kV4[] = {{"169M", 768, 12}, {"430M", 1024, 24}, {"1.5B", 2048, 24},
                       {"3B", 2560, 32},  {"7B", 4096, 32},   {"14B", 5120, 40}};
const SizeRow kV5[] = {{"0.4B", 1024, 24}, {"1.5B", 2048, 24}, {"3B", 2560, 32}, {"7B", 4096, 32}};
const SizeRow kV6[] = {{"1.6B", 2048, 24}, {"3B", 2560, 32}, {"7B", 4096, 32}, {"14B", 4096, 61}};
const SizeRow kV7[] = {{"0.1B", 768, 12}, {"0.4B", 1024, 24}, {"1.5B", 2048, 24}, {"2.9B", 2560, 32},
                       {"7.2B", 4096, 32}};

template <size_t K>
std::vector<SizeRow> rows(const SizeRow (&r)[K]) {
  return std::vector<SizeRow>(r, r + K);
}

std::vector<SizeRow> table(const std::string& version) {
  if (version == "4") return rows(kV4);
  if (version == "5.2") return rows(kV5);
  if (version == "6") return rows(kV6);
  if (version == "7") return rows(kV7);
  throw Error("synth: version '" + version + "' (use 4, 5.2, 6 or 7)");
}

int lora_width(double x) {
  int w = int(std::lround(x / 32)) * 32;
  return w < 32 ? 32 : w;
}

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
  for (const SizeRow& r : table(version)) out.push_back(r.size);
  return out;
}

SynthSpec synth_spec(const std::string& version, const std::string& size) {
  SynthSpec s;
  const SizeRow* row = nullptr;
  std::vector<SizeRow> t = table(version);
  for (const SizeRow& r : t)
    if (size == r.size) row = &r;
  if (!row) {
    std::string known;
    for (const SizeRow& r : t) known += std::string(known.empty() ? "" : ", ") + r.size;
    throw Error("synth: no released v" + version + " model of size '" + size + "' (known: " + known + ")");
  }
  s.size = row->size;
  s.n_embd = row->C;
  s.n_layer = row->L;
  const double C = row->C;
  if (version == "4") {
    s.arch = Arch::v4;
    s.n_vocab = 50277;
    s.n_ffn = 4 * row->C;
  } else if (version == "5.2") {
    s.arch = Arch::v5_2;
    s.n_vocab = 65536;
    s.n_ffn = int(3.5 * C / 32) * 32;
  } else if (version == "6") {
    s.arch = Arch::v6;
    s.n_vocab = 65536;
    s.n_ffn = int(3.5 * C / 32) * 32;
    s.lora_maa = row->C == 4096 ? 64 : 32;
    s.lora_decay = row->C == 4096 ? 128 : 64;
  } else {
    s.arch = Arch::v7;
    s.n_vocab = 65536;
    s.n_ffn = 4 * row->C;
    if (row->C <= 1024) {
      s.lora_w = s.lora_a = 64;
      s.lora_v = 32;
      s.lora_g = 128;
    } else {
      s.lora_w = s.lora_a = lora_width(1.8 * std::sqrt(C));
      s.lora_v = lora_width(1.3 * std::sqrt(C));
      s.lora_g = lora_width(0.6 * std::pow(C, 0.8));
    }
  }
  return s;
}

std::vector<SafetensorsEntry> synth_tensors(const SynthSpec& sp, DType dtype) {
  const int64_t C = sp.n_embd, V = sp.n_vocab, F = sp.n_ffn, N = sp.head_size, H = C / N;
  if (C <= 0 || sp.n_layer <= 0 || V <= 0 || F <= 0 || (sp.arch != Arch::v4 && (N <= 0 || C % N)))
    throw Error("synth: inconsistent spec");
  std::vector<SafetensorsEntry> out;
  auto add = [&](const std::string& name, std::vector<int64_t> shape) { out.push_back({name, dtype, shape}); };
  const std::vector<int64_t> c{C}, mix{1, 1, C};
  add("emb.weight", {V, C});
  for (int l = 0; l < sp.n_layer; l++) {
    const std::string b = "blocks." + std::to_string(l) + ".", att = b + "att.", ffn = b + "ffn.";
    if (l == 0) {
      add(b + "ln0.weight", c);
      add(b + "ln0.bias", c);
    }
    for (const char* n : {"ln1.weight", "ln1.bias", "ln2.weight", "ln2.bias"}) add(b + n, c);
    switch (sp.arch) {
      case Arch::v4:
        for (const char* n : {"time_mix_k", "time_mix_v", "time_mix_r"}) add(att + n, mix);
        add(att + "time_decay", c);
        add(att + "time_first", c);
        break;
      case Arch::v5_0:
      case Arch::v5_1:
      case Arch::v5_2:
        for (const char* n : {"time_mix_k", "time_mix_v", "time_mix_r", "time_mix_g"}) add(att + n, mix);
        add(att + "time_decay", {H, N});
        add(att + "time_faaaa", {H, N});
        add(att + "gate.weight", {C, C});
        add(att + "ln_x.weight", c);
        add(att + "ln_x.bias", c);
        break;
      case Arch::v6:
        for (const char* n : {"time_maa_x", "time_maa_w", "time_maa_k", "time_maa_v", "time_maa_r", "time_maa_g"})
          add(att + n, mix);
        add(att + "time_maa_w1", {C, 5 * int64_t(sp.lora_maa)});
        add(att + "time_maa_w2", {5, sp.lora_maa, C});
        add(att + "time_decay", {1, 1, C});
        add(att + "time_decay_w1", {C, sp.lora_decay});
        add(att + "time_decay_w2", {sp.lora_decay, C});
        add(att + "time_faaaa", {H, N});
        add(att + "gate.weight", {C, C});
        add(att + "ln_x.weight", c);
        add(att + "ln_x.bias", c);
        break;
      case Arch::v7:
        for (const char* n : {"x_r", "x_w", "x_k", "x_v", "x_a", "x_g", "w0", "a0", "k_k", "k_a"})
          add(att + n, mix);
        add(att + "w1", {C, sp.lora_w});
        add(att + "w2", {sp.lora_w, C});
        add(att + "a1", {C, sp.lora_a});
        add(att + "a2", {sp.lora_a, C});
        if (l > 0) {  // layer 0 never uses them (rwkv-spec.md 6.1)
          add(att + "v0", mix);
          add(att + "v1", {C, sp.lora_v});
          add(att + "v2", {sp.lora_v, C});
        }
        add(att + "g1", {C, sp.lora_g});
        add(att + "g2", {sp.lora_g, C});
        add(att + "r_k", {H, N});
        add(att + "ln_x.weight", c);
        add(att + "ln_x.bias", c);
        break;
    }
    for (const char* n : {"receptance.weight", "key.weight", "value.weight", "output.weight"}) add(att + n, {C, C});
    if (sp.arch == Arch::v7) {
      add(ffn + "x_k", mix);
    } else if (sp.arch == Arch::v6) {
      add(ffn + "time_maa_k", mix);
      add(ffn + "time_maa_r", mix);
    } else {
      add(ffn + "time_mix_k", mix);
      add(ffn + "time_mix_r", mix);
    }
    add(ffn + "key.weight", {F, C});
    add(ffn + "value.weight", {C, F});
    if (sp.arch != Arch::v7) add(ffn + "receptance.weight", {C, C});
  }
  add("ln_out.weight", c);
  add("ln_out.bias", c);
  add("head.weight", {V, C});
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
