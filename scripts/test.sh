#!/usr/bin/env bash
# scripts/test.sh: the whole test suite, as CI runs it.
#
#   scripts/test.sh [stage ...]     (default: all stages, in this order)
#
# stages:
#   emu    emulated-CUDA build (kernels run on the CPU through cuda_emu/) + all tests, then
#          bench/gpu-check.sh --emu (the GPU check's correctness and speed phases, tiny sizes)
#   asan   the same under AddressSanitizer + UndefinedBehaviorSanitizer
#   tsan   ThreadSanitizer build, emulator on OS threads: emulator and kernel tests,
#          including the test that expects a race report for a missing __syncthreads
#   cuda   the default (nvcc) build for sm_80 and sm_90: every kernel compiled with ptxas -v
#          (no register spills allowed; cuobjdump must list sm_90 code for each kernel object),
#          then all tests: on a machine without a GPU the tests that need one (label gpu)
#          are reported as skipped, not failed
#   cpu    a build without any CUDA (users without a GPU) + its tests
#   fuzz   each libFuzzer target for a bounded time (when clang is present)
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
mkdir -p build
JOBS=${JOBS:-$(nproc)}
export CUDA_EMU_QUIET=1
# ccache hits across checkouts in different folders (paths hashed relative to the tree).
export CCACHE_BASEDIR="$ROOT" CCACHE_NOHASHDIR=1
export OPENBLAS_NUM_THREADS=1  # 2-core machines, tests run in parallel
export PATH="/usr/local/cuda/bin:$ROOT/.tools/bin:$PATH"
CMAKE_COMMON=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DRWKV_WERROR=ON)

# The server's client test (tests/server/openai_client_test.py) needs the official `openai`
# package: a virtual environment for the tests only (never used at run time). Without network
# the test reports itself skipped.
openai_python() {
  local venv="$ROOT/build/venv-openai"
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import openai" 2>/dev/null; then
    python3 -m venv "$venv" >/dev/null 2>&1 && "$venv/bin/pip" install -q openai >"$ROOT/build/venv-openai.log" 2>&1 ||
      echo "test.sh: could not install the openai package (see build/venv-openai.log); its test will be skipped" >&2
  fi
  if [ -x "$venv/bin/python" ]; then echo "$venv/bin/python"; else echo python3; fi
}
CMAKE_COMMON+=("-DRWKV_TEST_PYTHON=$(openai_python)")

STAGES=("$@")
[ ${#STAGES[@]} -eq 0 ] && STAGES=(emu asan tsan cuda cpu fuzz)

TOTAL_PASS=0
TOTAL_FAIL=0
TOTAL_SKIP=0
FAILED_STAGES=()
declare -A STAGE_SECONDS

log() { printf '\n=== %s ===\n' "$*"; }

# ctest wrapper that adds its counts to the totals.
run_ctest() {
  local dir=$1; shift
  local out
  out=$(ctest --test-dir "$dir" --output-on-failure -j "$JOBS" "$@" 2>&1)
  local rc=$?
  echo "$out" | grep -v "^ *[0-9]*/[0-9]* Test *#[0-9]*: .* Passed" | tail -n 60
  local line
  line=$(echo "$out" | grep -E "tests passed, [0-9]+ tests failed out of [0-9]+" | tail -n 1)
  if [ -n "$line" ]; then
    local failed total skipped
    failed=$(echo "$line" | sed -E 's/.*passed, ([0-9]+) tests failed out of ([0-9]+).*/\1/')
    total=$(echo "$line" | sed -E 's/.*failed out of ([0-9]+).*/\1/')
    skipped=$(echo "$out" | grep -c "(Skipped)$")
    [ "$skipped" -gt 0 ] && echo "$dir: $skipped tests skipped (no usable device: ctest -L gpu lists them)"
    TOTAL_SKIP=$((TOTAL_SKIP + skipped))
    TOTAL_PASS=$((TOTAL_PASS + total - failed - skipped))
    TOTAL_FAIL=$((TOTAL_FAIL + failed))
  elif [ $rc -ne 0 ]; then
    TOTAL_FAIL=$((TOTAL_FAIL + 1))
  fi
  return $rc
}

build() {  # build DIR CMAKE_ARGS... -- TARGETS...
  local dir=$1; shift
  local args=() targets=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do args+=("$1"); shift; done
  [ "${1:-}" = "--" ] && shift
  targets=("$@")
  cmake -S "$ROOT" -B "$dir" "${CMAKE_COMMON[@]}" "${args[@]}" >"$dir.configure.log" 2>&1 ||
    { cat "$dir.configure.log"; return 1; }
  if [ ${#targets[@]} -gt 0 ]; then
    cmake --build "$dir" -j "$JOBS" --target "${targets[@]}" 2>&1 | grep -E "error|warning: unused|FAILED" ; return "${PIPESTATUS[0]}"
  fi
  cmake --build "$dir" -j "$JOBS" 2>&1 | grep -E "error|FAILED"; return "${PIPESTATUS[0]}"
}

stage_emu() {
  build build/ci-emu -DRWKV_GPU=emu || return 1
  run_ctest build/ci-emu || return 1
  # The GPU check script's own path (its tests and bench phases) on the emulator, so it cannot rot.
  if bench/gpu-check.sh --emu --build build/ci-emu build/ci-emu.gpu-check >build/ci-emu.gpu-check.log 2>&1; then
    TOTAL_PASS=$((TOTAL_PASS + 1))
    grep -E "^\[" build/ci-emu.gpu-check/summary.txt
  else
    tail -n 40 build/ci-emu.gpu-check.log
    TOTAL_FAIL=$((TOTAL_FAIL + 1))
    return 1
  fi
}
stage_asan() {
  build build/ci-asan -DRWKV_GPU=emu -DRWKV_SANITIZE=ON || return 1
  # Every test except four long prefill runs (the 16k-token prompt, the chunked WKV over
  # every golden round, ragged rounds): the same code paths run under ASan in the shorter
  # chunked, round and ragged tests, and these four run unsanitized in the emu stage.
  # Under ASan they alone took ~40 of the stage's ~90 CPU-minutes.
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 run_ctest build/ci-asan \
    -E "(16k-token prompt through the chunked|with the chunked WKV in every prefill round|ragged prompts prefill together as each alone, across round)"
}
stage_tsan() {
  build build/ci-tsan -DRWKV_GPU=emu -DRWKV_TSAN=ON || return 1
  # The emulator's tests, and the kernel tests small enough for one OS thread per
  # CUDA thread under TSan: the block reductions (LayerNorm), the gather, the WKV
  # kernels on their own (their head reductions and shared-memory handoffs) and through
  # the backend on short sequences of every version; and one chunked v7 test at N = 64, whose
  # pass 2 exchanges its key halves' sums through shared memory (both block shapes, ~3 minutes).
  run_ctest build/ci-tsan -R "^(emu|embedding_gather|wkv[457]_forward|wkv7_chunked_forward: one long|layernorm_residual: (without|rejects)|shift_mix and shift_store: invalid|cuda backend: two short)"
}
stage_cuda() {
  command -v nvcc >/dev/null || { echo "no nvcc: cuda stage skipped"; return 0; }
  cmake -S "$ROOT" -B build/ci-cuda "${CMAKE_COMMON[@]}" -DRWKV_GPU=cuda "-DCMAKE_CUDA_ARCHITECTURES=80-real;90-real" \
    -DRWKV_PTXAS_VERBOSE=ON >build/ci-cuda.configure.log 2>&1 || { cat build/ci-cuda.configure.log; return 1; }
  # Rebuild the kernels so ptxas prints every kernel's registers and spills.
  find build/ci-cuda/kernels -name "*.cu.o" -delete 2>/dev/null
  cmake --build build/ci-cuda -j "$JOBS" --target rwkv_kernels >build/ci-cuda.build.log 2>&1 ||
    { grep -E "error" build/ci-cuda.build.log | head -40; return 1; }
  local spills
  spills=$(grep -E "[1-9][0-9]* bytes spill (stores|loads)" build/ci-cuda.build.log | wc -l)
  echo "cuda: ptxas reports $(grep -c 'Compiling entry function' build/ci-cuda.build.log) kernel compilations, $spills with register spills"
  if [ "$spills" != 0 ]; then grep -B2 -E "[1-9][0-9]* bytes spill" build/ci-cuda.build.log | head -40; return 1; fi
  local bad=0 n=0
  if ! command -v cuobjdump >/dev/null; then
    echo "cuda: kernels compiled; no cuobjdump, so the sm_90 check is skipped (run scripts/setup.sh)"
  else
    while IFS= read -r obj; do
      n=$((n + 1))
      if ! cuobjdump --list-elf "$obj" 2>/dev/null | grep -q "sm_90"; then
        echo "no sm_90 code in $obj"; bad=1
      fi
    done < <(find build/ci-cuda/kernels -name "*.cu.o")
    echo "cuda: $n kernel objects, each with sm_80 and sm_90 code: $([ $bad = 0 ] && echo yes || echo NO)"
  fi
  if [ $bad = 0 ]; then TOTAL_PASS=$((TOTAL_PASS + 1)); else TOTAL_FAIL=$((TOTAL_FAIL + 1)); return 1; fi
  # The rest of the default build and its tests (the gpu-labelled ones skip without a device).
  cmake --build build/ci-cuda -j "$JOBS" >>build/ci-cuda.build.log 2>&1 ||
    { grep -E "error|FAILED" build/ci-cuda.build.log | head -40; return 1; }
  run_ctest build/ci-cuda
}
stage_cpu() {
  build build/ci-cpu -DRWKV_GPU=none || return 1
  run_ctest build/ci-cpu
}
stage_fuzz() {
  if ! command -v clang++ >/dev/null; then echo "fuzz: no clang: skipped"; return 0; fi
  cmake -S tests/fuzz -B build/ci-fuzz -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    >build/ci-fuzz.configure.log 2>&1 || { cat build/ci-fuzz.configure.log; return 1; }
  cmake --build build/ci-fuzz -j "$JOBS" 2>&1 | grep -E "error|FAILED"
  [ "${PIPESTATUS[0]}" = 0 ] || return 1
  # Each parser's fuzzer for a bounded time (FUZZ_SECONDS, default 20).
  if tests/fuzz/run_fuzzers.sh build/ci-fuzz "${FUZZ_SECONDS:-20}" >build/ci-fuzz.run.log 2>&1; then
    echo "fuzz: $(ls build/ci-fuzz/fuzz_* | grep -vc "\.log$") targets, ${FUZZ_SECONDS:-20} s each, no crash"
    TOTAL_PASS=$((TOTAL_PASS + 1))
  else
    tail -40 build/ci-fuzz.run.log
    TOTAL_FAIL=$((TOTAL_FAIL + 1))
    return 1
  fi
}

for s in "${STAGES[@]}"; do
  log "stage $s"
  t0=$(date +%s)
  if ! "stage_$s"; then FAILED_STAGES+=("$s"); fi
  STAGE_SECONDS[$s]=$(( $(date +%s) - t0 ))
done

log "summary"
for s in "${STAGES[@]}"; do printf '%-6s %5ss\n' "$s" "${STAGE_SECONDS[$s]}"; done
[ ${#FAILED_STAGES[@]} -gt 0 ] && echo "failed stages: ${FAILED_STAGES[*]}"
echo "total: $TOTAL_PASS passed, $TOTAL_FAIL failed, $TOTAL_SKIP skipped (no device)"
[ ${#FAILED_STAGES[@]} -eq 0 ] && [ $TOTAL_FAIL -eq 0 ]
