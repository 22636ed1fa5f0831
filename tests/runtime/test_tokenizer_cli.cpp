// Tests of the tokenizer factory and of `rwkv-run tokenize` / `detokenize`.
#include <catch2/catch.hpp>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include "runtime/model/model.h"
#include "runtime/tokenizer/tokenizer.h"
#include "test_tokenizer_vectors.h"

extern char** environ;

namespace {

struct RunResult {
  int status = -1;
  std::string out;
};

// Runs rwkv-run with `args`, the extra environment `env` ("NAME=value"), and
// collects its standard output.
RunResult run_cli(const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
  std::vector<std::string> argv_s = {RWKV_RUN_BINARY};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_s(env);
  for (char** e = environ; *e; ++e) env_s.emplace_back(*e);
  std::vector<char*> envp;
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);

  int fds[2];
  REQUIRE(pipe(fds) == 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  pid_t pid;
  RunResult r;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  REQUIRE(rc == 0);
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) r.out.append(buf, size_t(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string join_ids(const std::vector<int32_t>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s;
}

}  // namespace

TEST_CASE("Tokenizer kind follows the vocabulary size", "[tokenizer]") {
  CHECK(rwkv::tokenizer_kind_for_vocab(65536) == "world");
  CHECK(rwkv::tokenizer_kind_for_vocab(50277) == "20b");
  CHECK(rwkv::tokenizer_kind_for_vocab(256) == "bytes");
  CHECK_THROWS_AS(rwkv::tokenizer_kind_for_vocab(1024), rwkv::Error);
  auto bytes = rwkv::load_tokenizer("bytes");
  CHECK(bytes->encode("\"in") == std::vector<int32_t>{'"', 'i', 'n'});
}

TEST_CASE("rwkv-run tokenize and detokenize reproduce the test vectors", "[tokenizer][cli]") {
  const std::string dir = testdata_path("tokenizer");
  const std::string env = "RWKV_TOKENIZER_DIR=" + dir;
  for (const auto& [kind, prefix] : {std::make_pair("world", "tokenizer_world_"), std::make_pair("20b", "tokenizer_20B_")}) {
    int used = 0;
    for (const auto& v : load_tokenizer_vectors(prefix)) {
      if (v.input.empty() || v.input.find('\0') != std::string::npos) continue;  // not passable as an argument
      if (++used > 8) break;  // each run loads the tokenizer: a sample keeps the test quick
      INFO(kind << ": " << v.input);
      const auto r = run_cli({"tokenize", "--tokenizer", kind, "--text", v.input, "--json"}, {env});
      REQUIRE(r.status == 0);
      const auto doc = rwkv::parse_json(r.out, "stdout");
      const std::vector<int32_t> ids = rwkv::json_member(doc, "ids", "stdout").get<std::vector<int32_t>>();
      CHECK(ids == v.ids);
      const auto d = run_cli({"detokenize", "--tokenizer", kind, "--ids", join_ids(v.ids), "--raw"}, {env});
      CHECK(d.status == 0);
      if (v.decode_roundtrip) CHECK(d.out == v.input);
    }
  }
  // A tokenizer file given by path, and plain output.
  const auto r = run_cli({"tokenize", "--tokenizer", dir + "/20B_tokenizer.json", "--text", "hello world"});
  CHECK(r.status == 0);
  CHECK(r.out == join_ids(rwkv::load_tokenizer(dir + "/20B_tokenizer.json")->encode("hello world")) + "\n");
}

TEST_CASE("rwkv-run tokenize -m picks the tokenizer from the model", "[tokenizer][cli]") {
  // The tiny models are byte-level (V = 256): ids are the bytes.
  const auto r = run_cli({"tokenize", "-m", testdata_path("models/tiny-rwkv-4v0-660K.pth"), "--text", "\"in"});
  CHECK(r.status == 0);
  CHECK(r.out == join_ids({'"', 'i', 'n'}) + "\n");
}

TEST_CASE("rwkv-run tokenize reports bad input with an exit code", "[tokenizer][cli]") {
  CHECK(run_cli({"tokenize", "--tokenizer", "/nonexistent/tok.json", "--text", "a"}).status == 1);
  CHECK(run_cli({"tokenize", "--text", "a", "--file", "b"}).status == 2);
  CHECK(run_cli({"detokenize", "--tokenizer", "bytes", "--ids", "1,x"}).status == 2);
  CHECK(run_cli({"detokenize", "--tokenizer", "bytes", "--ids", "256"}).status == 1);
  // No standard files where the defaults point: the message names the fix.
  CHECK(run_cli({"tokenize", "--text", "a"}, {"RWKV_TOKENIZER_DIR=/nonexistent"}).status == 1);
}
