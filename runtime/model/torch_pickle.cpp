// runtime/model/torch_pickle.cpp: the restricted data.pkl reader (see the
// header). A small stack machine over the opcodes of pickle protocol 2 that
// torch.save uses; values are plain data (ints, strings, tuples, dicts,
// storages, tensors), never Python objects.
#include "runtime/model/torch_pickle.h"

#include <cstdio>
#include <map>
#include <memory>
#include <unordered_map>

#include "runtime/model/mapped_file.h"

namespace rwkv {

namespace {

struct Value;
using Ref = std::shared_ptr<Value>;

// Dict contents (values in `Value::items`, keys here), storage and tensor
// details live out of line so that the many small values stay small.
struct DictKeys {
  std::vector<std::string> keys;
  std::map<std::string, size_t> index;
};

struct Value {
  enum Kind { None, Bool, Int, Str, Tuple, Dict, Global, Storage, TensorRec } kind = None;
  int depth = 1;           // nesting depth of tuples (bounded, see kMaxDepth)
  int64_t i = 0;           // Bool, Int
  std::string s;           // Str; Global: "module.name"; Storage: key
  std::vector<Ref> items;  // Tuple elements; Dict values
  std::unique_ptr<DictKeys> dict;        // Dict
  std::unique_ptr<PickledTensor> info;   // Storage (dtype, key, numel) and TensorRec
};

constexpr int kMaxDepth = 16;

const char* kind_name(Value::Kind k) {
  switch (k) {
    case Value::None: return "None";
    case Value::Bool: return "bool";
    case Value::Int: return "int";
    case Value::Str: return "str";
    case Value::Tuple: return "tuple";
    case Value::Dict: return "dict";
    case Value::Global: return "global";
    case Value::Storage: return "storage";
    case Value::TensorRec: return "tensor";
  }
  return "?";
}

const char* opcode_name(uint8_t op) {
  switch (op) {
    case 'I': return "INT";
    case 'L': return "LONG";
    case 'F': return "FLOAT";
    case 'G': return "BINFLOAT";
    case 'S': return "STRING";
    case 'T': return "BINSTRING";
    case 'U': return "SHORT_BINSTRING";
    case 'V': return "UNICODE";
    case ']': return "EMPTY_LIST";
    case 'a': return "APPEND";
    case 'e': return "APPENDS";
    case 'l': return "LIST";
    case 'd': return "DICT";
    case 'i': return "INST";
    case 'o': return "OBJ";
    case 0x81: return "NEWOBJ";
    case 0x92: return "NEWOBJ_EX";
    case 'P': return "PERSID";
    case 'p': return "PUT";
    case 'g': return "GET";
    case '0': return "POP";
    case '1': return "POP_MARK";
    case '2': return "DUP";
    case 0x82: return "EXT1";
    case 0x83: return "EXT2";
    case 0x84: return "EXT4";
    case 0x8b: return "LONG4";
    case 0x8c: return "SHORT_BINUNICODE";
    case 0x8d: return "BINUNICODE8";
    case 0x8e: return "BINBYTES8";
    case 0x93: return "STACK_GLOBAL";
    case 0x94: return "MEMOIZE";
    case 0x95: return "FRAME";
    case 'B': return "BINBYTES";
    case 'C': return "SHORT_BINBYTES";
    default: return "unknown";
  }
}

class Machine {
 public:
  Machine(const uint8_t* data, uint64_t size, const std::string& what)
      : in_(data, size, what + " (data.pkl)"), what_(what) {}
  ~Machine() {
    // Dicts are mutable and could be made to contain themselves; empty them
    // all so that no reference cycle survives.
    for (auto& d : dicts_) d->items.clear();
  }

  std::vector<PickledTensor> run();

 private:
  [[noreturn]] void fail(const std::string& msg) { in_.fail(msg); }

  Ref make(Value::Kind k) {
    auto v = std::make_shared<Value>();
    v->kind = k;
    if (k == Value::Dict) {
      v->dict = std::make_unique<DictKeys>();
      dicts_.push_back(v);
    }
    if (k == Value::Storage || k == Value::TensorRec) v->info = std::make_unique<PickledTensor>();
    return v;
  }
  void push(Ref v) { stack_.push_back(std::move(v)); }
  Ref pop() {
    if (stack_.size() <= mark_floor()) fail("pickle stack underflow");
    Ref v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  size_t mark_floor() const { return marks_.empty() ? 0 : marks_.back(); }
  std::vector<Ref> pop_to_mark() {
    if (marks_.empty()) fail("pickle MARK expected");
    size_t m = marks_.back();
    marks_.pop_back();
    std::vector<Ref> items(stack_.begin() + long(m), stack_.end());
    stack_.resize(m);
    return items;
  }
  Ref make_tuple(std::vector<Ref> items) {
    Ref t = make(Value::Tuple);
    for (auto& it : items)
      if (it->kind == Value::Tuple && it->depth + 1 > t->depth) t->depth = it->depth + 1;
    if (t->depth > kMaxDepth) fail("tuples nested too deeply");
    t->items = std::move(items);
    return t;
  }
  void dict_set(Value& d, const Ref& key, Ref value) {
    if (key->kind != Value::Str)
      fail(std::string("dict key of type ") + kind_name(key->kind) + " (only str keys are read)");
    auto it = d.dict->index.find(key->s);
    if (it != d.dict->index.end()) {
      d.items[it->second] = std::move(value);
      return;
    }
    d.dict->index.emplace(key->s, d.items.size());
    d.dict->keys.push_back(key->s);
    d.items.push_back(std::move(value));
  }

  std::string read_line() {
    std::string s;
    for (;;) {
      char ch = char(in_.u8());
      if (ch == '\n') return s;
      if (s.size() > 256) fail("GLOBAL name too long");
      s.push_back(ch);
    }
  }
  int64_t read_long1() {
    uint8_t n = in_.u8();
    if (n > 8) fail("LONG1 integer of " + std::to_string(n) + " bytes is too large");
    const uint8_t* p = in_.bytes(n);
    uint64_t v = 0;
    for (int k = n - 1; k >= 0; k--) v = (v << 8) | p[k];
    if (n > 0 && n < 8 && (p[n - 1] & 0x80)) v |= ~uint64_t(0) << (8 * n);  // sign-extend
    return int64_t(v);
  }

  Ref global(const std::string& module, const std::string& name);
  Ref persistent_load(const Ref& pid);
  Ref reduce(const Ref& callable, const Ref& args);
  Ref rebuild_tensor(const Value& args);
  std::vector<int64_t> int_tuple(const Ref& v, const char* field);

  // run()'s opcode families; each returns false for an opcode outside its family.
  std::vector<PickledTensor> stop(bool proto_seen);
  bool container_op(uint8_t op);
  bool scalar_op(uint8_t op);
  bool object_op(uint8_t op);
  bool memo_op(uint8_t op);
  [[noreturn]] void unsupported_opcode(uint8_t op);

  ByteCursor in_;
  std::string what_;
  std::vector<Ref> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint32_t, Ref> memo_;
  std::vector<Ref> dicts_;
};

Ref Machine::global(const std::string& module, const std::string& name) {
  std::string full = module + "." + name;
  Ref g = make(Value::Global);
  g->s = full;
  if (full == "collections.OrderedDict" || full == "torch._utils._rebuild_tensor_v2" ||
      full == "torch._utils._rebuild_parameter")
    return g;
  if (full == "torch.FloatStorage" || full == "torch.HalfStorage" ||
      full == "torch.BFloat16Storage")
    return g;
  if (module == "torch" && name.size() > 7 && name.compare(name.size() - 7, 7, "Storage") == 0)
    fail("tensor storage type '" + full +
         "' is not supported (only float32, float16 and bfloat16 tensors are read)");
  fail("global '" + full +
       "' is not allowed: only plain tensors in a dict are read from .pth files "
       "(nothing in the file is executed)");
}

Ref Machine::persistent_load(const Ref& pid) {
  // ('storage', <storage type>, key, location, numel)
  if (pid->kind != Value::Tuple || pid->items.size() != 5)
    fail("persistent id is not a 5-tuple ('storage', type, key, location, numel)");
  const auto& it = pid->items;
  if (it[0]->kind != Value::Str || it[0]->s != "storage") fail("persistent id is not a 'storage'");
  if (it[1]->kind != Value::Global) fail("persistent id storage type is not a storage class");
  if (it[2]->kind != Value::Str || it[3]->kind != Value::Str || it[4]->kind != Value::Int)
    fail("persistent id fields have the wrong types");
  if (it[4]->i < 0) fail("negative storage size");
  Ref s = make(Value::Storage);
  const std::string& type = it[1]->s;
  if (type == "torch.FloatStorage") s->info->dtype = DType::f32;
  else if (type == "torch.HalfStorage") s->info->dtype = DType::f16;
  else if (type == "torch.BFloat16Storage") s->info->dtype = DType::bf16;
  else fail("'" + type + "' is not a storage type");
  s->info->storage_key = it[2]->s;
  s->info->storage_numel = uint64_t(it[4]->i);
  return s;
}

std::vector<int64_t> Machine::int_tuple(const Ref& v, const char* field) {
  if (v->kind != Value::Tuple) fail(std::string("tensor ") + field + " is not a tuple");
  std::vector<int64_t> out;
  for (auto& x : v->items) {
    if (x->kind != Value::Int || x->i < 0) fail(std::string("tensor ") + field + " holds a non-size value");
    out.push_back(x->i);
  }
  return out;
}

// _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
//                    backward_hooks[, metadata])
Ref Machine::rebuild_tensor(const Value& args) {
  const auto& a = args.items;
  if (a.size() != 6 && a.size() != 7) fail("_rebuild_tensor_v2 expects 6 or 7 arguments");
  if (a[0]->kind != Value::Storage) fail("_rebuild_tensor_v2: first argument is not a storage");
  if (a[1]->kind != Value::Int || a[1]->i < 0) fail("_rebuild_tensor_v2: bad storage offset");
  if (a[4]->kind != Value::Bool) fail("_rebuild_tensor_v2: requires_grad is not a bool");
  if (a[5]->kind != Value::Dict || !a[5]->items.empty())
    fail("_rebuild_tensor_v2: tensors with backward hooks are not supported");
  if (a.size() == 7 && a[6]->kind != Value::None &&
      !(a[6]->kind == Value::Dict && a[6]->items.empty()))
    fail("_rebuild_tensor_v2: tensors with metadata are not supported");
  Ref t = make(Value::TensorRec);
  PickledTensor& pt = *t->info;
  pt.dtype = a[0]->info->dtype;
  pt.storage_key = a[0]->info->storage_key;
  pt.storage_numel = a[0]->info->storage_numel;
  pt.offset = uint64_t(a[1]->i);
  pt.shape = int_tuple(a[2], "size");
  pt.stride = int_tuple(a[3], "stride");
  if (pt.shape.size() != pt.stride.size()) fail("tensor size and stride have different lengths");
  if (pt.shape.size() > 8) fail("tensor has more than 8 dimensions");

  // Contiguous (row-major) check; size-1 dimensions may carry any stride.
  uint64_t numel = 1;
  for (int64_t d : pt.shape)
    if (!mul_ok(numel, uint64_t(d), &numel)) fail("tensor size overflows");
  if (numel > 0) {
    uint64_t expect = 1;
    for (size_t k = pt.shape.size(); k-- > 0;) {
      if (pt.shape[k] != 1 && uint64_t(pt.stride[k]) != expect)
        fail("tensor is a non-contiguous view (size/stride do not describe a row-major "
             "block); re-save it after .contiguous()");
      expect *= uint64_t(pt.shape[k]);
    }
  }
  uint64_t end;
  if (!add_ok(pt.offset, numel, &end) || end > pt.storage_numel)
    fail("tensor extends past the end of its storage (offset " + std::to_string(pt.offset) +
         " + " + std::to_string(numel) + " elements > " + std::to_string(pt.storage_numel) + ")");
  return t;
}

Ref Machine::reduce(const Ref& callable, const Ref& args) {
  if (callable->kind != Value::Global) fail("REDUCE on something that is not a known global");
  if (args->kind != Value::Tuple) fail("REDUCE arguments are not a tuple");
  if (callable->s == "collections.OrderedDict") {
    if (!args->items.empty()) fail("OrderedDict called with arguments");
    return make(Value::Dict);
  }
  if (callable->s == "torch._utils._rebuild_tensor_v2") return rebuild_tensor(*args);
  if (callable->s == "torch._utils._rebuild_parameter") {
    // nn.Parameter(tensor, requires_grad, backward_hooks): the tensor itself
    const auto& a = args->items;
    if (a.size() != 3 || a[0]->kind != Value::TensorRec || a[1]->kind != Value::Bool ||
        a[2]->kind != Value::Dict || !a[2]->items.empty())
      fail("_rebuild_parameter with unexpected arguments");
    return a[0];
  }
  fail("'" + callable->s + "' cannot be called");
}

// STOP: the finished stack must hold exactly one dict whose values are all tensors.
std::vector<PickledTensor> Machine::stop(bool proto_seen) {
  if (!proto_seen) fail("missing PROTO 2 header");
  if (stack_.size() != 1 || !marks_.empty()) fail("STOP with a malformed stack");
  const Value& d = *stack_.back();
  if (d.kind != Value::Dict) fail("the pickled object is not a dict of tensors");
  std::vector<PickledTensor> out;
  for (size_t k = 0; k < d.items.size(); k++) {
    if (d.items[k]->kind != Value::TensorRec)
      fail("dict entry '" + d.dict->keys[k] + "' is a " + kind_name(d.items[k]->kind) +
           ", not a tensor");
    PickledTensor t = *d.items[k]->info;
    t.name = d.dict->keys[k];
    out.push_back(std::move(t));
  }
  return out;
}

// MARK, tuples and dicts. Returns false (having read nothing) for any other opcode.
bool Machine::container_op(uint8_t op) {
  switch (op) {
    case '(': marks_.push_back(stack_.size()); return true;  // MARK
    case ')': push(make(Value::Tuple)); return true;          // EMPTY_TUPLE
    case 't': push(make_tuple(pop_to_mark())); return true;    // TUPLE
    case 0x85: case 0x86: case 0x87: {                         // TUPLE1..3
      size_t n = size_t(op - 0x84);
      if (stack_.size() < mark_floor() + n) fail("pickle stack underflow");
      std::vector<Ref> items(stack_.end() - long(n), stack_.end());
      stack_.resize(stack_.size() - n);
      push(make_tuple(std::move(items)));
      return true;
    }
    case '}': push(make(Value::Dict)); return true;  // EMPTY_DICT
    case 's': {                                      // SETITEM
      Ref value = pop(), key = pop();
      Ref d = pop();
      if (d->kind != Value::Dict) fail("SETITEM on a non-dict");
      dict_set(*d, key, std::move(value));
      push(d);
      return true;
    }
    case 'u': {  // SETITEMS
      std::vector<Ref> kv = pop_to_mark();
      if (kv.size() % 2) fail("SETITEMS with an odd number of items");
      Ref d = pop();
      if (d->kind != Value::Dict) fail("SETITEMS on a non-dict");
      for (size_t k = 0; k < kv.size(); k += 2) dict_set(*d, kv[k], kv[k + 1]);
      push(d);
      return true;
    }
    default: return false;
  }
}

// Ints, None, booleans and strings. Returns false (having read nothing) for any other opcode.
bool Machine::scalar_op(uint8_t op) {
  switch (op) {
    case 'J': { Ref v = make(Value::Int); v->i = in_.i32(); push(v); return true; }  // BININT
    case 'K': { Ref v = make(Value::Int); v->i = in_.u8(); push(v); return true; }   // BININT1
    case 'M': { Ref v = make(Value::Int); v->i = in_.u16(); push(v); return true; }  // BININT2
    case 0x8a: { Ref v = make(Value::Int); v->i = read_long1(); push(v); return true; }  // LONG1
    case 'N': push(make(Value::None)); return true;                                    // NONE
    case 0x88: case 0x89: {                                                            // NEWTRUE/FALSE
      Ref v = make(Value::Bool);
      v->i = op == 0x88;
      push(v);
      return true;
    }
    case 'X': {  // BINUNICODE
      uint32_t n = in_.u32();
      Ref v = make(Value::Str);
      v->s.assign(reinterpret_cast<const char*>(in_.bytes(n)), n);
      push(v);
      return true;
    }
    default: return false;
  }
}

// GLOBAL, REDUCE, BUILD and BINPERSID: the opcodes that rebuild storages and tensors.
// Returns false (having read nothing) for any other opcode.
bool Machine::object_op(uint8_t op) {
  switch (op) {
    case 'c': {  // GLOBAL
      std::string module = read_line();
      std::string name = read_line();
      push(global(module, name));
      return true;
    }
    case 'R': {  // REDUCE
      Ref args = pop(), callable = pop();
      push(reduce(callable, args));
      return true;
    }
    case 'b': {  // BUILD: only the attribute dict that OrderedDict state_dicts carry
      Ref state = pop();
      if (stack_.size() <= mark_floor() || stack_.back()->kind != Value::Dict)
        fail("BUILD on something other than a dict");
      (void)state;  // e.g. {'_metadata': ...}: ignored, it holds no tensors
      return true;
    }
    case 'Q': push(persistent_load(pop())); return true;  // BINPERSID
    default: return false;
  }
}

// The memo: BINPUT, LONG_BINPUT, BINGET, LONG_BINGET. Returns false (having read
// nothing) for any other opcode.
bool Machine::memo_op(uint8_t op) {
  switch (op) {
    case 'q': case 'r': {  // BINPUT, LONG_BINPUT
      uint32_t idx = op == 'q' ? in_.u8() : in_.u32();
      if (stack_.size() <= mark_floor()) fail("PUT with an empty stack");
      memo_[idx] = stack_.back();
      return true;
    }
    case 'h': case 'j': {  // BINGET, LONG_BINGET
      uint32_t idx = op == 'h' ? in_.u8() : in_.u32();
      auto it = memo_.find(idx);
      if (it == memo_.end()) fail("GET of memo entry " + std::to_string(idx) + " that was never PUT");
      push(it->second);
      return true;
    }
    default: return false;
  }
}

void Machine::unsupported_opcode(uint8_t op) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02x", op);
  fail(std::string("pickle opcode ") + buf + " (" + opcode_name(op) +
       ") is not supported: this reader only reads what torch.save writes for a dict of tensors");
}

std::vector<PickledTensor> Machine::run() {
  bool proto_seen = false;
  for (;;) {
    uint8_t op = in_.u8();
    if (op == 0x80) {  // PROTO
      uint8_t v = in_.u8();
      if (v != 2) fail("pickle protocol " + std::to_string(v) + " (torch.save writes protocol 2)");
      proto_seen = true;
      continue;
    }
    if (op == '.') return stop(proto_seen);  // STOP
    if (!container_op(op) && !scalar_op(op) && !object_op(op) && !memo_op(op)) unsupported_opcode(op);
  }
}

}  // namespace

std::vector<PickledTensor> read_torch_pickle(const uint8_t* data, uint64_t size,
                                             const std::string& what) {
  Machine m(data, size, what);
  return m.run();
}

}  // namespace rwkv
