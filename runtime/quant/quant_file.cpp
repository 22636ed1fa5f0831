// runtime/quant/quant_file.cpp: the quantized safetensors layout of quant_file.h,
// read (checked part by part) and written.
#include "runtime/quant/quant_file.h"

#include <algorithm>
#include <cstring>

#include "runtime/arch/arch.h"
#include "runtime/model/safetensors_writer.h"

namespace rwkv {

namespace {

bool ends_with(const std::string& s, const char* suffix) {
  const size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

std::string dims_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// The checks of one quantized tensor's parts; every failure names the tensor.
class PartChecker {
 public:
  PartChecker(const std::string& what, const std::string& name, QuantKind kind,
              const std::map<std::string, StoredPart>& parts)
      : what_(what), name_(name), kind_(kind), parts_(parts) {}
  [[noreturn]] void fail(const std::string& msg) const {
    throw Error(what_ + ": quantized tensor '" + name_ + "': " + msg);
  }
  const StoredPart& need(const char* part) const {
    auto it = parts_.find(part);
    if (it == parts_.end()) {
      std::string have;
      for (const auto& kv : parts_) have += (have.empty() ? "" : ", ") + name_ + "." + kv.first;
      fail("missing part " + name_ + "." + part + " (the file has " + have + ")");
    }
    return it->second;
  }
  // The packed values: `out` rows of `in` inputs.
  void values(int* out, int* in) const {
    const StoredPart& q = need("qweight");
    const char* want = kind_ == QuantKind::int8 ? "I8" : "U8";
    if (q.dtype != want)
      fail(name_ + ".qweight has dtype " + q.dtype + ", but a " + quant_kind_name(kind_) + " file stores " + want +
           " values (kind mismatch)");
    if (q.shape.size() != 2 || q.shape[0] <= 0 || q.shape[1] <= 0 || q.shape[0] > (1 << 30) ||
        q.shape[1] > (1 << 29))
      fail(name_ + ".qweight has shape " + dims_str(q.shape) + ", expected a non-empty matrix");
    *out = static_cast<int>(q.shape[0]);
    *in = static_cast<int>(q.shape[1]) * (kind_ == QuantKind::q4 ? 2 : 1);
    if (*in % 32 != 0)
      fail("its rows hold " + std::to_string(*in) + " inputs, not a multiple of 32");
    if (q.nbytes != static_cast<uint64_t>(*out) * quant_row_bytes(kind_, *in))
      fail(name_ + ".qweight holds " + std::to_string(q.nbytes) + " bytes, not its shape's");
  }
  // A scale or offset table [out, in / group] of fp16; returns the group.
  int table(const char* part, int out, int in) const {
    const StoredPart& s = need(part);
    const std::string n = name_ + "." + part;
    if (s.dtype != "F16") fail(n + " has dtype " + s.dtype + ", expected F16");
    if (s.shape.size() != 2 || s.shape[0] != out || s.shape[1] <= 0 || s.shape[1] > in)
      fail(n + " has shape " + dims_str(s.shape) + ", expected [" + std::to_string(out) + ", in / group] for " +
           std::to_string(in) + " inputs");
    const int groups = static_cast<int>(s.shape[1]);
    if (in % groups != 0 || (in / groups) % 32 != 0)
      fail(n + " has " + std::to_string(groups) + " groups per row of " + std::to_string(in) +
           " inputs: the group size must be a multiple of 32 that divides the row");
    if (s.nbytes != static_cast<uint64_t>(out) * static_cast<uint64_t>(groups) * 2)
      fail(n + " holds " + std::to_string(s.nbytes) + " bytes, not its shape's");
    return in / groups;
  }

 private:
  const std::string& what_;
  const std::string& name_;
  QuantKind kind_;
  const std::map<std::string, StoredPart>& parts_;
};

bool misaligned(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 1u) != 0; }

// The tensor with its view into the file, or (fp16 parts at odd addresses, a
// hostile file) a copy the model owns.
void add_quant_tensor(Model& m, Tensor t, size_t q_bytes) {
  if (!misaligned(t.quant.scale) && (!t.quant.min || !misaligned(t.quant.min))) {
    t.data = t.quant.q;
    t.nbytes = q_bytes;
    m.add_view(std::move(t));
    return;
  }
  add_owned_quant(m, t.name, t.shape, t.quant_transposed, t.quant);
}

}  // namespace

MatrixUse matrix_use(Arch arch, const std::string& name, const std::vector<int64_t>& shape) {
  for (const GgmlRule& rule : arch_spec(arch).ggml_rules()) {
    if (!ends_with(name, rule.suffix)) continue;
    if (rule.shape == GgmlShape::transpose && shape.size() == 2) return MatrixUse::lora;
    if (rule.shape == GgmlShape::transpose_batched && shape.size() == 3) return MatrixUse::lora_batched;
    break;  // the first matching rule is the tensor's, as in read_ggml.cpp
  }
  if (shape.size() == 2 && ends_with(name, ".weight") && name != "emb.weight") return MatrixUse::linear;
  return MatrixUse::none;
}

bool quant_part_name(const std::string& entry, std::string* base, std::string* part) {
  for (const char* p : {"qweight", "qscale", "qmin"}) {
    const std::string suffix = std::string(".") + p;
    if (entry.size() > suffix.size() && ends_with(entry, suffix.c_str())) {
      *base = entry.substr(0, entry.size() - suffix.size());
      *part = p;
      return true;
    }
  }
  return false;
}

QuantFileMeta parse_quant_meta(const std::map<std::string, std::string>& metadata, const std::string& what) {
  QuantFileMeta meta;
  auto get = [&](const char* key) -> const std::string* {
    auto it = metadata.find(key);
    return it == metadata.end() ? nullptr : &it->second;
  };
  const std::string* version = get(kQuantMetaVersion);
  if (!version) {
    for (const char* key : {kQuantMetaKind, kQuantMetaTransposed})
      if (get(key)) throw Error(what + ": metadata has " + key + " but no " + kQuantMetaVersion);
    return meta;
  }
  if (*version != kQuantLayoutVersion)
    throw Error(what + ": quantized layout version '" + *version + "' (" + kQuantMetaVersion +
                "); this build reads version " + kQuantLayoutVersion);
  meta.present = true;
  const std::string* kind = get(kQuantMetaKind);
  if (!kind) throw Error(what + ": quantized file without " + kQuantMetaKind);
  if (*kind != "int8" && *kind != "q4")
    throw Error(what + ": unknown quantized kind '" + *kind + "' (" + kQuantMetaKind + ": int8 or q4)");
  quant_kind_from_name(*kind, &meta.kind);
  if (const std::string* list = get(kQuantMetaTransposed)) {
    size_t begin = 0;
    while (begin < list->size()) {
      size_t end = list->find(',', begin);
      if (end == std::string::npos) end = list->size();
      if (end == begin) throw Error(what + ": empty name in " + kQuantMetaTransposed);
      meta.transposed.insert(list->substr(begin, end - begin));
      begin = end + 1;
    }
  }
  return meta;
}

void add_quant_tensors(Model& m, const QuantFileMeta& meta,
                       const std::map<std::string, std::map<std::string, StoredPart>>& parts,
                       const std::string& what) {
  for (const auto& kv : parts) {
    const std::string& name = kv.first;
    const PartChecker check(what, name, meta.kind, kv.second);
    int out = 0, in = 0;
    check.values(&out, &in);
    const int group = check.table("qscale", out, in);
    if (check.table("qmin", out, in) != group)
      check.fail(name + ".qmin and " + name + ".qscale differ in shape");
    Tensor t;
    t.name = name;
    t.dtype = DType::f32;  // unused for a quantized tensor
    t.quant_transposed = meta.transposed.count(name) > 0;
    t.shape = t.quant_transposed ? std::vector<int64_t>{in, out} : std::vector<int64_t>{out, in};
    t.quant.kind = meta.kind;
    t.quant.out = out;
    t.quant.in = in;
    t.quant.group = group;
    t.quant.q = kv.second.at("qweight").data;
    t.quant.scale = reinterpret_cast<const uint16_t*>(kv.second.at("qscale").data);
    t.quant.min = reinterpret_cast<const uint16_t*>(kv.second.at("qmin").data);
    add_quant_tensor(m, std::move(t), static_cast<size_t>(out) * quant_row_bytes(meta.kind, in));
  }
  for (const std::string& name : meta.transposed)
    if (!parts.count(name))
      throw Error(what + ": " + kQuantMetaTransposed + " names '" + name + "', which is not a quantized tensor");
}

void add_owned_quant(Model& m, const std::string& name, std::vector<int64_t> shape, bool transposed,
                     const QuantView& q) {
  // One buffer: values, scales, offsets. The values take an even number of bytes
  // (rows of a multiple of 32 inputs), so the fp16 tables stay aligned.
  const size_t q_bytes = static_cast<size_t>(q.out) * quant_row_bytes(q.kind, q.in);
  const size_t table_bytes = static_cast<size_t>(q.out) * static_cast<size_t>(q.groups_per_row()) * 2;
  std::vector<uint8_t> copy(q_bytes + table_bytes * (q.min ? 2 : 1));
  std::memcpy(copy.data(), q.q, q_bytes);
  std::memcpy(copy.data() + q_bytes, q.scale, table_bytes);
  if (q.min) std::memcpy(copy.data() + q_bytes + table_bytes, q.min, table_bytes);
  Tensor t;
  t.name = name;
  t.shape = std::move(shape);
  t.quant_transposed = transposed;
  t.quant = q;
  t.quant.q = copy.data();
  t.quant.scale = reinterpret_cast<const uint16_t*>(copy.data() + q_bytes);
  t.quant.min = q.min ? reinterpret_cast<const uint16_t*>(copy.data() + q_bytes + table_bytes) : nullptr;
  m.add_owned(std::move(t), std::move(copy));  // moving the vector keeps its buffer in place
}

std::string tensor_type_name(const Tensor& t) {
  if (t.quantized()) return std::string(quant_kind_name(t.quant.kind)) + " g" + std::to_string(t.quant.group);
  return dtype_name(t.dtype);
}

namespace {

// What write_quantized_safetensors does with one tensor.
struct TensorPlan {
  const Tensor* t = nullptr;
  enum { dense, keep, quantize } action = dense;
  MatrixUse use = MatrixUse::none;
  int out = 0, in = 0, group = 0;
  bool transposed = false;
  DType dense_dtype = DType::f32;
};

TensorPlan plan_tensor(const Tensor& t, Arch arch, QuantKind kind) {
  TensorPlan p;
  p.t = &t;
  p.use = matrix_use(arch, t.name, t.shape);
  const bool stored_in_kind = t.quantized() && t.quant.kind == kind;
  const bool dense_head = t.name == "head.weight" && !quant_kind_covers_head(kind) && !stored_in_kind;
  if ((p.use != MatrixUse::linear && p.use != MatrixUse::lora) || dense_head) {
    p.dense_dtype = t.quantized() ? DType::f32 : t.dtype;
    return p;
  }
  if (stored_in_kind) {
    p.action = TensorPlan::keep;
    p.out = t.quant.out;
    p.in = t.quant.in;
    p.group = t.quant.group;
    p.transposed = t.quant_transposed;
    return p;
  }
  p.action = TensorPlan::quantize;
  p.transposed = p.use == MatrixUse::lora;
  p.out = static_cast<int>(t.shape[p.transposed ? 1 : 0]);
  p.in = static_cast<int>(t.shape[p.transposed ? 0 : 1]);
  p.group = default_quant_group(kind, p.in);
  if (p.group == 0)
    throw Error("tensor '" + t.name + "': a [" + std::to_string(p.out) + ", " + std::to_string(p.in) +
                "] matrix cannot be quantized to " + quant_kind_name(kind) + " (its input width " +
                std::to_string(p.in) + " is not a multiple of 32)");
  return p;
}

// The matrix of a plan as applied, [out, in]: the stored view, or quantized now as
// load_weights does (Tensor::to_f32, transposed for LoRA, quantize_matrix).
QuantMatrix quantize_planned(const TensorPlan& p, QuantKind kind) {
  if (p.action == TensorPlan::keep) return copy_quant(p.t->quant);
  std::vector<float> w = p.t->to_f32();
  if (p.transposed) {  // official [in, out] -> [out, in]
    std::vector<float> t(w.size());
    for (size_t i = 0; i < static_cast<size_t>(p.in); ++i)
      for (size_t o = 0; o < static_cast<size_t>(p.out); ++o) t[o * p.in + i] = w[i * p.out + o];
    w.swap(t);
  }
  return quantize_matrix(kind, w.data(), p.out, p.in, p.group, "tensor '" + p.t->name + "'");
}

}  // namespace

QuantizeReport write_quantized_safetensors(const Model& m, QuantKind kind, const std::string& path) {
  if (kind == QuantKind::none) throw Error(path + ": no quantized kind given");
  std::vector<TensorPlan> plans;
  for (const auto& kv : m.tensors()) plans.push_back(plan_tensor(kv.second, m.info.arch, kind));

  // Entry order: fp32 tensors first, then the rest by name with each quantized
  // tensor's parts together; every size after the fp32 ones is even, so each
  // entry stays aligned for its element size.
  struct Slot {
    size_t plan;
    int part;  // -1 dense, 0 qscale, 1 qmin, 2 qweight
  };
  std::vector<SafetensorsEntry> entries;
  std::vector<Slot> slots;
  std::string transposed;
  QuantizeReport report;
  for (int pass = 0; pass < 2; ++pass)
    for (size_t i = 0; i < plans.size(); ++i) {
      const TensorPlan& p = plans[i];
      const bool four = p.action == TensorPlan::dense && p.dense_dtype == DType::f32;
      if (four != (pass == 0)) continue;
      if (p.action == TensorPlan::dense) {
        entries.push_back({p.t->name, p.dense_dtype, p.t->shape});
        slots.push_back({i, -1});
        report.dense++;
        continue;
      }
      (p.action == TensorPlan::keep ? report.kept : report.quantized)++;
      if (p.transposed) transposed += (transposed.empty() ? "" : ",") + p.t->name;
      const std::vector<int64_t> table = {p.out, p.in / p.group};
      entries.push_back({p.t->name + ".qscale", DType::f16, table});
      slots.push_back({i, 0});
      entries.push_back({p.t->name + ".qmin", DType::f16, table});
      slots.push_back({i, 1});
      const int64_t cols = kind == QuantKind::q4 ? p.in / 2 : p.in;
      entries.push_back({p.t->name + ".qweight", DType::f32, {p.out, cols}, kind == QuantKind::q4 ? "U8" : "I8"});
      slots.push_back({i, 2});
    }

  SafetensorsWriter w(path, std::move(entries),
                      {{"source", m.info.format},
                       {"rwkv_version", arch_name(m.info.arch)},
                       {kQuantMetaVersion, kQuantLayoutVersion},
                       {kQuantMetaKind, quant_kind_name(kind)},
                       {kQuantMetaTransposed, transposed}},
                      false);
  QuantMatrix current;
  size_t current_plan = plans.size();
  for (const Slot& s : slots) {
    const TensorPlan& p = plans[s.plan];
    if (s.part < 0) {
      const Tensor& t = *p.t;
      if (t.quantized()) {
        const std::vector<float> v = t.to_f32();
        w.write_f32(v.data(), v.size());
        report.bytes += v.size() * 4;
      } else {
        w.write_raw(t.data, t.nbytes);
        report.bytes += t.nbytes;
      }
      continue;
    }
    if (current_plan != s.plan) {
      current = quantize_planned(p, kind);
      current_plan = s.plan;
    }
    const void* data = s.part == 0 ? static_cast<const void*>(current.scale.data())
                       : s.part == 1 ? static_cast<const void*>(current.min.data())
                                     : static_cast<const void*>(current.q.data());
    const size_t bytes = s.part == 0 ? current.scale.size() * 2 : s.part == 1 ? current.min.size() * 2 : current.q.size();
    w.write_raw(data, bytes);
    report.bytes += bytes;
  }
  w.finish();
  return report;
}

}  // namespace rwkv
