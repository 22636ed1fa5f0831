// The files rwkv-run writes (tools/rwkv-run/cli_output_path.h, runtime/core/file_mode.h):
// modes follow the umask, an output that is an input is refused (directly, through a
// symbolic link or a hard link), empty names are usage errors, a symbolic link is followed
// (its target replaced, the link kept), a device is not renamed over, and convert, quantize
// and synth write only *.safetensors names.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "runtime/cli_process_util.h"

namespace {

using cli_test::run;
using cli_test::TempDir;

std::string copy_of_model(const TempDir& dir) {
  const std::string path = dir.file("model.pth");
  cli_test::write_file(path, cli_test::read_file(cli_test::tiny_model()));
  return path;
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

bool loads(const std::string& state) {
  return run({"generate", "-m", cli_test::tiny_model(), "--state-in", state, "-p", "x", "-n", "1", "-q"}).exit_code == 0;
}

// Sets the umask for its scope (children inherit it).
class Umask {
 public:
  explicit Umask(mode_t m) : old_(::umask(m)) {}
  ~Umask() { ::umask(old_); }

 private:
  mode_t old_;
};

}  // namespace

TEST_CASE("rwkv-run: state and safetensors files get 0666 less the umask", "[cli][files]") {
  TempDir dir;
  Umask mask(027);
  const auto g = run({"generate", "-m", cli_test::tiny_model(), "-p", "hi", "-n", "0", "-q", "--state-out",
                      dir.file("s.state")});
  REQUIRE(g.exit_code == 0);
  CHECK(mode_of(dir.file("s.state")) == 0640);
  const auto c = run({"convert", cli_test::tiny_model(), dir.file("m.safetensors")});
  REQUIRE(c.exit_code == 0);
  CHECK(mode_of(dir.file("m.safetensors")) == 0640);
  Umask open_mask(0);
  REQUIRE(run({"generate", "-m", cli_test::tiny_model(), "-p", "hi", "-n", "0", "-q", "--state-out",
               dir.file("t.state")}).exit_code == 0);
  CHECK(mode_of(dir.file("t.state")) == 0666);
}

TEST_CASE("rwkv-run: an output that is the model is refused, also through links", "[cli][files]") {
  TempDir dir;
  const std::string model = copy_of_model(dir);
  const std::string original = cli_test::read_file(model);
  REQUIRE(::symlink(model.c_str(), dir.file("link.state").c_str()) == 0);
  REQUIRE(::link(model.c_str(), dir.file("hard.state").c_str()) == 0);
  for (const std::string& out : {model, dir.file("link.state"), dir.file("hard.state")}) {
    const auto r = run({"generate", "-m", model, "-p", "hi", "-n", "0", "-q", "--state-out", out});
    INFO(out << ": " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(cli_test::one_error_line(r.err, "generate"));
    CHECK(r.err.find("is the same file as the input") != std::string::npos);
  }
  CHECK(cli_test::read_file(model) == original);
  // convert: OUT equal to IN.
  REQUIRE(run({"convert", model, dir.file("a.safetensors")}).exit_code == 0);
  const std::string st = cli_test::read_file(dir.file("a.safetensors"));
  const auto c = run({"convert", dir.file("a.safetensors"), dir.file("a.safetensors")});
  CHECK(c.exit_code == 2);
  CHECK(cli_test::read_file(dir.file("a.safetensors")) == st);
  // chat's +save over the model: a note, the chat goes on.
  const auto chat = run({"chat", "-m", model, "--seed", "1"}, "+save " + dir.file("link.state") + "\n");
  CHECK(chat.exit_code == 0);
  CHECK(chat.err.find("+save " + dir.file("link.state") + " is the same file as the input") != std::string::npos);
  CHECK(cli_test::read_file(model) == original);
  // --json FILE equal to the model.
  const auto j = run({"info", model, "--json", model});
  CHECK(j.exit_code == 2);
  const auto b = run({"bench", model, "--device", "cpu", "--json", dir.file("hard.state")});
  CHECK(b.exit_code == 2);
  CHECK(cli_test::read_file(model) == original);
}

TEST_CASE("rwkv-run: empty output names are usage errors", "[cli][files]") {
  TempDir dir;
  const std::string m = cli_test::tiny_model();
  const std::vector<std::vector<std::string>> cases = {
      {"generate", "-m", m, "-p", "hi", "-n", "0", "--state-out", ""},
      {"logits", "-m", m, "--tokens", "1,2", "--out", ""},
      {"logits", "-m", m, "--tokens", "1,2", "--out", dir.file("l.f32"), "--state-out", ""},
      {"convert", m, ""},
  };
  for (const auto& args : cases) {
    const auto r = run(args);
    INFO(args[0] << ": " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(cli_test::one_error_line(r.err, args[0]));
  }
}

TEST_CASE("rwkv-run: a --state-out symbolic link is followed and kept", "[cli][files]") {
  TempDir dir;
  cli_test::write_file(dir.file("target.state"), "old");
  REQUIRE(::symlink(dir.file("target.state").c_str(), dir.file("link.state").c_str()) == 0);
  const auto r = run({"generate", "-m", cli_test::tiny_model(), "-p", "hi", "-n", "0", "-q", "--state-out",
                      dir.file("link.state")});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  struct stat st {};
  REQUIRE(::lstat(dir.file("link.state").c_str(), &st) == 0);
  CHECK(S_ISLNK(st.st_mode));
  CHECK(cli_test::read_file(dir.file("target.state")) != "old");
  CHECK(loads(dir.file("target.state")));
  // A link to a missing file is refused.
  REQUIRE(::symlink(dir.file("missing/x.state").c_str(), dir.file("dangling.state").c_str()) == 0);
  const auto d = run({"generate", "-m", cli_test::tiny_model(), "-p", "hi", "-n", "0", "-q", "--state-out",
                      dir.file("dangling.state")});
  CHECK(d.exit_code == 1);
  CHECK(cli_test::one_error_line(d.err, "generate"));
}

TEST_CASE("rwkv-run: an output in a missing folder is refused before anything is computed", "[cli][files]") {
  // The folder is checked with the name: a prompt is not prefilled and decoded for a file that
  // cannot be written (the temporary file beside it would fail only at the end).
  TempDir dir;
  cli_test::write_file(dir.file("plain.txt"), "x");
  const std::string m = cli_test::tiny_model();
  for (const std::string& out : {dir.file("missing/x.state"), dir.file("plain.txt/x.state")}) {
    const auto g = run({"generate", "-m", m, "-p", "hi", "-n", "5", "--state-out", out});
    INFO(out << ": " << g.err);
    CHECK(g.exit_code == 1);
    CHECK(cli_test::one_error_line(g.err, "generate"));
    CHECK(g.err.find(out) != std::string::npos);
    CHECK(g.out.empty());  // nothing generated
  }
  const auto c = run({"convert", m, dir.file("missing/m.safetensors")});
  INFO(c.err);
  CHECK(c.exit_code == 1);
  CHECK(c.err.find("missing") != std::string::npos);
  CHECK(cli_test::one_error_line(c.err, "convert"));
}

TEST_CASE("rwkv-run: a pipe as --state-out or OUT is refused, not renamed over", "[cli][files]") {
  // A FIFO in a temporary directory stands for a device such as /dev/null (never the real one:
  // a regression would replace the system's device).
  TempDir dir;
  const std::string fifo = dir.file("pipe.state");
  REQUIRE(::mkfifo(fifo.c_str(), 0644) == 0);
  const auto g = run({"generate", "-m", cli_test::tiny_model(), "-p", "hi", "-n", "0", "-q", "--state-out", fifo});
  CHECK(g.exit_code == 2);
  CHECK(cli_test::one_error_line(g.err, "generate"));
  const std::string st = dir.file("pipe.safetensors");
  REQUIRE(::mkfifo(st.c_str(), 0644) == 0);
  const auto c = run({"convert", cli_test::tiny_model(), st});
  CHECK(c.exit_code == 2);
  for (const std::string& path : {fifo, st}) {
    struct stat s {};
    REQUIRE(::lstat(path.c_str(), &s) == 0);
    CHECK(S_ISFIFO(s.st_mode));
  }
}

TEST_CASE("rwkv-run: convert, quantize and synth refuse an OUT not named *.safetensors", "[cli][files]") {
  TempDir dir;
  const std::string m = cli_test::tiny_model();
  const std::vector<std::vector<std::string>> cases = {
      {"convert", m, dir.file("out.bin")},
      {"quantize", m, dir.file("out.pth"), "--dtype", "int8"},
      {"synth", "--version", "7", "--size", "0.1B", dir.file("out.st")},
  };
  for (const auto& args : cases) {
    const auto r = run(args);
    INFO(args[0] << ": " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("must end in .safetensors") != std::string::npos);
    CHECK(cli_test::read_file(args[0] == "synth" ? args[5] : args[2]).empty());
  }
}
