// Tests of where rwkv-run finds its data when installed (runtime/core/program_dir.h,
// runtime/tokenizer/tokenizer.h, tools/rwkv-run/chat_prompt_dirs.h): a copy of the
// binary in <tmp>/bin beside a <tmp>/share/rwkv-run tree, run from / with no
// tokenizer variables and a HOME without rwkv-run data.
// (tests/capi/install_and_use.cmake checks the same on a real `cmake --install`.)
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <string>
#include <vector>

#include "cli_process_util.h"
#include "runtime/core/program_dir.h"
#include "runtime/tokenizer/tokenizer.h"

namespace {

// A prefix with bin/rwkv-run (a copy of this build's) and share/rwkv-run/{prompts,tokenizers}.
struct FakePrefix {
  cli_test::TempDir dir;
  std::string bin() const { return dir.file("bin/rwkv-run"); }
  std::string share(const std::string& rel) const { return dir.file("share/rwkv-run/" + rel); }
  FakePrefix() {
    for (const char* d : {"bin", "home", "share", "share/rwkv-run", "share/rwkv-run/prompts", "share/rwkv-run/tokenizers"})
      REQUIRE(::mkdir(dir.file(d).c_str(), 0755) == 0);
    cli_test::write_file(bin(), cli_test::read_file(RWKV_RUN_BINARY));
    REQUIRE(::chmod(bin().c_str(), 0755) == 0);
  }
};

// Runs the prefix's rwkv-run from / with `input` on stdin and a clean environment:
// PATH only, HOME in the prefix, no RWKV_TOKENIZER_DIR or XDG_DATA_HOME.
cli_test::Result run_installed(const FakePrefix& p, const std::vector<std::string>& args, const std::string& input = "") {
  cli_test::TempDir io;
  const std::string in = io.file("stdin"), out = io.file("stdout"), err = io.file("stderr");
  cli_test::write_file(in, input);
  std::vector<std::string> argv_s = {p.bin()};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv = cli_test::make_argv(argv_s);
  std::vector<std::string> env_s = {"PATH=/usr/bin:/bin", "HOME=" + p.dir.file("home")};
  std::vector<char*> envp = cli_test::make_argv(env_s);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, in.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  // Run from / (glibc's posix_spawn_file_actions_addchdir_np), away from the source tree.
  posix_spawn_file_actions_addchdir_np(&fa, "/");
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  REQUIRE(rc == 0);
  cli_test::Result r;
  r.exit_code = cli_test::wait_child(pid, 60);
  r.out = cli_test::read_file(out);
  r.err = cli_test::read_file(err);
  cli_test::split_device_note(&r);
  return r;
}

}  // namespace

TEST_CASE("join_relative_path folds the leading ../ into the directory", "[install]") {
  CHECK(rwkv::join_relative_path("/p/bin", "../share/rwkv-run") == "/p/share/rwkv-run");
  CHECK(rwkv::join_relative_path("/a/b/bin", "../../share/x") == "/a/share/x");
  CHECK(rwkv::join_relative_path("/bin", "../share/rwkv-run") == "/share/rwkv-run");
  CHECK(rwkv::join_relative_path("/p/bin", "share/x") == "/p/bin/share/x");
  // The test binary's own data directory sits beside its directory.
  CHECK(rwkv::program_data_dir().find("/share/rwkv-run") != std::string::npos);
}

TEST_CASE("installed rwkv-run finds the tokenizer files in share/rwkv-run/tokenizers", "[install][tokenizer][cli]") {
  FakePrefix p;
  const std::string vocab = "rwkv_vocab_v20230424.txt";
  cli_test::write_file(p.share("tokenizers/" + vocab), cli_test::read_file(testdata_path("tokenizer/" + vocab)));
  const auto world = run_installed(p, {"tokenize", "--tokenizer", "world", "--text", "Hello, world"});
  CHECK(world.err == "");
  CHECK(world.exit_code == 0);
  CHECK(world.out == "33155,45,40213\n");
  // The 20b file is not there: one line naming where it was looked for and how to give it,
  // and no source-tree script.
  const auto missing = run_installed(p, {"tokenize", "--tokenizer", "20b", "--text", "Hello"});
  CHECK(missing.exit_code == 1);
  CHECK(cli_test::one_error_line(missing.err, "tokenize"));
  CHECK(missing.err.find("20B_tokenizer.json") != std::string::npos);
  CHECK(missing.err.find(p.share("tokenizers")) != std::string::npos);
  CHECK(missing.err.find(p.dir.file("home/.local/share/rwkv-run/tokenizers")) != std::string::npos);
  CHECK(missing.err.find("RWKV_TOKENIZER_DIR") != std::string::npos);
  CHECK(missing.err.find("scripts/") == std::string::npos);
  // tokenize --help lists the directories of this run.
  const auto help = run_installed(p, {"tokenize", "--help"});
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("\n  " + p.share("tokenizers") + "\n") != std::string::npos);
}

TEST_CASE("installed rwkv-run finds chat prompts by name in share/rwkv-run/prompts", "[install][chat][cli]") {
  FakePrefix p;
  cli_test::write_file(p.share("prompts/pair.txt"), "user: Ann\nbot: Ben\n---\nAnn: Hello.\n\nBen: Hi.\n");
  const std::vector<std::string> chat = {"chat", "-m", cli_test::tiny_model(), "--top-p", "0", "--reply-max", "5"};
  std::vector<std::string> by_name = chat;
  by_name.insert(by_name.end(), {"--prompt", "pair"});
  const auto r = run_installed(p, by_name, "Hi\n");
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.rfind("Ben:", 0) == 0);
  // The same with the .txt, and +prompt NAME inside the chat.
  by_name.back() = "pair.txt";
  CHECK(run_installed(p, by_name, "Hi\n").out == r.out);
  const auto switched = run_installed(p, chat, "+prompt pair\nHi\n");
  CHECK(switched.exit_code == 0);
  CHECK(switched.out == r.out);
  // chat --help names the directory and the prompts it holds.
  const auto help = run_installed(p, {"chat", "--help"});
  CHECK(help.exit_code == 0);
  CHECK(help.out.find(p.share("prompts") + " (pair)") != std::string::npos);
  // An unknown name is an error naming it.
  by_name.back() = "nosuch";
  const auto unknown = run_installed(p, by_name, "Hi\n");
  CHECK(unknown.exit_code == 1);
  CHECK(unknown.err.find("nosuch: cannot open") != std::string::npos);
}
