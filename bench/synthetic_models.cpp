// bench/synthetic_models.cpp: see synthetic_models.h.
//
// The released shapes come from synth_spec() (runtime/model/synth.cpp), the
// one table of them in the project. What it gives (V: 50277 for the v4 Pile
// models, 65536 for the World models; head size 64; LoRA widths w/a/v/g for
// v7, maa/decay for v6):
//
//   name      C     L   F      LoRA          name      C     L   F      LoRA
//   v7-0.1B   768   12  3072   64/64/32/128  v4-169M   768   12  3072   -
//   v7-0.4B   1024  24  4096   64/64/32/128  v4-430M   1024  24  4096   -
//   v7-1.5B   2048  24  8192   96/96/64/256  v4-1.5B   2048  24  8192   -
//   v7-2.9B   2560  32  10240  96/96/64/320  v4-3B     2560  32  10240  -
//   v7-7.2B   4096  32  16384  128/128/96/480 v4-7B    4096  32  16384  -
//   v5-0.4B   1024  24  3584   -             v4-14B    5120  40  20480  -
//   v5-1.5B   2048  24  7168   -             v6-1.6B   2048  24  7168   32/64
//   v5-3B     2560  32  8960   -             v6-3B     2560  32  8960   32/64
//   v5-7B     4096  32  14336  -             v6-7B     4096  32  14336  64/128
//                                            v6-14B    4096  61  14336  64/128
//
// F = 4C for v4 and v7, floor(3.5C/32)*32 for the v5.2/v6 World models. The v7
// LoRA widths follow the release trainer's max(32, round(k f(C)/32)*32) with
// f = 1.8 sqrt(C), 1.8 sqrt(C), 1.3 sqrt(C), 0.6 C^0.8 (RWKV-LM train_temp);
// docs/rwkv-math.md section 6.1 quotes an older suggestion (2.5/2.5/1.7/5 sqrt(C)) that
// gives the same widths for C <= 1024 only.
#include "bench/synthetic_models.h"

#include <algorithm>

namespace rwkv {
namespace bench {

namespace {

struct Family {
  const char* prefix;   // as written in names: "v4", "v5", "v6", "v7"
  const char* version;  // as synth_spec() wants it
};
const Family kFamilies[] = {{"v7", "7"}, {"v4", "4"}, {"v5", "5.2"}, {"v6", "6"}};

// A small shape of our own for tests: C 128 (two heads of 64), L 2, V 512,
// with the other hyper-parameters a released model of that width would have.
SynthSpec tiny_spec(const std::string& version) {
  SynthSpec s = synth_spec_of_width(version, 128, 2, 512);
  s.size = "tiny";
  return s;
}

std::string names_list() {
  std::string out;
  for (const std::string& n : synthetic_names()) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

std::vector<std::string> synthetic_names() {
  std::vector<std::string> out;
  for (const Family& f : kFamilies)
    for (const std::string& size : synth_sizes(f.version)) out.push_back(std::string(f.prefix) + "-" + size);
  for (const Family& f : kFamilies) out.push_back(std::string(f.prefix) + "-tiny");
  return out;
}

SynthSpec synthetic_spec(const std::string& name) {
  const size_t dash = name.find('-');
  if (dash != std::string::npos) {
    std::string prefix = name.substr(0, dash);
    const std::string size = name.substr(dash + 1);
    if (prefix == "v5.2") prefix = "v5";
    if (prefix == "v6.0") prefix = "v6";
    if (prefix == "v7.0") prefix = "v7";
    for (const Family& f : kFamilies) {
      if (prefix != f.prefix) continue;
      if (size == "tiny") return tiny_spec(f.version);
      const std::vector<std::string> sizes = synth_sizes(f.version);
      if (std::find(sizes.begin(), sizes.end(), size) != sizes.end()) return synth_spec(f.version, size);
    }
  }
  throw Error("unknown synthetic model '" + name + "' (known: " + names_list() + ")");
}

}  // namespace bench
}  // namespace rwkv
