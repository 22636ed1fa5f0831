#!/usr/bin/env bash
# bench/gpu-check.sh: the one command to run on a machine with an NVIDIA GPU.
#
#   bench/gpu-check.sh [--kit DIR] OUTDIR       on the GPU machine, from the repository root, with
#                                              the kit made here by scripts/device-kit.sh (default
#                                              DIR: .kit); nothing is built there
#   bench/gpu-check.sh --profile [--kit DIR] OUTDIR   a short plan (~3 minutes) for a lease's last
#                                              minutes: ncu on the v7 0.1B's chunked-WKV passes and
#                                              element-wise launches (pp512), the 1.5B's decode GEMVs, the 0.1B sampled
#                                              decode, the 1.5B greedy decode (the 7.2B did not load under ncu in 60 s)
#   bench/gpu-check.sh --dry-run [--profile] [--kit DIR] OUTDIR   print the plan and each phase's bound
#   bench/gpu-check.sh --emu [--build DIR] OUTDIR     phases b and d on the emulated build here
#                                              (default DIR: build/ci-emu), tiny sizes: for CI
#   bench/gpu-check.sh --excerpt NAME LOG      what the summary shows of phase NAME's log (its tests)
#
# Phases, most important answers first, each bounded with `timeout` (the plan adds up to at most
# 470 s, inside 8 minutes; a phase gets no more than the time left; the bounds were sized from the
# first run on an H200, docs/gpu-runs/):
#   a. environment: nvidia-smi, driver, nvcc, the kit's build
#   b. correctness on the GPU: every test tagged [gpu] (goldens fp32/bf16/fp16, batches of 3 and 256,
#      the 16k-token prompt, state slots, kernels), one process per test, 4 at a time, with
#      RWKV_TESTDATA=<kit>/testdata; then `rwkv-run selfcheck` (CUDA against the CPU, every version)
#   c. compute-sanitizer: memcheck on the batch-of-3 test, racecheck on the chunked v7 kernels'
#      test, synccheck on the fp32 golden test of one tiny model; a refusal of the tool is noted
#   d. speed: `rwkv-run bench`, bf16, one repeat, one process per synthetic model (built once):
#      v7 0.1B (pp512, tg B=1,256; tg B=1 again with argmax on the device), 1.5B (pp512 and pp4096 at B=1,4, tg B=1,64), 7.2B (pp512 at
#      B=1,4, tg B=1,16,256), the 1.5B and 7.2B decoding greedily; the chunked v7 chain split and whole
#      (--wkv-carry-split both for the 1.5B); the 7.2B's chunked WKV on three-part operands against
#      the bf16 run's two (pp512 only, in a phase of its own); every prefill with its GEMM/WKV split and pieces; v7 1.5B in bf16, int8 and q4
#      (pp512 B=1, tg B=1,16: the quantized weights' speed against bf16 in one build); v6 1.6B
#      (pp512 and pp4096 at B=1, its chunked WKV's split)
#   e. ncu (duration, DRAM and SM throughput) on one B=1 decode step of the synthetic v7 1.5B (bf16)
#   f. peer: the official `rwkv` pip package (the kit's wheel, PyTorch of the machine) on the same
#      synthetic v7 0.1B/1.5B shapes: 512-token prefill and B=1 decode (bench/peer_rwkv_pip.py)
# Results: OUTDIR/summary.txt (every answer on one page) and OUTDIR/gpu-check.tar.gz (every log,
# the bench JSON, the ncu report): two files.
# Exit status: 0 when every phase that ran passed, 1 otherwise, 2 on a usage error.
set -uo pipefail

usage() { echo "usage: bench/gpu-check.sh [--dry-run] [--emu | --profile] [--kit DIR] [--build DIR] OUTDIR" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODE=device PLAN_KIND=full OUTDIR="" KIT="$ROOT/.kit" BUILD="$ROOT/build/ci-emu"
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) MODE=dry ;;
    --excerpt) [ $# -ge 3 ] || usage; MODE=excerpt EX_NAME=$2 EX_LOG=$3 OUTDIR=/nonexistent; shift 2 ;;
    --emu) MODE=emu ;;
    --profile) PLAN_KIND=profile ;;
    --kit) [ $# -ge 2 ] || usage; KIT=$(realpath -m "$2"); shift ;;
    --build) [ $# -ge 2 ] || usage; BUILD=$(realpath -m "$2"); shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    -*) usage ;;
    *) [ -z "$OUTDIR" ] || usage; OUTDIR=$(realpath -m "$1") ;;
  esac
  shift
done
[ -n "$OUTDIR" ] || usage

TOTAL_BUDGET=470  # seconds for all phases; packing the results takes the rest of 8 minutes
[ $PLAN_KIND = profile ] && TOTAL_BUDGET=190  # the short plan: about 3 minutes
export CUDA_EMU_QUIET=1
if [ $MODE = emu ]; then
  BIN=$BUILD
  DEV=cuda  # the emulator is used only when named
  # The long-prompt, long ragged-batch and golden tests take minutes on the emulator; the emu stage
  # of scripts/test.sh runs them, so this check of the script leaves them out.
  TEST_SPEC='[gpu]~[long]~[golden]'
  JOBS=2
else
  # The kit: kit.tar.xz from scripts/device-kit.sh, unpacked by the first phase (or a folder
  # already holding bin/, lib/, testdata/, wheels/).
  KITDIR=$KIT
  [ -f "$KIT/kit.tar.xz" ] && KITDIR=${TMPDIR:-/tmp}/rwkv-gpu-kit
  # Phase a of the device plans: the kit unpacked (tar, or python where tar lacks xz).
  UNPACK_KIT="rm -rf $KITDIR && mkdir -p $KITDIR && { tar -C $KITDIR -xJf $KIT/kit.tar.xz || python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' $KIT/kit.tar.xz $KITDIR; } && du -sh $KITDIR"
  BIN=$KITDIR/bin
  DEV=cuda
  TEST_SPEC='[gpu]'
  JOBS=4
  export RWKV_TESTDATA=$KITDIR/testdata
  # The kit's binaries find lib/ through their RUNPATH; LD_LIBRARY_PATH too, in case patchelf was
  # missing where the kit was made (python, in phase f, gets the machine's own path back).
  export ORIG_LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}
  export LD_LIBRARY_PATH="$KITDIR/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
export RWKV_RUN_BINARY=$BIN/rwkv-run  # the CLI tests run this rwkv-run, not the build tree's
export PATH="$PATH:/usr/local/cuda/bin"
WORK=$OUTDIR/gpu-check
RUN=$BIN/rwkv-run
TESTS=$BIN/rwkv_tests
[ $MODE = emu ] && TESTS=$BUILD/tests/rwkv_tests

# ncu: three metrics (one or two replay passes a kernel, where --section SpeedOfLight took ten and
# reached 16 of a step's ~200 launches in 40 s).
NCU_METRICS=gpu__time_duration.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed,sm__throughput.avg.pct_of_peak_sustained_elapsed
# ---- the plan: phase|bound seconds|name|command ---------------------------------------------
PLAN=()
add() { PLAN+=("$1|$2|$3|$4"); }
bench_cmd() {  # model, prompt lengths, prefill batches, decode steps, decode batches[, more bench options[, JSON tag]]
  echo "$RUN bench --synthetic $1 --device $DEV --dtype bf16 --pp $2 --pp-batch $3 --tg $4 --tg-batch $5 ${6:+$6 }--warmup 1 --repeat 1 --json=$WORK/bench-$1${7:+-$7}.json"
}
if [ $MODE = emu ]; then
  add b 240 tests "run_tests"
  add b 60 selfcheck "$RUN selfcheck --device cuda"
  add d 60 bench-v7-tiny "$RUN bench --synthetic v7-tiny --device cuda --dtype bf16 --pp 16 --pp-batch 1 --tg 4 --tg-batch 1,4 --warmup 0 --repeat 1 --copy-mib 1 --gemm-n 64 --json=$WORK/bench-v7-tiny.json"
elif [ $PLAN_KIND = profile ]; then
  [ "$KITDIR" != "$KIT" ] && add a 15 kit "$UNPACK_KIT"
  # One forward of 512 tokens (B = 1) of the 0.1B (the 1.5B did not reach its kernels under ncu in
  # 60 s; the kernels are the same at N = 64): the first 2 layers' chunked-WKV passes (prepare,
  # carry, output) and element-wise launches (LN1 and LN2 with their shift mixes, activations):
  # 7 a layer.
  add e 60 ncu-prefill-wkv "ncu --metrics $NCU_METRICS --kernel-name regex:'wkv7_chunk|layer_prologue|activation' --launch-count 14 -f -o $WORK/ncu-prefill-wkv $RUN bench --synthetic v7-0.1B --device cuda --dtype bf16 --pp 512 --pp-batch 1 --tg 0 --warmup 0 --repeat 1 --bandwidth-gbs 0 --peak-tflops 0 --quiet"
  # One forward of one token (the B = 1 decode path): the first 12 grouped GEMVs (3 layers).
  add e 60 ncu-decode-gemv "ncu --metrics $NCU_METRICS --kernel-name regex:gemv --launch-count 12 -f -o $WORK/ncu-decode-gemv $RUN bench --synthetic v7-1.5B --device cuda --dtype bf16 --pp 1 --pp-batch 1 --tg 0 --warmup 0 --repeat 1 --bandwidth-gbs 0 --peak-tflops 0 --quiet"
  add d 15 bench-v7-0.1B "$(bench_cmd v7-0.1B 512 1 128 1)"
  add d 40 bench-v7-1.5B-greedy "$(bench_cmd v7-1.5B 512 1 64 1 '--greedy')"
else
  [ "$KITDIR" != "$KIT" ] && add a 15 kit "$UNPACK_KIT"
  add a 10 environment "environment"
  add b 55 tests "run_tests"
  add b 15 selfcheck "$RUN selfcheck"
  add c 10 memcheck "compute-sanitizer --tool memcheck --error-exitcode 9 $TESTS 'cuda backend: three sequences together equal each alone and the CPU backend'"
  # racecheck on the chunked v7 kernels' test (the golden test did not finish in 25 s on an H200)
  add c 25 racecheck "compute-sanitizer --tool racecheck --error-exitcode 9 $TESTS 'wkv7_chunked_forward: fp16 and bf16 outputs'"
  add c 5 synccheck "one_golden compute-sanitizer --tool synccheck --error-exitcode 9 $TESTS 'cuda backend fp32 reproduces every official fp32 golden folder'"
  add d 20 bench-v7-0.1B "$(bench_cmd v7-0.1B 512 1 128 1,256 '--graphs both')"  # decode replayed from graphs, and not
  # The same B = 1 decode with argmax on the device: the forward without the nucleus walk, which on
  # the synthetic models' flat logits keeps most of the vocabulary (docs/performance.md, first light).
  add d 15 bench-v7-0.1B-greedy "$(bench_cmd v7-0.1B 512 1 128 1 '--greedy' greedy)"
  # The larger models decode greedily: the forward against its floor (the sampler's cost on flat
  # logits is the 0.1B rows' difference, the same for every model size).
  # Issue 15: pp4096, B = 1 and 4, the split and its pieces; the chunked v7 chain's two shapes (pass 2
  # split while its blocks fit the GPU, and never split), a run each in one process.
  # The 7.2B's chunked WKV on three-part operands (fp32-accurate; the bf16 run's own choice is two
  # parts) in a phase of its own, prefill only: two runs in one process took its one phase past its
  # bound, where a timeout loses every figure but the finished rows' progress lines.
  add d 35 bench-v7-1.5B "$(bench_cmd v7-1.5B 512,4096 1,4 128 1,64 '--greedy --wkv-carry-split both')"
  add d 60 bench-v7-7.2B "$(bench_cmd v7-7.2B 512 1,4 64 1,16,256 '--greedy')"
  add d 45 bench-v7-7.2B-parts3 "$RUN bench --synthetic v7-7.2B --device $DEV --dtype bf16 --pp 512 --pp-batch 1,4 --tg 0 --wkv-parts 3 --warmup 1 --repeat 1 --json=$WORK/bench-v7-7.2B-parts3.json"
  # v6 prefill (the chunked kernel of kernels/wkv5_chunked.cu), its split; decode as the 1.5B's.
  add d 20 bench-v6-1.6B "$(bench_cmd v6-1.6B 512,4096 1 16 1 '--greedy')"
  # issue 16: quantized weights against bf16 in one process (decode B = 1 and 16, pp512)
  add d 55 bench-v7-1.5B-quant "$RUN bench --synthetic v7-1.5B --device $DEV --dtype bf16,int8,q4 --pp 512 --pp-batch 1 --tg 64 --tg-batch 1,16 --greedy --warmup 1 --repeat 1 --json=$WORK/bench-v7-1.5B-quant.json"
  add e 30 ncu "ncu --metrics $NCU_METRICS --launch-count 400 -f -o $WORK/ncu-decode $RUN bench --synthetic v7-1.5B --device cuda --dtype bf16 --pp 1 --pp-batch 1 --tg 0 --warmup 0 --repeat 1 --bandwidth-gbs 0 --peak-tflops 0 --quiet"
  add f 55 peer "peer"
fi

plan_sum() { local s=0 p; for p in "${PLAN[@]}"; do IFS='|' read -r _ b _ _ <<<"$p"; s=$((s + b)); done; echo $s; }
if [ $MODE = dry ]; then
  echo "# gpu-check plan: kit $KIT, results in $OUTDIR/{summary.txt,gpu-check.tar.gz}"
  for p in "${PLAN[@]}"; do
    IFS='|' read -r ph b name cmd <<<"$p"
    printf '%s  %-14s timeout %3ss  %s\n' "$ph" "$name" "$b" "$cmd"
  done
  echo "# run_tests: $TESTS '$TEST_SPEC' --list-test-names-only, then each test in its own process ($JOBS at a time, timeout 100s each)"
  echo "# one_golden: RWKV_TESTDATA holding only golden/tiny-rwkv-7v0-834K (and the models)"
  echo "# peer: python3 bench/peer_rwkv_pip.py, the wheel of $KITDIR/wheels: RWKV_CUDA_ON=0 (pp+tg), then RWKV_CUDA_ON=1 (pp)"
  echo "# sum of the bounds: $(plan_sum) s of $TOTAL_BUDGET s (8 minutes: 480 s)"
  exit 0
fi

# ---- the phases' commands ---------------------------------------------------------------------
environment() {
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  cat "$KITDIR/BUILD-INFO"
  nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv
  nvidia-smi | head -n 4 | tail -n 2
  echo "processes on the GPU:"; nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv,noheader
  nvcc --version | tail -n 2
  echo "cores: $(nproc), memory: $(free -g | awk '/Mem:/ { print $2 }') GiB, glibc: $(ldd --version | head -n 1)"
  ldd "$RUN" | grep -E "not found|cublas|openblas|utf8proc|stdc"
}

# One [gpu] test in its own process: "STATUS seconds name" on stdout, its output in tests/NNN.log.
run_one() {
  local i=$1 name=$2 esc t0 rc status
  esc=$(printf '%s' "$name" | sed -e 's/\\/\\\\/g' -e 's/,/\\,/g' -e 's/\[/\\[/g' -e 's/\]/\\]/g')
  t0=$(date +%s)
  timeout -k 5 100 "$TESTS" "$esc" >"$WORK/tests/$i.log" 2>&1
  rc=$?
  case $rc in 0) status=PASS ;; 77) status=SKIP ;; 124|137) status=TIMEOUT ;; *) status="FAIL($rc)" ;; esac
  printf '%-10s %4ss  %s\n' "$status" "$(($(date +%s) - t0))" "$name"
}
export -f run_one
export TESTS WORK RUN KIT KITDIR ROOT TEST_SPEC JOBS
run_tests() {
  mkdir -p "$WORK/tests"
  # The CPU references of the batch and long-prompt tests: a share of the cores per test process.
  export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-$(( $(nproc) / JOBS > 0 ? $(nproc) / JOBS : 1 ))}
  "$TESTS" "$TEST_SPEC" --list-test-names-only | grep -v '^$' >"$WORK/tests/names.txt" || return 1
  echo "$(wc -l <"$WORK/tests/names.txt") tests ($TEST_SPEC), $JOBS at a time"
  # A test that fills the device's memory on purpose runs alone, after the others.
  local alone='does not fit'
  nl -ba -nrz -w3 "$WORK/tests/names.txt" | grep -v "$alone" | tr '\t' '\n' |
    xargs -d '\n' -n 2 -P "$JOBS" bash -c 'run_one "$1" "$2"' _ >"$WORK/tests/results.txt"
  nl -ba -nrz -w3 "$WORK/tests/names.txt" | grep "$alone" | tr '\t' '\n' |
    xargs -d '\n' -n 2 -P 1 bash -c 'run_one "$1" "$2"' _ >>"$WORK/tests/results.txt"
  sort -k3 -o "$WORK/tests/results.txt" "$WORK/tests/results.txt"
  cat "$WORK/tests/results.txt"
  local n bad
  n=$(wc -l <"$WORK/tests/results.txt")
  bad=$(grep -vc "^PASS" "$WORK/tests/results.txt")
  echo "tests: $((n - bad)) passed, $bad not passed, of $n"
  [ "$n" -gt 0 ] && [ "$bad" = 0 ]
}

# A command with RWKV_TESTDATA holding one tiny golden folder (and the models it reads).
one_golden() {
  local td=$WORK/testdata-one
  mkdir -p "$td/golden"
  ln -sfn "$RWKV_TESTDATA/models" "$td/models"
  ln -sfn "$RWKV_TESTDATA/golden/tiny-rwkv-7v0-834K" "$td/golden/tiny-rwkv-7v0-834K"
  RWKV_TESTDATA=$td "$@"
}

peer() {
  local wheel py=$WORK/peer-py
  wheel=$(ls "$KITDIR"/wheels/rwkv-*.whl 2>/dev/null | head -n 1)
  [ -n "$wheel" ] || { echo "no rwkv wheel in $KITDIR/wheels"; return 1; }
  python3 -m zipfile -e "$wheel" "$py" || return 1
  export PYTHONPATH=$py RWKV_V7_ON=1 RWKV_JIT_ON=1 TORCH_EXTENSIONS_DIR=$WORK/torch-ext
  export LD_LIBRARY_PATH=${ORIG_LD_LIBRARY_PATH:-}
  # First the package without its CUDA op (pure PyTorch: its decode path is the same either way),
  # then, in the time left, its prefill with the CUDA WKV op compiled at import (nvcc, this GPU only).
  RWKV_CUDA_ON=0 python3 "$ROOT/bench/peer_rwkv_pip.py" --rwkv-run "$RUN" || return 1
  local cap
  cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -n 1 | tr -d ' ')
  RWKV_CUDA_ON=1 TORCH_CUDA_ARCH_LIST=$cap python3 "$ROOT/bench/peer_rwkv_pip.py" --rwkv-run "$RUN" --tg 0 ||
    echo "peer: no CUDA-op figures (the op's build or run failed, or the phase's time ran out)"
  return 0
}

# ---- run --------------------------------------------------------------------------------------
# ncu: one line per kernel (name, launches, duration, DRAM and SM throughput) of report REPORT
# (without .ncu-rep), under the title TITLE.
ncu_summary() {
  local report=${1:-ncu-decode} title=${2:-"one forward of one token (B=1 decode step; v7 1.5B bf16, bench pp1)"}
  [ -f "$WORK/$report.ncu-rep" ] || return 0
  ncu -i "$WORK/$report.ncu-rep" --page details >"$WORK/$report-details.txt" 2>&1
  ncu -i "$WORK/$report.ncu-rep" --page details --csv >"$WORK/$report-details.csv" 2>&1
  NCU_TITLE=$title python3 - "$WORK/$report-details.csv" 2>&1 <<'EOF'
import collections, csv, os, sys
rows = collections.OrderedDict()
for r in csv.DictReader(open(sys.argv[1])):
    if not r.get("ID") or not r.get("Metric Name"):
        continue
    k = rows.setdefault(r["ID"], {"name": r.get("Kernel Name") or r.get("Function Name") or "?"})
    k[r["Metric Name"]] = (r.get("Metric Value", "0").replace(",", ""), r.get("Metric Unit", ""))
def num(k, m):
    try:
        return float(k.get(m, ("0",))[0])
    except ValueError:
        return 0.0
by = collections.OrderedDict()
for k in rows.values():
    dur = "Duration" if "Duration" in k else "gpu__time_duration.sum"  # --section, or --metrics
    unit = k.get(dur, ("0", "us"))[1]
    us = num(k, dur) * {"ns": 1e-3, "nsecond": 1e-3, "ms": 1e3, "msecond": 1e3}.get(unit, 1)
    s = by.setdefault(k["name"][:70], [0, 0.0, 0.0, 0.0])
    s[0] += 1; s[1] += us
    s[2] += num(k, "DRAM Throughput") + num(k, "dram__throughput.avg.pct_of_peak_sustained_elapsed")
    s[3] += num(k, "Compute (SM) Throughput") + num(k, "sm__throughput.avg.pct_of_peak_sustained_elapsed")
total = sum(s[1] for s in by.values())
print("ncu, %s: %d launches, %.0f us of kernel time" % (os.environ["NCU_TITLE"], len(rows), total))
print("%-70s %5s %9s %7s %7s" % ("kernel", "n", "us total", "DRAM%", "SM%"))
for name, s in sorted(by.items(), key=lambda x: -x[1][1]):
    print("%-70s %5d %9.1f %7.1f %7.1f" % (name, s[0], s[1], s[2] / s[0], s[3] / s[0]))
EOF
}

# What of a phase's log goes into the summary.
excerpt() {
  local name=$1 log=$2
  case "$name" in
    kit) tail -n 3 "$log" ;;
    environment) head -n 12 "$log" ;;
    tests)  # failures in full; skips (no usable device) counted, with the first one's reason
      grep -vE "^(PASS|SKIP) " "$log"
      local skips
      skips=$(grep -c "^SKIP " "$log")
      [ "$skips" -gt 0 ] && echo "$skips skipped: $(cat "$WORK"/tests/*.log | grep -m 1 "^SKIPPED: " | sed 's/.*: \(no [^:]*\).*/\1/')" ;;
    selfcheck) cat "$log" ;;
    memcheck|racecheck|synccheck) grep -E "ERROR SUMMARY|RACECHECK SUMMARY|refus|not supported|Error:|test cases" "$log" | head -n 6 ;;
    bench-*)  # the report; without one (a timeout), the rows measured before it stopped
      if grep -q "^== " "$log"; then grep -v "^bench: \[" "$log" | sed '/^how to read it/,$d' | head -n 120
      else echo "no report; the rows measured before it stopped:"
        grep -E "^bench: \[ *[0-9.]+s\] (loading|(pp|tg)[0-9]+ B=[0-9]+: )" "$log" | head -n 40; fi ;;
    ncu) grep -E "^==ERROR==|^==WARNING==" "$log" | head -n 5; ncu_summary ;;
    ncu-prefill-wkv) grep -E "^==ERROR==" "$log" | head -n 5
      ncu_summary ncu-prefill-wkv "the chunked WKV's passes and element-wise launches, first 2 layers of a v7 0.1B pp512 B=1 (bf16)" ;;
    ncu-decode-gemv) grep -E "^==ERROR==" "$log" | head -n 5
      ncu_summary ncu-decode-gemv "the grouped GEMVs, first 3 layers of a v7 1.5B B=1 decode forward (bf16)" ;;
    peer) grep -E "^peer|^#|Error|error" "$log" | head -n 20 ;;
  esac
}

# --excerpt NAME LOG: what the summary would show of phase NAME's log, then stop.
if [ $MODE = excerpt ]; then
  [ -f "$EX_LOG" ] || { echo "gpu-check: no log file $EX_LOG" >&2; exit 2; }
  excerpt "$EX_NAME" "$EX_LOG"
  exit 0
fi

if [ $MODE = emu ] || [ "$KITDIR" = "$KIT" ]; then
  for f in "$RUN" "$TESTS"; do
    [ -x "$f" ] || { echo "gpu-check: $f is missing (run scripts/device-kit.sh, or build $BUILD)" >&2; exit 1; }
  done
elif [ ! -f "$KIT/kit.tar.xz" ]; then
  echo "gpu-check: no kit in $KIT (run scripts/device-kit.sh here and carry .kit)" >&2; exit 1
fi
rm -rf "$WORK" "$OUTDIR/summary.txt" "$OUTDIR/gpu-check.tar.gz"
mkdir -p "$WORK" || exit 1
SUMMARY=$OUTDIR/summary.txt
START=$(date +%s)
FAILED=0
{
  echo "gpu-check ($MODE mode), $(date -u +%Y-%m-%dT%H:%M:%SZ), plan $(plan_sum) s"
  [ -f "$KIT/BUILD-INFO" ] && [ $MODE != emu ] && head -n 2 "$KIT/BUILD-INFO"
} >"$SUMMARY"

for p in "${PLAN[@]}"; do
  IFS='|' read -r ph bound name cmd <<<"$p"
  left=$((TOTAL_BUDGET - ($(date +%s) - START)))
  if [ $left -lt 5 ]; then
    printf '\n[%s] %s: SKIPPED (the %ss budget is spent)\n' "$ph" "$name" "$TOTAL_BUDGET" >>"$SUMMARY"
    FAILED=1
    continue
  fi
  [ "$bound" -gt "$left" ] && bound=$left
  log=$WORK/$name.log
  t0=$(date +%s)
  PHASE_LEFT=$bound timeout -k 5 "$bound" bash -c "$(declare -f environment run_tests one_golden peer); $cmd" >"$log" 2>&1
  rc=$?
  dt=$(($(date +%s) - t0))
  case $rc in
    0) status=PASS ;;
    124|137) status="TIMEOUT after ${bound}s" ;;
    *) status="FAIL (exit $rc)" ;;
  esac
  # compute-sanitizer refusing the device (or missing) is a note, not a failure.
  if [ $ph = c ] && [ $rc -ne 0 ] && [ $rc -ne 9 ] && grep -qiE "not supported|unable to|command not found|refus" "$log"; then
    status="NOT RUN (the tool refused: see $name.log)"; rc=0
  fi
  [ $rc -eq 0 ] || FAILED=1
  { printf '\n[%s] %s: %s, %ss\n' "$ph" "$name" "$status" "$dt"; excerpt "$name" "$log"; } >>"$SUMMARY"
  echo "[$ph] $name: $status, ${dt}s"
done

printf '\ntotal %ss; phases %s\n' "$(($(date +%s) - START))" "$([ $FAILED = 0 ] && echo "all passed" || echo "NOT all passed")" >>"$SUMMARY"
cp "$SUMMARY" "$WORK/summary.txt"
rm -rf "$WORK/testdata-one" "$WORK/peer-py" "$WORK/torch-ext"
tar -C "$OUTDIR" -czf "$OUTDIR/gpu-check.tar.gz" gpu-check && rm -rf "$WORK"
if [ "$(stat -c %s "$OUTDIR/gpu-check.tar.gz" 2>/dev/null || echo 0)" -gt $((15 << 20)) ]; then
  echo "gpu-check.tar.gz is over 15 MiB: packed again without the ncu report" >>"$SUMMARY"
  mkdir -p "$WORK" && tar -C "$OUTDIR" -xzf "$OUTDIR/gpu-check.tar.gz" && rm -f "$WORK"/*.ncu-rep &&
    tar -C "$OUTDIR" -czf "$OUTDIR/gpu-check.tar.gz" gpu-check && rm -rf "$WORK"
fi
cat "$SUMMARY"
exit $FAILED
