// bench/tokenizer_bench.cpp: single-thread throughput of the tokenizers.
//
//   rwkv-tokenizer-bench [--tokenizer-dir DIR] [--testdata DIR] [--mb N] [--reps R]
//
// The text is every string of the tokenizer test vectors (English, Chinese,
// Japanese, Arabic, Cyrillic, emoji, code, whitespace runs), one per line,
// repeated to N MiB (default 32). Reported: MB/s of UTF-8 input for encode and
// MB/s of produced bytes for decode, best of R runs (default 3), for one encode
// call over the whole text and for calls on 4 KiB pieces (prompt-sized).
// Times are the thread's CPU time.
// Tokenizer files come from DIR (default: the standard directory, see
// runtime/tokenizer/tokenizer.h); vectors from DIR/tokenizer/vectors
// (default: $RWKV_TESTDATA or the shared testdata beside the repository).
#include <dirent.h>

#include <algorithm>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/core/json.h"
#include "runtime/tokenizer/read_file.h"
#include "runtime/tokenizer/tokenizer.h"

namespace {

// CPU time of this thread: steadier than wall time on a shared machine, and
// the same thing for a single-threaded run on an idle one.
double now_s() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

std::vector<std::string> vector_texts(const std::string& dir) {
  std::vector<std::string> names, texts;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      const std::string n = e->d_name;
      if (n.size() > 5 && n.compare(n.size() - 5, 5, ".json") == 0) names.push_back(n);
    }
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    const auto doc = rwkv::parse_json(rwkv::read_tokenizer_file(dir + "/" + n), n);
    for (const auto& item : doc) {
      if (const auto* t = rwkv::json_find(item, "text"); t && !t->get_ref<const std::string&>().empty())
        texts.push_back(t->get<std::string>());
    }
  }
  return texts;
}

template <class F>
double best_seconds(int reps, F f) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const double t0 = now_s();
    f();
    best = std::min(best, now_s() - t0);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  std::string tok_dir = rwkv::tokenizer_dir();
  const char* env = std::getenv("RWKV_TESTDATA");
  std::string testdata = env && *env ? env : RWKV_TESTDATA_DEFAULT;
  double mb = 32;
  int reps = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--tokenizer-dir")) tok_dir = argv[i + 1];
    else if (!std::strcmp(argv[i], "--testdata")) testdata = argv[i + 1];
    else if (!std::strcmp(argv[i], "--mb")) mb = std::atof(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--reps")) reps = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: rwkv-tokenizer-bench [--tokenizer-dir DIR] [--testdata DIR] [--mb N] [--reps R]\n");
      return 2;
    }
  }
  try {
    const auto texts = vector_texts(testdata + "/tokenizer/vectors");
    if (texts.empty()) throw std::runtime_error("no test vectors found under " + testdata + "/tokenizer/vectors");
    std::string text;
    const size_t target = size_t(mb * 1024 * 1024);
    while (text.size() < target) {
      for (const auto& t : texts) text += t + "\n";
    }
    // Prompt-sized pieces cut at line ends.
    std::vector<std::string> pieces;
    for (size_t at = 0; at < text.size();) {
      size_t end = std::min(text.size(), at + 4096);
      const size_t nl = text.rfind('\n', end - 1);
      if (nl != std::string::npos && nl >= at && end < text.size()) end = nl + 1;
      pieces.push_back(text.substr(at, end - at));
      at = end;
    }
    std::printf("text: %.1f MiB from %zu vector strings; %zu pieces of <= 4 KiB; best of %d\n",
                double(text.size()) / (1 << 20), texts.size(), pieces.size(), reps);
    std::printf("%-6s %8s %10s %14s %14s %14s\n", "kind", "load s", "bytes/tok", "encode MB/s", "enc 4K MB/s",
                "decode MB/s");
    for (const char* kind : {"world", "20b"}) {
      const std::string file = rwkv::tokenizer_file_for_kind(kind, tok_dir);
      const double t0 = now_s();
      const auto tok = rwkv::load_tokenizer(file);
      const double load = now_s() - t0;
      std::vector<int32_t> ids;
      const double enc = best_seconds(reps, [&] { ids = tok->encode(text); });
      size_t piece_tokens = 0;
      const double enc4k = best_seconds(reps, [&] {
        piece_tokens = 0;
        for (const auto& p : pieces) piece_tokens += tok->encode(p).size();
      });
      std::string back;
      const double dec = best_seconds(reps, [&] { back = tok->decode(ids); });
      const double mbytes = double(text.size()) / 1e6;
      std::printf("%-6s %8.2f %10.2f %14.1f %14.1f %14.1f\n", kind, load, double(text.size()) / double(ids.size()),
                  mbytes / enc, mbytes / enc4k, double(back.size()) / 1e6 / dec);
      if (std::string(kind) == "world" && back != text) throw std::runtime_error("world decode(encode(text)) != text");
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rwkv-tokenizer-bench: %s\n", e.what());
    return 1;
  }
}
