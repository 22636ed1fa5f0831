// bench/gpu-check.sh --dry-run: the plan of the device run, phases a to f in order, each bounded,
// the bounds adding up to the script's budget (inside 8 minutes), nothing created; --excerpt: what
// its summary shows of a phase's log.
// (The script's --emu mode runs in scripts/test.sh's emu stage.)
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli_process_util.h"

namespace {

std::string repo_root() {
  std::string root = __FILE__;  // <root>/tests/runtime/test_gpu_check_script.cpp
  for (int i = 0; i < 3; ++i) root = root.substr(0, root.rfind('/'));
  return root;
}

// Runs `command` through the shell, its stdout and stderr into *out; returns the exit status.
int shell(const std::string& command, std::string* out) {
  const std::string file = "/tmp/rwkv_gpu_check_test_" + std::to_string(getpid()) + ".txt";
  const int rc = std::system((command + " >" + file + " 2>&1").c_str());
  std::ifstream in(file);
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  std::remove(file.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

struct Step {
  char phase;
  int bound;
  std::string name, command;
};

// The plan's lines: "<phase>  <name>  timeout <N>s  <command>".
std::vector<Step> plan_steps(const std::string& plan) {
  std::vector<Step> steps;
  std::istringstream lines(plan);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream f(line);
    Step s;
    std::string phase, word, bound;
    f >> phase >> s.name >> word >> bound;
    REQUIRE(phase.size() == 1);
    REQUIRE(word == "timeout");
    REQUIRE(bound.back() == 's');
    s.phase = phase[0];
    s.bound = std::stoi(bound);
    std::getline(f, s.command);
    steps.push_back(s);
  }
  return steps;
}

}  // namespace

TEST_CASE("gpu-check.sh --dry-run: phases a to f in order, each bounded, inside 8 minutes", "[bench][cli]") {
  const std::string outdir = "/tmp/rwkv_gpu_check_dry_" + std::to_string(getpid());
  std::string plan;
  REQUIRE(shell(repo_root() + "/bench/gpu-check.sh --dry-run --kit /nonexistent/kit " + outdir, &plan) == 0);
  INFO(plan);
  const std::vector<Step> steps = plan_steps(plan);
  REQUIRE(!steps.empty());
  std::string phases;
  int sum = 0;
  for (const Step& s : steps) {
    if (phases.empty() || phases.back() != s.phase) phases += s.phase;
    CHECK(s.bound > 0);
    sum += s.bound;
  }
  CHECK(phases == "abcdef");
  CHECK(sum <= 470);  // 8 minutes less the time to pack the results
  CHECK(plan.find("# sum of the bounds: " + std::to_string(sum) + " s") != std::string::npos);
  // The speed phase: bf16, one repeat, one process per model, the asked-for batch sizes.
  // Issue 15: pp512 and pp4096 at B = 1 and 4 (1.5B), pp512 at B = 1 and 4 (7.2B).
  for (const char* bench : {"--synthetic v7-0.1B --device cuda --dtype bf16 --pp 512 --pp-batch 1 --tg 128 --tg-batch 1,256",
                            "--synthetic v7-1.5B --device cuda --dtype bf16 --pp 512,4096 --pp-batch 1,4 --tg 128 --tg-batch 1,64",
                            "--synthetic v7-7.2B --device cuda --dtype bf16 --pp 512 --pp-batch 1,4 --tg 64 --tg-batch 1,16,256"}) {
    INFO(bench);
    CHECK(plan.find(bench) != std::string::npos);
  }
  // The 7.2B's chunked WKV on three-part operands (the A/B of the bf16 run's two), prefill only, in
  // a phase of its own (two runs in one process ran the one phase past its bound); each bench phase
  // writes a JSON file of its own.
  CHECK(plan.find("--synthetic v7-7.2B --device cuda --dtype bf16 --pp 512 --pp-batch 1,4 --tg 0 "
                  "--wkv-parts 3") != std::string::npos);
  std::vector<std::string> jsons;
  for (const Step& s : steps) {
    const size_t at = s.command.find("--json=");
    if (at == std::string::npos) continue;
    const std::string json = s.command.substr(at, s.command.find(' ', at) - at);
    CHECK(std::find(jsons.begin(), jsons.end(), json) == jsons.end());
    jsons.push_back(json);
  }
  CHECK(jsons.size() >= 7);
  CHECK(plan.find("--repeat 1") != std::string::npos);
  for (const char* tool : {"compute-sanitizer --tool memcheck", "--tool racecheck", "--tool synccheck",
                           "ncu --metrics gpu__time_duration.sum", "/nonexistent/kit/wheels"})
    CHECK(plan.find(tool) != std::string::npos);
  CHECK(access(outdir.c_str(), F_OK) != 0);  // nothing was created
}

TEST_CASE("gpu-check.sh --dry-run --profile: the short plan, ncu on the 0.1B's prefill and the 1.5B's GEMVs, inside 190 s",
          "[bench][cli]") {
  std::string plan;
  REQUIRE(shell(repo_root() + "/bench/gpu-check.sh --dry-run --profile --kit /nonexistent/kit /tmp/rwkv_gpu_profile_dry",
                &plan) == 0);
  INFO(plan);
  const std::vector<Step> steps = plan_steps(plan);
  std::string phases;
  int sum = 0;
  for (const Step& s : steps) {
    if (phases.empty() || phases.back() != s.phase) phases += s.phase;
    sum += s.bound;
  }
  CHECK(phases == "ed");  // (no kit.tar.xz in the kit folder: no unpacking phase a)
  CHECK(sum <= 190);
  // The prefill's chunked-WKV passes and element-wise launches on the 0.1B (the 1.5B did not reach
  // its kernels under ncu in 60 s).
  CHECK(plan.find("--kernel-name regex:'wkv7_chunk|layer_prologue|activation' --launch-count 14") !=
        std::string::npos);
  CHECK(plan.find("bench --synthetic v7-0.1B --device cuda --dtype bf16 --pp 512 --pp-batch 1 --tg 0") !=
        std::string::npos);
  CHECK(plan.find("--kernel-name regex:gemv") != std::string::npos);
  CHECK(plan.find("--synthetic v7-7.2B") == std::string::npos);  // did not load under ncu in 60 s
  CHECK(plan.find("--synthetic v7-1.5B --device cuda --dtype bf16 --pp 512 --pp-batch 1 --tg 64 --tg-batch 1 --greedy") !=
        std::string::npos);
}

TEST_CASE("gpu-check.sh: no OUTDIR or an unknown option is a usage error", "[bench][cli]") {
  std::string out;
  CHECK(shell(repo_root() + "/bench/gpu-check.sh", &out) == 2);
  CHECK(shell(repo_root() + "/bench/gpu-check.sh --dry-run --bogus /tmp/x", &out) == 2);
  CHECK(out.find("usage: bench/gpu-check.sh") != std::string::npos);
}

TEST_CASE("gpu-check.sh --excerpt: a bench phase shows its report, or after a timeout the rows it measured",
          "[bench][cli]") {
  const cli_test::Result r = cli_test::run({"bench", "--synthetic", "v7-tiny", "--device", "cpu", "--pp", "8",
                                            "--pp-batch", "1,2", "--tg", "3", "--tg-batch", "1", "--warmup", "0",
                                            "--repeat", "1", "--copy-mib", "1", "--gemm-n", "32"});
  REQUIRE(r.exit_code == 0);
  cli_test::TempDir dir;
  const std::string whole = dir.file("whole.log"), cut = dir.file("cut.log");
  cli_test::write_file(whole, r.err + r.out);  // the phase's log: stdout and stderr together
  cli_test::write_file(cut, r.err);            // killed before the report: its progress lines only
  std::string shown;
  REQUIRE(shell(repo_root() + "/bench/gpu-check.sh --excerpt bench-v7-tiny " + whole, &shown) == 0);
  INFO(shown);
  CHECK(shown.find("== fp32") != std::string::npos);
  CHECK(shown.find("pp8 | 2 |") != std::string::npos);
  CHECK(shown.find("bench: [") == std::string::npos);  // the report alone
  REQUIRE(shell(repo_root() + "/bench/gpu-check.sh --excerpt bench-v7-tiny " + cut, &shown) == 0);
  INFO(shown);
  CHECK(shown.find("no report; the rows measured before it stopped:") == 0);
  for (const char* row : {"] loading the model onto cpu in fp32", "] pp8 B=1: ", "] pp8 B=2: ", "] tg3 B=1: "})
    CHECK(shown.find(row) != std::string::npos);
  CHECK(shown.find("measuring") == std::string::npos);  // progress without figures is left out
  CHECK(shell(repo_root() + "/bench/gpu-check.sh --excerpt bench-v7-tiny", &shown) == 2);
  CHECK(shell(repo_root() + "/bench/gpu-check.sh --excerpt bench-v7-tiny " + dir.file("none.log"), &shown) == 2);
  CHECK(shown.find("gpu-check: no log file") != std::string::npos);
}
