// Hardening of every file the runtime reads (issue 17): FIFOs, devices and
// directories are refused without blocking (runtime/core/regular_file.h), a
// model file truncated or rewritten while it is read gives an error, never
// SIGBUS (runtime/model/mapped_file.h), a stray huge layer index is refused
// before anything is allocated per layer, and tensors sharing bytes are refused
// (runtime/model/byte_ranges.h). Each hostile input runs under a HangGuard or
// a process timeout, so a regression fails instead of hanging.
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <thread>

#include "cli_process_util.h"
#include "tests_model_helpers.h"
#include "hardening_files_util.h"
#include "runtime/core/regular_file.h"
#include "runtime/model/mapped_file.h"
#include "runtime/model/torch_pickle.h"
#include "runtime/model/zip_reader.h"
#include "runtime/state/state_file.h"
#include "runtime/tokenizer/read_file.h"
#include "runtime/tokenizer/tokenizer.h"
#include "error_of.h"

using test_util::error_of;

using hardening_test::HangGuard;

namespace {

std::string tiny_pth() { return testdata_path("models/tiny-rwkv-7v0-834K.pth"); }

}  // namespace

TEST_CASE("files: a FIFO, /dev/null and a directory are refused at once by every reader", "[hardening]") {
  cli_test::TempDir dir;
  const std::string fifo = hardening_test::make_fifo(dir.file(""));
  const std::string folder = dir.file("");
  HangGuard guard(20);
  struct Case {
    std::string path, kind;
  };
  const std::vector<Case> cases = {{fifo, "a FIFO"}, {"/dev/null", "a character device"}, {folder, "a directory"}};
  const rwkv::StateFileModel any_model;
  for (const Case& c : cases) {
    INFO(c.path);
    const std::string want = "not a regular file (" + c.kind + ")";
    CHECK_THAT(error_of([&] { rwkv::load_model(c.path); }), Catch::Contains(want));
    CHECK_THAT(error_of([&] { rwkv::read_state_file(c.path, any_model); }), Catch::Contains(want));
    CHECK_THAT(error_of([&] { rwkv::load_tokenizer(c.path); }), Catch::Contains(want));
    CHECK_THAT(error_of([&] { rwkv::read_tokenizer_file(c.path); }), Catch::Contains(want));
    CHECK_THROWS_AS(rwkv::RegularFile(c.path), rwkv::FileError);
  }
  try {
    rwkv::read_state_file(fifo, any_model);
    FAIL("a FIFO read as a state file");
  } catch (const rwkv::StateFileError& e) {
    CHECK(e.kind == rwkv::StateFileError::io);
  }
}

TEST_CASE("files: the CLI's info, logits and --state-in refuse a FIFO within seconds", "[hardening][cli]") {
  cli_test::TempDir dir;
  const std::string fifo = hardening_test::make_fifo(dir.file(""));
  const std::string model = tiny_pth();
  const std::vector<std::pair<std::string, std::vector<std::string>>> runs = {
      {"info", {"info", fifo}},
      {"logits", {"logits", "-m", fifo, "--tokens", "1", "--out", dir.file("l.bin")}},
      {"logits", {"logits", "-m", model, "--tokens", "1", "--out", dir.file("l.bin"), "--state-in", fifo}},
      {"generate", {"generate", "-m", model, "-p", "a", "-n", "1", "--state-in", fifo, "--tokenizer", "bytes"}},
      {"generate", {"generate", "-m", model, "-p", "a", "-n", "1", "--state-in", "/dev/null", "--tokenizer", "bytes"}},
      {"info", {"info", "/dev/null"}},
      {"info", {"info", dir.file("")}},
  };
  for (const auto& run : runs) {
    INFO(run.second[0] << " " << run.second.back());
    const cli_test::Result r = cli_test::run(run.second, "", 10);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Catch::Contains("not a regular file"));
  }
}

TEST_CASE("files: chat's +load of a FIFO is refused with a note and the chat goes on", "[hardening][cli]") {
  cli_test::TempDir dir;
  const std::string fifo = hardening_test::make_fifo(dir.file(""));
  const cli_test::Result r =
      cli_test::run({"chat", "-m", tiny_pth(), "--tokenizer", "bytes", "--seed", "1", "--gen-len", "4"},
                    "+load " + fifo + "\n", 20);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.err, Catch::Contains("+load: ") && Catch::Contains("not a regular file (a FIFO)"));
}

// The CLI's model check (tools/rwkv-run/cli_model.cpp read_model) opens -m as the runtime does.
TEST_CASE("files: generate -m FIFO is refused within seconds", "[hardening][cli]") {
  cli_test::TempDir dir;
  const std::string fifo = hardening_test::make_fifo(dir.file(""));
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"generate", "-m", fifo, "-p", "a", "-n", "1"}, std::vector<std::string>{"chat", "-m", fifo}}) {
    INFO(args[0]);
    const cli_test::Result r = cli_test::run(args, "", 10);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Catch::Contains("not a regular file (a FIFO)"));
  }
}

namespace {

// Progress callback that damages the file being read after its first chunk.
struct Vandal {
  std::string path;
  bool rewrite = false;  // false: truncate to 1 MiB; true: same size, other bytes
  int calls = 0;
};

void vandalise(void* user, uint64_t, uint64_t) {
  auto* v = static_cast<Vandal*>(user);
  if (v->calls++ != 0) return;
  if (!v->rewrite) {
    REQUIRE(truncate(v->path.c_str(), 1 << 20) == 0);
    return;
  }
  std::fstream f(v->path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(-64, std::ios::end);
  f << std::string(64, 'X');
}

}  // namespace

TEST_CASE("files: a model file truncated or rewritten while read gives an error, not SIGBUS", "[hardening]") {
  REQUIRE(rwkv::MappedFile::kReadChunk < 8u << 20);
  TempDir dir;
  const std::string path = dir.path + "/model.pth";
  const std::string original = hardening_test::slurp(testdata_path("models/synth-rwkv-v7-bf16.pth"));
  REQUIRE(original.size() > 2 * rwkv::MappedFile::kReadChunk);
  for (bool rewrite : {false, true}) {
    INFO("rewrite " << rewrite);
    hardening_test::spit(path, original);
    hardening_test::age_file(path);
    Vandal v{path, rewrite};
    const std::string err = error_of([&] { rwkv::load_model(path, vandalise, &v); });
    CHECK(v.calls >= 1);
    CHECK_THAT(err, Catch::Contains(path) &&
                        Catch::Contains(rewrite ? "changed while it was being read" : "while being read"));
  }
  // Unharmed, the same file loads.
  hardening_test::spit(path, original);
  CHECK(rwkv::load_model(path)->info.n_layer > 0);
}

TEST_CASE("files: loading while another thread truncates and restores the file never dies", "[hardening]") {
  TempDir dir;
  const std::string path = dir.path + "/model.pth";
  const std::string original = hardening_test::slurp(testdata_path("models/synth-rwkv-v7-bf16.pth"));
  hardening_test::spit(path, original);
  std::atomic<bool> stop{false};
  std::thread vandal([&] {
    // Alternately cut the file at varying sizes and write it back whole.
    for (uint64_t i = 1; !stop.load(); ++i) {
      if (truncate(path.c_str(), off_t((i * 7919 * 4096) % original.size())) != 0) break;
      hardening_test::spit(path, original);
    }
  });
  int loaded = 0, refused = 0;
  for (int i = 0; i < 40; ++i) {
    try {
      const auto m = rwkv::load_model(path);
      CHECK(m->info.n_layer > 0);
      ++loaded;
    } catch (const rwkv::Error& e) {
      CHECK_THAT(e.what(), Catch::StartsWith(path));
      ++refused;
    }
  }
  stop = true;
  vandal.join();
  CHECK(loaded + refused == 40);  // reached only if no load died of a signal
}

TEST_CASE("files: a stray huge layer index is refused at once, naming the tensor", "[hardening]") {
  TempDir dir;
  const auto m = rwkv::load_model(tiny_pth());
  hardening_test::StFile st(*m);
  const hardening_test::StEntry ln1 = st.entry("blocks.0.ln1.weight");
  hardening_test::StEntry huge = ln1;
  huge.name = "blocks.999999.ln1.weight";
  st.entries.push_back(huge);
  // Sharing ln1's bytes would be refused too; give it its own.
  st.entries.back().begin = st.data.size();
  st.data.append(st.data, size_t(ln1.begin), size_t(ln1.end - ln1.begin));
  st.entries.back().end = st.data.size();
  const std::string path = dir.path + "/huge_index.safetensors";
  st.write(path);
  HangGuard guard(20);
  CHECK_THAT(error_of([&] { rwkv::load_model(path); }),
             Catch::Contains("'blocks.999999.ln1.weight' has layer index 999999"));
  const cli_test::Result r = cli_test::run({"info", path}, "", 10);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("blocks.999999.ln1.weight"));
}

TEST_CASE("files: a gap in the layer indices is refused, naming the missing layer", "[hardening]") {
  TempDir dir;
  const auto m = rwkv::load_model(tiny_pth());
  hardening_test::StFile st(*m);
  std::vector<hardening_test::StEntry> kept;
  for (const auto& e : st.entries)
    if (e.name.compare(0, 9, "blocks.2.") != 0) kept.push_back(e);
  REQUIRE(kept.size() < st.entries.size());
  st.entries = kept;
  const std::string path = dir.path + "/gap.safetensors";
  st.write(path);
  CHECK_THAT(error_of([&] { rwkv::load_model(path); }), Catch::Contains("no tensor of layer 2"));
}

TEST_CASE("files: safetensors tensors sharing bytes are refused, naming both", "[hardening]") {
  TempDir dir;
  const auto m = rwkv::load_model(tiny_pth());
  const std::string path = dir.path + "/alias.safetensors";
  for (uint64_t shift : {uint64_t(0), uint64_t(4)}) {  // the same bytes; overlapping by all but 4
    INFO("shift " << shift);
    hardening_test::StFile st(*m);
    const hardening_test::StEntry w = st.entry("blocks.0.ln1.weight");
    hardening_test::StEntry& b = st.entry("blocks.0.ln1.bias");
    b.begin = w.begin + shift;
    b.end = b.begin + (w.end - w.begin);
    st.write(path);
    CHECK_THAT(error_of([&] { rwkv::load_model(path); }),
               Catch::Contains("share bytes") && Catch::Contains("'blocks.0.ln1.weight'") &&
                   Catch::Contains("'blocks.0.ln1.bias'"));
  }
  // Adjacent (not overlapping) is fine: the unchanged file loads.
  hardening_test::StFile(*m).write(path);
  CHECK(rwkv::load_model(path)->info.n_layer == m->info.n_layer);
}

TEST_CASE("files: .pth tensors viewing the same storage bytes are refused, naming both", "[hardening]") {
  // Point one tensor's storage key at another storage of the same size and
  // dtype, in the pickle itself (keys are BINUNICODE strings; the zip CRC is
  // not checked).
  TempDir dir;
  std::string bytes = hardening_test::slurp(tiny_pth());
  const auto file = rwkv::MappedFile::from_memory(bytes.data(), bytes.size(), "tiny.pth");
  const rwkv::ZipEntry* pkl = nullptr;
  const std::vector<rwkv::ZipEntry> entries = rwkv::read_zip_directory(*file);
  for (const auto& e : entries)
    if (e.name.size() > 9 && e.name.compare(e.name.size() - 9, 9, "/data.pkl") == 0) pkl = &e;
  REQUIRE(pkl);
  const std::vector<rwkv::PickledTensor> ts =
      rwkv::read_torch_pickle(file->span(pkl->data_offset, pkl->size, "pkl"), pkl->size, "tiny.pth");
  auto pickled_key = [](const std::string& key) {
    std::string s = "X";
    for (int k = 0; k < 4; ++k) s += char((key.size() >> (8 * k)) & 0xff);
    return s + key;
  };
  const std::string pickle(reinterpret_cast<const char*>(file->data() + pkl->data_offset), size_t(pkl->size));
  const rwkv::PickledTensor *a = nullptr, *b = nullptr;
  for (size_t i = 0; i < ts.size() && !b; ++i)
    for (size_t j = i + 1; j < ts.size() && !b; ++j)
      if (ts[i].storage_numel == ts[j].storage_numel && ts[i].dtype == ts[j].dtype &&
          ts[i].storage_key.size() == ts[j].storage_key.size() && ts[i].storage_key != ts[j].storage_key &&
          pickle.find(pickled_key(ts[j].storage_key)) == pickle.rfind(pickled_key(ts[j].storage_key))) {
        a = &ts[i];
        b = &ts[j];
      }
  REQUIRE(b);
  const size_t at = size_t(pkl->data_offset) + pickle.find(pickled_key(b->storage_key));
  bytes.replace(at, 5 + a->storage_key.size(), pickled_key(a->storage_key));
  const std::string path = dir.path + "/alias.pth";
  hardening_test::spit(path, bytes);
  const std::string err = error_of([&] { rwkv::load_model(path); });
  CHECK_THAT(err, Catch::Contains("tensors '") && Catch::Contains("share bytes") &&
                      Catch::Contains(a->name) && Catch::Contains(b->name));
}

TEST_CASE("files: running out of memory while loading is an error naming the file, not an abort",
          "[hardening]") {
  // In a child process whose address space is capped just above what it
  // already uses, so that reading an 8 MiB model cannot get its buffer.
  // Sanitizer runtimes reserve terabytes of address space and abort when an
  // allocation fails, so a cap says nothing there.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  WARN("skipped under a sanitizer (its allocator aborts on failure by design)");
  return;
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
  WARN("skipped under a sanitizer (its allocator aborts on failure by design)");
  return;
#endif
#endif
  const std::string path = testdata_path("models/synth-rwkv-v7-bf16.pth");
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    long pages = 0;
    if (FILE* f = std::fopen("/proc/self/statm", "r")) {
      if (std::fscanf(f, "%ld", &pages) != 1) pages = 0;
      std::fclose(f);
    }
    if (pages <= 0) _exit(3);
    const rlim_t cap = rlim_t(pages) * rlim_t(sysconf(_SC_PAGESIZE)) + (2u << 20);
    const rlimit lim{cap, cap};
    if (setrlimit(RLIMIT_AS, &lim) != 0) _exit(4);
    try {
      rwkv::load_model(path);
    } catch (const rwkv::OutOfMemoryError& e) {
      _exit(std::strstr(e.what(), "out of memory while") && std::strstr(e.what(), path.c_str()) ? 0 : 5);
    } catch (...) {
      _exit(6);
    }
    _exit(7);  // loaded within the cap: the test proves nothing
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  INFO("child status " << status);
  REQUIRE(WIFEXITED(status));  // not killed by SIGABRT (an uncaught std::bad_alloc)
  CHECK(WEXITSTATUS(status) == 0);
}
