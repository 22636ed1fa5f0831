// runtime/model/read_ggml.cpp: rwkv.cpp model files back to the official model.
//
// rwkv.cpp's converter (python/convert_pytorch_to_ggml.py) stores some tensors
// transformed; this file undoes each transform (docs/rwkv-math.md section 2.2, 3.1, 4.2,
// 5.1, 6.1) so the result has official names, shapes and values. Each
// version's rules are its ArchSpec's ggml_rules() (runtime/arch/v*.cpp):
//   v4   att.time_decay stored -exp(w)        -> w = log(-x)
//   v5   att.time_decay stored exp(-exp(w))   -> w = log(-log(x)), [H,N,1]/[H,1,1] -> [H,N]/[H]
//        att.time_first stored exp(u)         -> u = log(x), same reshape
//        att.time_faaaa                       -> reshape only
//   v6   time_maa_w1, time_decay_w1/_w2 transposed back; time_maa_w2 [5,C,D] -> [5,D,C];
//        time_decay -> [1,1,A]; time_faaaa [H,N,1] -> [H,N]
//   v7   att.x_rwkvag [6,1,C] -> x_r, x_w, x_k, x_v, x_a, x_g each [1,1,C];
//        LoRA matrices w1 w2 a1 a2 v1 v2 g1 g2 transposed back
//   all  mixing vectors squeezed to [C] -> [1,1,C]
// Quantised matrices (the Linear weights and head, stored as they are applied, and
// the LoRA matrices, stored transposed: runtime/quant/quant_file.h matrix_use) stay
// quantised, as int8 or q4 with group 32 (ggml_to_quant in ggml_quant.h; LoRA ones
// with Tensor::quant_transposed); any other quantised tensor (the embedding, v6's
// 3-D time_maa_w2, vectors) is dequantised to fp32. FP32/FP16 tensors that need no
// transform stay views into the file.
#include <cmath>
#include <cstring>
#include <set>

#include "runtime/arch/arch.h"
#include "runtime/model/ggml_file.h"
#include "runtime/core/half_float.h"
#include "runtime/model/readers.h"
#include "runtime/quant/quant_file.h"

namespace rwkv {

GgmlFile read_ggml_records(const MappedFile& f) {
  const std::string what = f.path() + " (rwkv.cpp ggml)";
  ByteCursor c(f.data(), f.size(), what);
  GgmlFile g;
  if (c.remaining() < 24) c.fail("file too short for the rwkv.cpp header");
  if (c.u32() != kGgmlMagic) c.fail("bad magic (not an rwkv.cpp file)");
  g.version = c.i32();
  g.n_vocab = c.i32();
  g.n_embed = c.i32();
  g.n_layer = c.i32();
  g.data_type = c.i32();
  if (g.version != 100 && g.version != 101)
    throw Error(what + ": file version " + std::to_string(g.version) + " (supported: 100, 101)");
  if (g.n_vocab <= 0 || g.n_embed <= 0 || g.n_layer <= 0)
    throw Error(what + ": header has non-positive n_vocab/n_embed/n_layer");
  if (!ggml_type_known(g.data_type))
    throw Error(what + ": header data type " + std::to_string(g.data_type) + " is not supported");

  std::set<std::string> names;
  while (!c.at_end()) {
    const uint64_t at = c.pos();
    int32_t n_dims = c.i32(), key_len = c.i32(), type = c.i32();
    if (n_dims < 1 || n_dims > 4) c.fail("tensor record with " + std::to_string(n_dims) + " dimensions");
    if (key_len <= 0 || key_len > 1024) c.fail("tensor record with name length " + std::to_string(key_len));
    if (!ggml_type_known(type)) c.fail("tensor type " + std::to_string(type) + " is not supported");
    GgmlRecord r;
    r.type = GgmlType(type);
    uint64_t numel = 1;
    std::vector<int64_t> ne;
    for (int k = 0; k < n_dims; k++) {
      int32_t d = c.i32();
      if (d <= 0) c.fail("tensor record with a non-positive dimension");
      if (!mul_ok(numel, uint64_t(d), &numel) || numel > (uint64_t(1) << 40)) c.fail("tensor too large");
      ne.push_back(d);
    }
    r.shape.assign(ne.rbegin(), ne.rend());
    r.name.assign(reinterpret_cast<const char*>(c.bytes(uint64_t(key_len))), size_t(key_len));
    if (ggml_type_quantized(r.type)) {
      if (g.version == 100)
        throw Error(what + ": tensor '" + r.name + "' is quantised in a version-100 file (ggml's old "
                    "block layout, not supported); re-quantise it with a current rwkv.cpp");
      if (ne[0] % kGgmlBlock)
        throw Error(what + ": quantised tensor '" + r.name + "' has a row length not divisible by 32");
    }
    r.nbytes = ggml_nbytes(r.type, numel);
    if (r.nbytes > c.remaining())
      throw Error(what + ": data of tensor '" + r.name + "' (record at offset " + std::to_string(at) +
                  ") runs past the end of the file; truncated?");
    r.data = c.bytes(r.nbytes);
    if (!names.insert(r.name).second) throw Error(what + ": tensor '" + r.name + "' appears twice");
    g.records.push_back(std::move(r));
  }
  return g;
}

namespace {

bool ends_with(const std::string& s, const char* suffix) {
  size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

// Drops trailing size-1 dimensions, keeping at least one.
std::vector<int64_t> squeeze_trailing(std::vector<int64_t> s) {
  while (s.size() > 1 && s.back() == 1) s.pop_back();
  return s;
}

class Converter {
 public:
  Converter(const std::shared_ptr<MappedFile>& file, Model& m) : file_(file), m_(m) {}
  void run();

 private:
  [[noreturn]] void fail(const std::string& msg) const {
    throw Error(file_->path() + " (rwkv.cpp ggml): " + msg);
  }
  std::vector<float> to_f32(const GgmlRecord& r) const;
  bool add_quantized(const GgmlRecord& r, MatrixUse use);
  void add_as_stored(const GgmlRecord& r, std::vector<int64_t> shape);
  void add_f32(const std::string& name, std::vector<int64_t> shape, const std::vector<float>& v);
  void add_transposed(const GgmlRecord& r, std::vector<int64_t> official_shape);
  void add_mapped(const GgmlRecord& r, std::vector<int64_t> shape, const GgmlInverse& inv);
  void split(const GgmlRecord& r, const GgmlRule& rule);
  void apply(const GgmlRecord& r, const GgmlRule& rule);
  void convert(const GgmlRecord& r);

  std::shared_ptr<MappedFile> file_;
  Model& m_;
  const std::vector<GgmlRule>* rules_ = nullptr;
  Arch arch_ = Arch::v4;
};

std::vector<float> Converter::to_f32(const GgmlRecord& r) const {
  std::vector<float> v(size_t(r.numel()));
  if (r.type == GgmlType::f32) {
    std::memcpy(v.data(), r.data, v.size() * 4);
  } else if (r.type == GgmlType::f16) {
    for (size_t i = 0; i < v.size(); i++) {
      uint16_t h = uint16_t(r.data[2 * i] | r.data[2 * i + 1] << 8);
      v[i] = f16_to_f32(h);
    }
  } else {
    ggml_dequantize(r.type, r.data, v.size(), v.data());
  }
  return v;
}

void Converter::add_f32(const std::string& name, std::vector<int64_t> shape, const std::vector<float>& v) {
  Tensor t;
  t.name = name;
  t.dtype = DType::f32;
  t.shape = std::move(shape);
  std::vector<uint8_t> bytes(v.size() * 4);
  std::memcpy(bytes.data(), v.data(), bytes.size());
  m_.add_owned(std::move(t), std::move(bytes));
}

// A quantised 2-D record that the backends apply as a Linear (`use`: linear, stored
// [out, in]; lora, stored [out, in] for the official [in, out]) kept quantised;
// false when it is none of these or cannot be held exactly (then expanded).
bool Converter::add_quantized(const GgmlRecord& r, MatrixUse use) {
  if (!ggml_type_quantized(r.type) || r.shape.size() != 2) return false;
  const std::vector<int64_t> official =
      use == MatrixUse::lora ? std::vector<int64_t>{r.shape[1], r.shape[0]} : r.shape;
  if (matrix_use(arch_, r.name, official) != use || (use != MatrixUse::linear && use != MatrixUse::lora))
    return false;
  if (r.shape[0] > (1 << 30) || r.shape[1] > (1 << 29)) return false;
  QuantMatrix q;
  if (!ggml_to_quant(r.type, r.data, int(r.shape[0]), int(r.shape[1]), &q)) return false;
  add_owned_quant(m_, r.name, official, use == MatrixUse::lora, q.view());
  return true;
}

// Same element order, possibly a different shape: a view for FP32/FP16.
void Converter::add_as_stored(const GgmlRecord& r, std::vector<int64_t> shape) {
  if (shape == r.shape && add_quantized(r, MatrixUse::linear)) return;
  if (r.type == GgmlType::f32 || r.type == GgmlType::f16) {
    Tensor t;
    t.name = r.name;
    t.dtype = r.type == GgmlType::f32 ? DType::f32 : DType::f16;
    t.shape = std::move(shape);
    t.data = r.data;
    t.nbytes = size_t(r.nbytes);
    add_file_tensor(m_, std::move(t));
    return;
  }
  add_f32(r.name, std::move(shape), to_f32(r));
}

// Stored [..., a, b] holds the official [..., b, a] transposed (2-D, or the
// last two dimensions of a 3-D tensor).
void Converter::add_transposed(const GgmlRecord& r, std::vector<int64_t> official_shape) {
  const auto& s = r.shape;
  if (s.size() < 2) fail("tensor '" + r.name + "' should be a matrix");
  const int64_t rows = s[s.size() - 2], cols = s[s.size() - 1];
  const int64_t batch = r.numel() / (rows * cols);
  const size_t es = r.type == GgmlType::f16 ? 2 : 4;
  std::vector<uint8_t> src_f32;
  const uint8_t* src = r.data;
  if (ggml_type_quantized(r.type)) {
    std::vector<float> v = to_f32(r);
    src_f32.resize(v.size() * 4);
    std::memcpy(src_f32.data(), v.data(), src_f32.size());
    src = src_f32.data();
  }
  std::vector<uint8_t> out(size_t(r.numel()) * es);
  for (int64_t b = 0; b < batch; b++)
    for (int64_t i = 0; i < rows; i++)
      for (int64_t j = 0; j < cols; j++)
        std::memcpy(&out[size_t(((b * cols + j) * rows + i)) * es], src + size_t((b * rows + i) * cols + j) * es, es);
  Tensor t;
  t.name = r.name;
  t.dtype = es == 2 ? DType::f16 : DType::f32;
  t.shape = std::move(official_shape);
  m_.add_owned(std::move(t), std::move(out));
}

// Elementwise inverse of a stored transform, computed in double and rounded once.
void Converter::add_mapped(const GgmlRecord& r, std::vector<int64_t> shape, const GgmlInverse& inv) {
  std::vector<float> v = to_f32(r);
  for (float& x : v) {
    if (!inv.valid(x))
      fail("tensor '" + r.name + "' holds " + std::to_string(x) + ", impossible for " + inv.stored_as);
    x = float(inv.inverse(double(x)));
  }
  add_f32(r.name, std::move(shape), v);
}

// Vectors [1,1,C] concatenated in the order of rule.parts (v7 att.x_rwkvag [6,1,C]).
void Converter::split(const GgmlRecord& r, const GgmlRule& rule) {
  const int64_t K = int64_t(rule.parts.size());
  if (r.shape.empty() || r.shape[0] != K || r.numel() % K)
    fail("tensor '" + r.name + "' is not [" + std::to_string(K) + ",1,C]");
  const std::string prefix = r.name.substr(0, r.name.rfind('.') + 1);
  const int64_t C = r.numel() / K;
  if (r.type == GgmlType::f16) {  // keep FP16 files' values as stored
    for (int64_t k = 0; k < K; k++) {
      Tensor t;
      t.name = prefix + rule.parts[size_t(k)];
      t.dtype = DType::f16;
      t.shape = {1, 1, C};
      m_.add_owned(std::move(t), std::vector<uint8_t>(r.data + size_t(k * C) * 2, r.data + size_t((k + 1) * C) * 2));
    }
    return;
  }
  std::vector<float> v = to_f32(r);
  for (int64_t k = 0; k < K; k++)
    add_f32(prefix + rule.parts[size_t(k)], {1, 1, C},
            std::vector<float>(v.begin() + k * C, v.begin() + (k + 1) * C));
}

void Converter::apply(const GgmlRecord& r, const GgmlRule& rule) {
  std::vector<int64_t> shape = r.shape;
  switch (rule.shape) {
    case GgmlShape::as_stored: break;
    case GgmlShape::mix: shape = {1, 1, r.numel()}; break;
    case GgmlShape::flat: shape = {r.numel()}; break;
    case GgmlShape::squeeze: shape = squeeze_trailing(r.shape); break;
    case GgmlShape::transpose:
      if (r.shape.size() != 2) fail("tensor '" + r.name + "' should be a matrix");
      if (add_quantized(r, MatrixUse::lora)) return;
      return add_transposed(r, {r.shape[1], r.shape[0]});
    case GgmlShape::transpose_batched:
      if (r.shape.size() != 3) fail("tensor '" + r.name + "' should be [5, C, D]");
      return add_transposed(r, {r.shape[0], r.shape[2], r.shape[1]});
    case GgmlShape::split: return split(r, rule);
  }
  if (rule.values) return add_mapped(r, std::move(shape), *rule.values);
  add_as_stored(r, std::move(shape));
}

// The first of the version's rules whose suffix the name ends with; none: as stored.
void Converter::convert(const GgmlRecord& r) {
  for (const GgmlRule& rule : *rules_)
    if (ends_with(r.name, rule.suffix)) return apply(r, rule);
  add_as_stored(r, r.shape);
}

void Converter::run() {
  GgmlFile g = read_ggml_records(*file_);
  std::set<std::string> names;
  for (const auto& r : g.records) names.insert(r.name);
  arch_ = detect_ggml_arch(names);
  rules_ = &arch_spec(arch_).ggml_rules();
  for (const auto& r : g.records) convert(r);

  // The header's sizes must agree with the tensors.
  const Tensor* emb = m_.find("emb.weight");
  if (!emb || emb->shape.size() != 2 || emb->shape[0] != g.n_vocab || emb->shape[1] != g.n_embed)
    fail("emb.weight does not match the header's n_vocab " + std::to_string(g.n_vocab) +
         " and n_embed " + std::to_string(g.n_embed));
  const std::string last = "blocks." + std::to_string(g.n_layer - 1) + ".ln1.weight";
  const std::string beyond = "blocks." + std::to_string(g.n_layer) + ".ln1.weight";
  if (!m_.find(last) || m_.find(beyond))
    fail("the tensors do not have the header's n_layer " + std::to_string(g.n_layer));
  m_.info.format = "ggml";
}

}  // namespace

void read_ggml(const std::shared_ptr<MappedFile>& file, Model& m) { Converter(file, m).run(); }

}  // namespace rwkv
