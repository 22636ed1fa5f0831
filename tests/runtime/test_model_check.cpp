// Tests of version detection and validation (docs/rwkv-math.md section 2.3): models built
// from the testdata checkpoints with tensors added, removed or reshaped.
#include <catch2/catch.hpp>

#include <algorithm>

#include "runtime/model/model.h"
#include "runtime/tests_model_helpers.h"

namespace {

// A model whose tensors are views of `src`'s, minus `drop`.
std::unique_ptr<rwkv::Model> copy_of(const rwkv::Model& src, const std::vector<std::string>& drop = {}) {
  auto m = std::make_unique<rwkv::Model>();
  m->info.path = "edited";
  for (const auto& kv : src.tensors())
    if (std::find(drop.begin(), drop.end(), kv.first) == drop.end()) m->add_view(kv.second);
  return m;
}

void add_zeros(rwkv::Model& m, const std::string& name, std::vector<int64_t> shape) {
  rwkv::Tensor t;
  t.name = name;
  t.shape = std::move(shape);
  m.add_owned(t, std::vector<uint8_t>(size_t(t.numel()) * 4));
}

std::string check_error(rwkv::Model& m) {
  try {
    rwkv::check_model(m, "edited");
  } catch (const rwkv::Error& e) {
    return e.what();
  }
  return "(accepted)";
}

}  // namespace

TEST_CASE("check: tensors of unsupported variants are rejected by name") {
  auto v4 = rwkv::load_model(testdata_path("models/tiny-rwkv-4v0-660K.pth"));
  auto v7 = rwkv::load_model(testdata_path("models/tiny-rwkv-7v0-834K.pth"));
  const int64_t C4 = v4->info.n_embd, C7 = v7->info.n_embd;
  struct Case {
    const rwkv::Model* base;
    std::string name;
    std::vector<int64_t> shape;
    const char* why;
  };
  std::vector<Case> cases = {
      {v4.get(), "blocks.0.ffnPre.key.weight", {C4, C4}, "ffnPre"},
      {v4.get(), "blocks.0.pos_emb_x", {1, C4}, "pos_emb"},
      {v4.get(), "pos_emb", {1, C4}, "pos_emb"},
      {v4.get(), "blocks.1.tiny_ln.weight", {C4}, "tiny"},
      {v4.get(), "head_qk.weight", {C4, C4}, "head_qk"},
      {v7.get(), "blocks.0.ffn.s_emb.weight", {256, C7}, "DeepEmbed"},
      {v7.get(), "blocks.3.ffn.s1", {C7, 32}, "DeepEmbed"},
      {v7.get(), "blocks.0.att.something_new", {C7}, "unexpected tensor"},
      {v4.get(), "blocks.0.att.gate.weight", {C4, C4}, "unexpected tensor"},
      {v4.get(), "blocks.4.ln1.weight", {C4}, "missing tensor"},  // a 5th layer that is incomplete
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    auto m = copy_of(*c.base);
    add_zeros(*m, c.name, c.shape);
    CHECK_THAT(check_error(*m), Catch::Contains(c.why));
  }
}

TEST_CASE("check: missing tensors and wrong shapes are reported with the tensor's name") {
  auto v6 = rwkv::load_model(testdata_path("models/tiny-rwkv-6v0-1m.pth"));
  auto m = copy_of(*v6, {"blocks.11.ffn.value.weight"});
  CHECK_THAT(check_error(*m), Catch::Contains("missing tensor 'blocks.11.ffn.value.weight'"));
  m = copy_of(*v6, {"blocks.3.att.time_decay_w2"});
  add_zeros(*m, "blocks.3.att.time_decay_w2", {64, 65});
  CHECK_THAT(check_error(*m), Catch::Contains("blocks.3.att.time_decay_w2") && Catch::Contains("[64,65]"));
  m = copy_of(*v6, {"head.weight"});
  add_zeros(*m, "head.weight", {255, 64});
  CHECK_THAT(check_error(*m), Catch::Contains("head.weight"));
  auto v7 = rwkv::load_model(testdata_path("models/tiny-rwkv-7v0-834K.pth"));
  m = copy_of(*v7, {"blocks.5.att.v2"});  // only layer 0 may lack v0/v1/v2
  CHECK_THAT(check_error(*m), Catch::Contains("missing tensor 'blocks.5.att.v2'"));
}

TEST_CASE("check: v5 variants are told apart by gate and decay shape, v6 time_state is optional") {
  auto v52 = rwkv::load_model(testdata_path("models/tiny-rwkv-5v2-730K.pth"));
  const int H = v52->info.n_head;
  REQUIRE(v52->info.arch == rwkv::Arch::v5_2);
  // per-head decay with a gate: 5.1 (bonus as time_faaaa [H], the "r2" form)
  std::vector<std::string> drop;
  for (int l = 0; l < v52->info.n_layer; l++) {
    drop.push_back("blocks." + std::to_string(l) + ".att.time_decay");
    drop.push_back("blocks." + std::to_string(l) + ".att.time_faaaa");
  }
  auto m = copy_of(*v52, drop);
  for (int l = 0; l < v52->info.n_layer; l++) {
    add_zeros(*m, "blocks." + std::to_string(l) + ".att.time_decay", {H});
    add_zeros(*m, "blocks." + std::to_string(l) + ".att.time_faaaa", {H});
  }
  rwkv::check_model(*m, "edited");
  CHECK(m->info.arch == rwkv::Arch::v5_1);
  CHECK(m->info.head_size == v52->info.head_size);

  auto v6 = rwkv::load_model(testdata_path("models/tiny-rwkv-6v0-1m.pth"));
  CHECK_FALSE(v6->info.has_time_state);
  m = copy_of(*v6);
  const int64_t N = v6->info.head_size;
  for (int l = 0; l < v6->info.n_layer; l++)
    add_zeros(*m, "blocks." + std::to_string(l) + ".att.time_state", {v6->info.n_head, N, N});
  rwkv::check_model(*m, "edited");
  CHECK(m->info.has_time_state);
  CHECK(m->info.params == v6->info.params + int64_t(v6->info.n_layer) * v6->info.n_head * N * N);
}
