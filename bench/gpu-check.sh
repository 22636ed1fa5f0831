#!/usr/bin/env bash
# bench/gpu-check.sh OUTDIR [--dry-run]
#
# The one script to run on a machine with an NVIDIA GPU. From a cold start:
#   1. detects the GPU's compute capability (nvidia-smi, e.g. 9.0 -> sm_90);
#   2. builds the CUDA build for that one architecture (Release, -j$(nproc));
#   3. runs the whole test suite on the real GPU (ctest of that build: the GPU
#      backend against the CPU backend and the goldens, every kernel test);
#   4. runs the benchmark grid: synthetic v7 0.1B / 1.5B / 7.2B and v4 1.5B, in
#      fp16 and bf16: pp512 at B = 1 and 8, tg128 at decode batch 1, 2, 4, ..., 256, each
#      figure set against the measured copy bandwidth and GEMM peak;
#   5. writes everything to OUTDIR: env.txt (GPU, driver, toolkit, commit),
#      configure.log, build.log, ctest.log, bench-<model>-<dtype>.txt (tables and
#      progress with timestamps),
#      bench-<model>-<dtype>.json, summary.txt (one line per step).
# Every step is bounded with `timeout`, and the whole run with a budget
# (GPU_CHECK_BUDGET_S, default 470 s: inside 8 minutes on an H200); a step
# that would start without enough budget left is skipped and says so.
# --dry-run prints the steps without running them.
# Environment: BUILD_DIR (default build/gpu-check-sm<arch>), RWKV_TESTDATA
# (passed to the tests), GPU_CHECK_BUDGET_S.
# Exit status: 0 when every step passed, 1 otherwise, 2 on a usage error.
set -uo pipefail

usage() { echo "usage: bench/gpu-check.sh OUTDIR [--dry-run]" >&2; exit 2; }
OUTDIR="" DRY=0
for a in "$@"; do
  case "$a" in
    --dry-run) DRY=1 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    -*) usage ;;
    *) [ -z "$OUTDIR" ] || usage; OUTDIR=$a ;;
  esac
done
[ -n "$OUTDIR" ] || usage
OUTDIR=$(realpath -m "$OUTDIR")

ROOT=$(cd "$(dirname "$0")/.." && pwd)
JOBS=$(nproc)
BUDGET=${GPU_CHECK_BUDGET_S:-470}
START=$(date +%s)
export PATH="/usr/local/cuda/bin:$PATH"

# ---- GPU and architecture -----------------------------------------------------
ARCH=""
if command -v nvidia-smi >/dev/null 2>&1; then
  CAP=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n 1 | tr -d ' ')
  [[ "$CAP" =~ ^[0-9]+\.[0-9]+$ ]] && ARCH=${CAP/./}
fi
if [ -z "$ARCH" ]; then
  if [ $DRY -eq 0 ]; then
    echo "gpu-check: no NVIDIA GPU found (nvidia-smi --query-gpu=compute_cap gave nothing)" >&2
    exit 1
  fi
  ARCH=90
  echo "# (dry run: no GPU here; assuming compute capability 9.0)"
fi
BUILD=${BUILD_DIR:-$ROOT/build/gpu-check-sm$ARCH}
RUN="$BUILD/rwkv-run"

# ---- the plan -----------------------------------------------------------------
# name|timeout seconds|command (run from $ROOT; stdout+stderr to OUTDIR/<log>)|log
STEPS=()
STEPS+=("configure|60|cmake -S $ROOT -B $BUILD -DRWKV_GPU=cuda -DCMAKE_CUDA_ARCHITECTURES=$ARCH -DCMAKE_BUILD_TYPE=Release|configure.log")
STEPS+=("build|240|cmake --build $BUILD -j $JOBS|build.log")
STEPS+=("tests|150|ctest --test-dir $BUILD -j $JOBS --timeout 120 --output-on-failure|ctest.log")
# One process per model and dtype, smallest first, so a step cut short by the
# budget loses only its own figures. Loading a 7B-class model is most of its step.
BENCH_COMMON="--device cuda --pp 512 --pp-batch 1,8 --tg 128 --tg-batch 1,2,4,8,16,32,64,128,256"
for m in v7-0.1B:40 v4-1.5B:60 v7-1.5B:60 v7-7.2B:150; do
  name=${m%%:*} limit=${m##*:}
  for dt in fp16 bf16; do
    STEPS+=("$name $dt|$limit|$RUN bench --synthetic $name --dtype $dt $BENCH_COMMON --json=$OUTDIR/bench-$name-$dt.json|bench-$name-$dt.txt")
  done
done

if [ $DRY -eq 1 ]; then
  echo "# gpu-check dry run: sm_$ARCH, $JOBS jobs, budget ${BUDGET}s, output in $OUTDIR"
  echo "mkdir -p $OUTDIR; nvidia-smi, nvcc --version, git rev-parse --short HEAD > $OUTDIR/env.txt"
  for s in "${STEPS[@]}"; do
    IFS='|' read -r name limit cmd log <<<"$s"
    echo "timeout ${limit}s  $cmd  > $OUTDIR/$log 2>&1"
  done
  exit 0
fi

# ---- run ----------------------------------------------------------------------
mkdir -p "$OUTDIR" || exit 1
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "arch: sm_$ARCH, jobs: $JOBS"
  nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv 2>&1
  echo "processes on the GPU before the run:"
  nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv,noheader 2>&1
  nvcc --version 2>&1 | tail -n 2
} >"$OUTDIR/env.txt"

SUMMARY="$OUTDIR/summary.txt"
: >"$SUMMARY"
FAILED=0
BUILD_OK=1
for s in "${STEPS[@]}"; do
  IFS='|' read -r name limit cmd log <<<"$s"
  now=$(date +%s)
  left=$((BUDGET - (now - START)))
  if [ $BUILD_OK -eq 0 ] && [ "$name" != configure ] && [ "$name" != build ]; then
    printf '%-16s SKIPPED (the build failed)\n' "$name" | tee -a "$SUMMARY"
    FAILED=1
    continue
  fi
  if [ $left -lt 15 ]; then
    printf '%-16s SKIPPED (time budget of %ss spent)\n' "$name" "$BUDGET" | tee -a "$SUMMARY"
    FAILED=1
    continue
  fi
  [ $limit -gt $left ] && limit=$left
  t0=$(date +%s)
  (cd "$ROOT" && timeout --kill-after=10 "$limit" bash -c "$cmd") >"$OUTDIR/$log" 2>&1
  rc=$?
  dt=$(($(date +%s) - t0))
  if [ $rc -eq 0 ]; then
    status=PASS
  elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    status="TIMEOUT after ${limit}s"
  else
    status="FAIL (exit $rc)"
  fi
  [ $rc -eq 0 ] || FAILED=1
  if [ $rc -ne 0 ] && { [ "$name" = configure ] || [ "$name" = build ]; }; then BUILD_OK=0; fi
  extra=""
  [ "$name" = tests ] && extra=$(grep -E "tests passed|tests failed" "$OUTDIR/$log" | tail -n 1)
  printf '%-16s %-22s %4ss  %s  %s\n' "$name" "$status" "$dt" "$log" "$extra" | tee -a "$SUMMARY"
done
printf 'total %ss of a %ss budget\n' "$(($(date +%s) - START))" "$BUDGET" | tee -a "$SUMMARY"
exit $FAILED
