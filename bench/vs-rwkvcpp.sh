#!/usr/bin/env bash
# bench/vs-rwkvcpp.sh: rwkv-run's CPU backend against rwkv.cpp, on the same model files.
#
#   bench/vs-rwkvcpp.sh --rwkvcpp DIR [options]
#
# DIR is an rwkv.cpp checkout with its ggml submodule populated (git submodule update --init);
# nothing of rwkv.cpp is vendored into this project. The script, everything cached in the work
# folder (a rerun redoes only what is missing):
#   1. builds rwkv.cpp out of tree in WORK/rwkvcpp/build (cmake -DCMAKE_BUILD_TYPE=Release
#      -DRWKV_STANDALONE=ON: only librwkv, with rwkv.cpp's and ggml's default CPU flags, which
#      include -march=native), and compiles bench/peer_rwkvcpp_driver.c against its rwkv.h and
#      librwkv (-Wall -Wextra -Werror);
#   2. makes the models: `rwkv-run synth` writes random fp32 weights with the released shapes
#      (v7-0.1B, v4-169M, ...) as safetensors; a few lines of Python (torch + safetensors, in a
#      virtual environment WORK/venv with the CPU build of torch) save them as a .pth; rwkv.cpp's own
#      python/convert_pytorch_to_ggml.py writes the FP32 and FP16 .bin files, and its own
#      python/quantize.py (librwkv through ctypes) writes Q8_0 (and Q4_0/Q4_1/Q5_0/Q5_1) from the
#      FP16 file, as rwkv.cpp's README does;
#   3. for every (model, dtype, threads) runs both programs on the same .bin file, interleaved
#      (run i: rwkv-run then rwkv.cpp for odd i, rwkv.cpp then rwkv-run for even i), --runs times
#      each, one process per sample:
#        rwkv-run  `rwkv-run bench FILE --device cpu --threads N --pp P --pp-batch 1 --tg D
#                  --tg-batch 1 --greedy --warmup 1 --repeat 1 --bandwidth-gbs 0 --peak-tflops 0 --json`
#                  (--greedy: each decode step takes the argmax, as the driver does)
#                  (dense files: no --dtype, the CPU holds them in the file's dtype; Q8_0 and Q5_x
#                  files: --dtype int8, Q4_x: --dtype q4, which keep the file's matrices as stored,
#                  group 32, as the bench does for a quantized file anyway; checked in its JSON)
#        rwkv.cpp  the driver: rwkv_init_from_file(N threads), one untimed and one timed prefill of
#                  P tokens (rwkv_eval_sequence_in_chunks, chunks of --rwkvcpp-chunk), 16 untimed
#                  and D timed rwkv_eval decode steps feeding back the argmax;
#      before the timing of each file, a cross-check, untimed: the logits after the same prompt (the
#      first min(P, 1024) tokens) from the driver and from `rwkv-run logits --last`, their largest
#      difference and whether the argmax agrees reported with the results (flagged when far apart:
#      then the two programs do not compute the same model);
#   4. prints the medians and the ratios rwkv-run / rwkv.cpp (above 1: rwkv-run is faster), with the
#      CPU, both commits and the settings, and writes them to WORK/results.md and WORK/results.json
#      (and, with every sample and log, to WORK/logs/STAMP/).
#
# Options:
#   --rwkvcpp DIR         the rwkv.cpp source tree (required)
#   --rwkv-run PATH       rwkv-run binary (default: build/cpu/rwkv-run, else the first build/*/rwkv-run)
#   --work DIR            work folder (default build/vs-rwkvcpp): models, venv, rwkv.cpp build, logs
#   --models LIST         synthetic shapes vVERSION-SIZE (default v7-0.1B,v4-169M; any size of
#                         `rwkv-run synth`, e.g. v7-0.4B, v4-430M, v6-1.6B, v5-0.4B)
#   --dtypes LIST         rwkv.cpp file types (default FP32,FP16,Q8_0; also Q4_0,Q4_1,Q5_0,Q5_1)
#   --threads LIST        thread counts (default 1,2)
#   --runs N              samples per program and configuration (default 5)
#   --decode-tokens N     timed decode steps per sample (default 128)
#   --prefill-tokens N    prompt length of the prefill (default 512)
#   --rwkvcpp-chunk N     rwkv.cpp's prefill chunk size (default 16, its recommended value;
#                         0: one rwkv_eval_sequence over the whole prompt, which overflows
#                         ggml's graph for v4 at 512 tokens and aborts)
#   --python PY           the Python that makes the venv (default python3)
#   --jobs N              parallel jobs of the rwkv.cpp build (default: nproc)
#   -h, --help            this text
# Needs: cmake, a C/C++ compiler, python3 with venv and pip (the venv is made only when a model file
# is missing; the torch download needs a package index), and rwkv-run built (any build: the CPU
# backend is in every one).
# Exit status: 0 when every step and sample succeeded; 1 on a failure (the step and its log are
# named); 2 on a usage error.
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PROG=bench/vs-rwkvcpp.sh

die() {
  echo "$PROG: error: $*" >&2
  exit 1
}
usage_error() {
  echo "$PROG: $*" >&2
  echo "usage: $PROG --rwkvcpp DIR [--rwkv-run PATH] [--work DIR] [--models LIST] [--dtypes LIST]" >&2
  echo "       [--threads LIST] [--runs N] [--decode-tokens N] [--prefill-tokens N] (--help for more)" >&2
  exit 2
}
# A failure set -e catches that no check below names: say where, rather than exit silently.
on_err() {
  echo "$PROG: error: command failed (exit $1) at line $2: $3" >&2
  exit 1
}
trap 'on_err $? $LINENO "$BASH_COMMAND"' ERR
log() { printf '%s: [%s] %s\n' "$PROG" "$(date +%H:%M:%S)" "$*" >&2; }
# The last lines of a log file, indented, after a failure.
show_tail() {
  [ -f "$1" ] || return 0
  echo "---- last lines of $1:" >&2
  tail -n "${2:-25}" "$1" | sed 's/^/    /' >&2
  echo "----" >&2
}
# Runs "$@" with stdout and stderr to log file $1; on failure names step $2 and shows the log.
run_logged() {
  local logf=$1 step=$2
  shift 2
  if ! "$@" >"$logf" 2>&1; then
    show_tail "$logf"
    die "$step failed (full log: $logf)"
  fi
}

RWKVCPP="" RWKV_RUN="" WORK="$ROOT/build/vs-rwkvcpp"
MODELS="v7-0.1B,v4-169M" DTYPES="FP32,FP16,Q8_0" THREADS="1,2"
RUNS=5 DECODE=128 PREFILL=512 CHUNK=16 PYTHON=python3 JOBS=""
need_value() { [ "$2" -ge 2 ] || usage_error "$1 needs a value"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --rwkvcpp) need_value "$1" $#; RWKVCPP=$2; shift ;;
    --rwkv-run) need_value "$1" $#; RWKV_RUN=$2; shift ;;
    --work) need_value "$1" $#; WORK=$2; shift ;;
    --models) need_value "$1" $#; MODELS=$2; shift ;;
    --dtypes) need_value "$1" $#; DTYPES=$2; shift ;;
    --threads) need_value "$1" $#; THREADS=$2; shift ;;
    --runs) need_value "$1" $#; RUNS=$2; shift ;;
    --decode-tokens) need_value "$1" $#; DECODE=$2; shift ;;
    --prefill-tokens) need_value "$1" $#; PREFILL=$2; shift ;;
    --rwkvcpp-chunk) need_value "$1" $#; CHUNK=$2; shift ;;
    --python) need_value "$1" $#; PYTHON=$2; shift ;;
    --jobs) need_value "$1" $#; JOBS=$2; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) usage_error "unknown argument '$1'" ;;
  esac
  shift
done

# ---- the arguments ---------------------------------------------------------------------------
is_count() { [[ $1 =~ ^(0|[1-9][0-9]{0,6})$ ]]; }
check_count() {  # name value min
  if ! is_count "$2" || [ "$2" -lt "$3" ]; then usage_error "$1 must be a whole number >= $3, got '$2'"; fi
}
[ -n "$RWKVCPP" ] || usage_error "--rwkvcpp DIR is required (an rwkv.cpp checkout with its ggml submodule)"
check_count --runs "$RUNS" 1
check_count --decode-tokens "$DECODE" 1
check_count --prefill-tokens "$PREFILL" 1
check_count --rwkvcpp-chunk "$CHUNK" 0
[ -z "$JOBS" ] || check_count --jobs "$JOBS" 1
[ -n "$JOBS" ] || JOBS=$(nproc 2>/dev/null || echo 2)
IFS=, read -r -a MODEL_LIST <<<"$MODELS"
IFS=, read -r -a DTYPE_LIST <<<"$DTYPES"
IFS=, read -r -a THREAD_LIST <<<"$THREADS"
[ ${#MODEL_LIST[@]} -gt 0 ] || usage_error "--models is empty"
[ ${#DTYPE_LIST[@]} -gt 0 ] || usage_error "--dtypes is empty"
[ ${#THREAD_LIST[@]} -gt 0 ] || usage_error "--threads is empty"
for m in "${MODEL_LIST[@]}"; do
  [[ $m =~ ^v(4|5|5\.2|6|7)-[0-9.]+[MB]$ ]] || usage_error "--models: '$m' is not vVERSION-SIZE (e.g. v7-0.1B, v4-169M)"
done
for d in "${DTYPE_LIST[@]}"; do
  case "$d" in FP32|FP16|Q8_0|Q5_0|Q5_1|Q4_0|Q4_1) ;;
    *) usage_error "--dtypes: '$d' is not one of FP32, FP16, Q8_0, Q5_0, Q5_1, Q4_0, Q4_1" ;;
  esac
done
for t in "${THREAD_LIST[@]}"; do check_count "--threads" "$t" 1; done

# ---- what the script needs -------------------------------------------------------------------
for tool in cmake cc "$PYTHON" git; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found on PATH (needed: cmake, cc, $PYTHON, git)"
done
RWKVCPP=$(realpath -e -- "$RWKVCPP" 2>/dev/null) || die "--rwkvcpp $RWKVCPP: no such directory"
[ -d "$RWKVCPP" ] || die "--rwkvcpp $RWKVCPP is not a directory"
for f in CMakeLists.txt rwkv.h rwkv.cpp python/convert_pytorch_to_ggml.py python/quantize.py; do
  [ -f "$RWKVCPP/$f" ] || die "$RWKVCPP is not an rwkv.cpp source tree: $f is missing"
done
[ -f "$RWKVCPP/ggml/CMakeLists.txt" ] ||
  die "$RWKVCPP/ggml is empty: populate rwkv.cpp's ggml submodule (git -C $RWKVCPP submodule update --init)"

if [ -z "$RWKV_RUN" ]; then
  if [ -x "$ROOT/build/cpu/rwkv-run" ]; then
    RWKV_RUN=$ROOT/build/cpu/rwkv-run
  else
    for b in "$ROOT"/build/*/rwkv-run; do
      if [ -x "$b" ]; then RWKV_RUN=$b; break; fi
    done
  fi
  [ -n "$RWKV_RUN" ] || die "no rwkv-run binary in build/cpu or build/*: build one (README, Builds) or give --rwkv-run PATH"
fi
RWKV_RUN=$(realpath -e -- "$RWKV_RUN" 2>/dev/null) || die "--rwkv-run $RWKV_RUN: no such file"
if [ ! -f "$RWKV_RUN" ] || [ ! -x "$RWKV_RUN" ]; then die "--rwkv-run $RWKV_RUN is not an executable file"; fi
"$RWKV_RUN" bench --help >/dev/null 2>&1 || die "$RWKV_RUN does not run 'rwkv-run bench --help'"

mkdir -p -- "$WORK" || die "cannot create the work folder $WORK"
WORK=$(realpath -e -- "$WORK")
STAMP=$(date +%Y%m%d-%H%M%S)
LOGS=$WORK/logs/$STAMP
mkdir -p "$LOGS" "$WORK/models" "$WORK/rwkvcpp"
log "work folder $WORK (logs of this run: $LOGS)"
log "rwkv-run: $RWKV_RUN"

# The rwkv.cpp source's commit (and ggml's), with "+local changes" when the tree differs from it.
src_commit() {
  local dir=$1 c
  c=$(git -C "$dir" rev-parse --short=12 HEAD 2>/dev/null) || { echo "unknown (not a git checkout)"; return; }
  if [ -n "$(git -C "$dir" status --porcelain --untracked-files=no --ignore-submodules=all 2>/dev/null)" ]; then
    c="$c +local changes"
  fi
  echo "$c"
}
RWKVCPP_COMMIT=$(src_commit "$RWKVCPP")
GGML_COMMIT=$(src_commit "$RWKVCPP/ggml")
log "rwkv.cpp: $RWKVCPP at $RWKVCPP_COMMIT (ggml $GGML_COMMIT)"

# ---- 1. rwkv.cpp's library and the driver ----------------------------------------------------
RC_BUILD=$WORK/rwkvcpp/build
if [ -f "$RC_BUILD/CMakeCache.txt" ] &&
   ! grep -qxF "CMAKE_HOME_DIRECTORY:INTERNAL=$RWKVCPP" "$RC_BUILD/CMakeCache.txt"; then
  die "$RC_BUILD was configured for another rwkv.cpp tree; remove that folder or use another --work"
fi
if [ ! -f "$RC_BUILD/CMakeCache.txt" ]; then
  log "configuring rwkv.cpp (Release, its default CPU flags) in $RC_BUILD"
  run_logged "$LOGS/rwkvcpp-configure.log" "configuring rwkv.cpp (cmake)" \
    cmake -S "$RWKVCPP" -B "$RC_BUILD" -DCMAKE_BUILD_TYPE=Release -DRWKV_STANDALONE=ON
fi
log "building librwkv (-j$JOBS; nothing to do when it is up to date)"
run_logged "$LOGS/rwkvcpp-build.log" "building rwkv.cpp (cmake --build $RC_BUILD --target rwkv)" \
  cmake --build "$RC_BUILD" --target rwkv -j "$JOBS"
LIBRWKV=$RC_BUILD/librwkv.so
[ -f "$LIBRWKV" ] || LIBRWKV=$(find "$RC_BUILD" -maxdepth 3 -name 'librwkv.so' -print -quit)
if [ -z "$LIBRWKV" ] || [ ! -f "$LIBRWKV" ]; then
  die "the rwkv.cpp build made no librwkv.so (see $LOGS/rwkvcpp-build.log)"
fi
LIBDIR=$(dirname "$LIBRWKV")

DRIVER=$WORK/rwkvcpp/peer_rwkvcpp_driver
DRIVER_SRC=$ROOT/bench/peer_rwkvcpp_driver.c
if [ ! -x "$DRIVER" ] || [ "$DRIVER_SRC" -nt "$DRIVER" ] || [ "$LIBRWKV" -nt "$DRIVER" ] ||
   [ "$RWKVCPP/rwkv.h" -nt "$DRIVER" ]; then
  log "compiling the rwkv.cpp driver"
  run_logged "$LOGS/driver-compile.log" "compiling bench/peer_rwkvcpp_driver.c against rwkv.h and librwkv" \
    cc -O2 -std=c11 -Wall -Wextra -Werror -I "$RWKVCPP" -o "$DRIVER" "$DRIVER_SRC" \
      -L "$LIBDIR" -lrwkv -Wl,-rpath,"$LIBDIR"
fi

# ---- 2. the model files ----------------------------------------------------------------------
VENV=$WORK/venv
VPY=$VENV/bin/python
# The virtual environment with torch (CPU build), numpy and safetensors, made on first need.
ensure_venv() {
  [ -f "$VENV/.vs-rwkvcpp-ready" ] && return 0
  log "making the Python environment $VENV (torch CPU build, numpy, safetensors)"
  if [ ! -x "$VPY" ]; then
    run_logged "$LOGS/venv.log" "making a virtual environment ($PYTHON -m venv; on Debian/Ubuntu: apt-get install python3-venv)" \
      "$PYTHON" -m venv "$VENV"
  fi
  local pip_log=$LOGS/pip.log
  if ! "$VPY" -c 'import torch' >/dev/null 2>&1; then
    log "installing torch (CPU build from download.pytorch.org, else PyPI); this downloads a few hundred MB"
    if ! "$VPY" -m pip install --disable-pip-version-check torch --index-url https://download.pytorch.org/whl/cpu \
         >"$pip_log" 2>&1; then
      log "the CPU index failed (see $pip_log); trying PyPI"
      run_logged "$LOGS/pip-pypi.log" "installing torch with pip (tried the CPU wheel index, then PyPI or the configured index; no torch came for this Python)" \
        "$VPY" -m pip install --disable-pip-version-check torch
    fi
  fi
  run_logged "$LOGS/pip-rest.log" "installing numpy and safetensors with pip" \
    "$VPY" -m pip install --disable-pip-version-check numpy safetensors
  "$VPY" -c 'import torch, numpy, safetensors.torch' >"$LOGS/venv-check.log" 2>&1 || {
    show_tail "$LOGS/venv-check.log"
    die "the environment $VENV cannot import torch, numpy and safetensors"
  }
  touch "$VENV/.vs-rwkvcpp-ready"
}

# $1: model name (v7-0.1B); fills MODEL_DIR and makes every requested .bin file that is missing.
make_model_files() {
  local name=$1 ver=${1%%-*} size=${1#*-}
  ver=${ver#v}
  [ "$ver" != 5 ] || ver=5.2  # rwkv-run synth names the version 5.2
  local dir=$WORK/models/$name
  mkdir -p "$dir"
  local st=$dir/synth-fp32.safetensors pth=$dir/synth-fp32.pth
  local need_fp16=0 need_fp32=0 d
  for d in "${DTYPE_LIST[@]}"; do
    case "$d" in FP32) need_fp32=1 ;; *) need_fp16=1 ;; esac  # the quantized ones come from FP16
  done
  local missing=0
  for d in "${DTYPE_LIST[@]}"; do [ -f "$dir/$name-$d.bin" ] || missing=1; done
  [ $missing = 1 ] || return 0
  if [ ! -f "$st" ]; then
    log "$name: rwkv-run synth (fp32, seed 0)"
    run_logged "$LOGS/$name-synth.log" "rwkv-run synth --version $ver --size $size" \
      "$RWKV_RUN" synth --version "$ver" --size "$size" --dtype fp32 "$st.part.safetensors"
    mv -f "$st.part.safetensors" "$st"
  fi
  local need_pth=0
  [ $need_fp32 = 1 ] && [ ! -f "$dir/$name-FP32.bin" ] && need_pth=1
  [ $need_fp16 = 1 ] && [ ! -f "$dir/$name-FP16.bin" ] && need_pth=1
  if [ $need_pth = 1 ] && [ ! -f "$pth" ]; then
    ensure_venv
    log "$name: safetensors -> .pth (torch.save)"
    run_logged "$LOGS/$name-pth.log" "writing $pth from $st (torch + safetensors)" \
      "$VPY" -c '
import sys, torch
from safetensors.torch import load_file
torch.save(load_file(sys.argv[1]), sys.argv[2])
' "$st" "$pth.part"
    mv -f "$pth.part" "$pth"
  fi
  for d in FP32 FP16; do
    local out=$dir/$name-$d.bin
    if { [ $d = FP32 ] && [ $need_fp32 = 1 ]; } || { [ $d = FP16 ] && [ $need_fp16 = 1 ]; }; then
      [ -f "$out" ] && continue
      ensure_venv
      log "$name: rwkv.cpp's convert_pytorch_to_ggml.py -> $d"
      run_logged "$LOGS/$name-convert-$d.log" "rwkv.cpp's python/convert_pytorch_to_ggml.py ($name, $d)" \
        "$VPY" "$RWKVCPP/python/convert_pytorch_to_ggml.py" "$pth" "$out.part" "$d"
      mv -f "$out.part" "$out"
    fi
  done
  for d in "${DTYPE_LIST[@]}"; do
    case "$d" in FP32|FP16) continue ;; esac
    local out=$dir/$name-$d.bin
    [ -f "$out" ] && continue
    ensure_venv
    log "$name: rwkv.cpp's quantize.py FP16 -> $d"
    # quantize.py finds librwkv.so by searching around its working folder: run it from the
    # build folder, whose own librwkv.so is the first match there.
    run_logged "$LOGS/$name-quantize-$d.log" "rwkv.cpp's python/quantize.py ($name, FP16 -> $d)" \
      env -C "$LIBDIR" "$VPY" "$RWKVCPP/python/quantize.py" "$dir/$name-FP16.bin" "$out.part" "$d"
    mv -f "$out.part" "$out"
  done
  for d in "${DTYPE_LIST[@]}"; do
    [ -s "$dir/$name-$d.bin" ] || die "$name: $dir/$name-$d.bin was not made"
  done
}

for m in "${MODEL_LIST[@]}"; do make_model_files "$m"; done

# ---- 3. the interleaved runs -----------------------------------------------------------------
SAMPLES=$LOGS/samples.tsv FIRST_JSON=""
printf 'model\tdtype\tthreads\tprogram\trun\tprefill_tok_s\tdecode_tok_s\tweights\tlog\n' >"$SAMPLES"

# One rwkv-run sample: appends a line to SAMPLES.
sample_rwkv_run() {  # model dtype threads run file
  local tag="$1-$2-t$3-r$4" json quant_args=() want=none
  json=$LOGS/rwkv-run-$tag.json
  # A quantized file's matrices stay as stored when the run asks for their kind (as the bench does by
  # default for a quantized file): rwkv.cpp's Q8_0 and Q5_x load as int8, Q4_x as q4, group 32, the
  # values unchanged.
  case "$2" in
    Q8_0|Q5_0|Q5_1) quant_args=(--dtype int8) want=int8 ;;
    Q4_0|Q4_1) quant_args=(--dtype q4) want=q4 ;;
  esac
  run_logged "$LOGS/rwkv-run-$tag.log" "rwkv-run bench ($1 $2, $3 threads, run $4)" \
    "$RWKV_RUN" bench "$5" --device cpu --threads "$3" "${quant_args[@]}" --pp "$PREFILL" --pp-batch 1 \
      --tg "$DECODE" --tg-batch 1 --greedy --warmup 1 --repeat 1 --bandwidth-gbs 0 --peak-tflops 0 --quiet --json "$json"
  [ -n "$FIRST_JSON" ] || FIRST_JSON=$json
  local figures
  figures=$("$PYTHON" - "$json" "$want" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))["runs"][0]
quant = r.get("quant", "none")
if quant != sys.argv[2]:
    sys.exit(f"rwkv-run ran the file with matrices {quant}, not {sys.argv[2]}")
held = (f"{quant} matrices, {r['dtype']} rest" if quant != "none" else r["dtype"]) + \
    f", {r['weight_bytes'] / 1e6:.1f} MB held"
print(r["prefill"][0]["tokens_per_s"], r["decode"][0]["tokens_per_s"], held, sep="\t")
EOF
  ) || die "reading $json (rwkv-run bench's JSON) failed"
  local pre dec held
  IFS=$'\t' read -r pre dec held <<<"$figures"
  printf '%s\t%s\t%s\trwkv-run\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$pre" "$dec" "$held" \
    "rwkv-run-$tag.log" >>"$SAMPLES"
}

# One rwkv.cpp sample.
sample_rwkvcpp() {  # model dtype threads run file
  local tag="$1-$2-t$3-r$4" logf line
  logf=$LOGS/rwkvcpp-$tag.log
  run_logged "$logf" "the rwkv.cpp driver ($1 $2, $3 threads, run $4)" \
    "$DRIVER" "$5" --threads "$3" --prefill "$PREFILL" --chunk "$CHUNK" --decode "$DECODE" --warmup 16
  line=$(grep -E '^prefill_tok_s=' "$logf" | tail -n 1)
  [[ $line =~ prefill_tok_s=([0-9.]+)\ decode_tok_s=([0-9.]+) ]] ||
    { show_tail "$logf"; die "the rwkv.cpp driver printed no prefill_tok_s=... decode_tok_s=... line ($logf)"; }
  printf '%s\t%s\t%s\trwkv.cpp\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "${BASH_REMATCH[1]}" \
    "${BASH_REMATCH[2]}" "file $(awk -v b="$(stat -c %s "$5")" 'BEGIN { printf "%.1f MB", b / 1e6 }')" "rwkvcpp-$tag.log" >>"$SAMPLES"
}

# The cross-check, once per file, untimed: the logits after the same prompt from both programs
# (rwkv.cpp: the driver's prefill, in chunks as timed; rwkv-run: `rwkv-run logits --last`), so that
# the speeds compare two computations of the same model. A large difference is flagged in the results.
CHECKS=$LOGS/checks.tsv CHECK_TOKENS=$((PREFILL < 1024 ? PREFILL : 1024))  # ids on a command line
printf 'model\tdtype\tmax_abs_diff\tmax_abs_logit\tsame_argmax\n' >"$CHECKS"
check_same_model() {  # model dtype file
  local tag="$1-$2" base
  base=$LOGS/check-$1-$2
  run_logged "$base-rwkvcpp.log" "the cross-check's rwkv.cpp prefill ($1 $2)" \
    "$DRIVER" "$3" --threads "${THREAD_LIST[0]}" --prefill "$CHECK_TOKENS" --chunk "$CHUNK" --decode 0 --warmup 0 \
      --tokens-out "$base.tokens" --logits-out "$base-rwkvcpp.f32"
  run_logged "$base-rwkv-run.log" "the cross-check's rwkv-run logits ($1 $2)" \
    "$RWKV_RUN" logits "$3" --device cpu --threads "${THREAD_LIST[0]}" --tokens "$(cat "$base.tokens")" --last \
      --out "$base-rwkv-run.f32"
  local verdict
  verdict=$("$PYTHON" - "$base-rwkvcpp.f32" "$base-rwkv-run.f32" <<'EOF'
import array, sys
a, b = array.array("f"), array.array("f")
for arr, path in ((a, sys.argv[1]), (b, sys.argv[2])):
    with open(path, "rb") as f:
        arr.frombytes(f.read())
if len(a) != len(b) or not a:
    sys.exit(f"logits of {len(a)} and {len(b)} values")
diff = max(abs(x - y) for x, y in zip(a, b))
big = max(abs(x) for x in a)
same = max(range(len(a)), key=a.__getitem__) == max(range(len(b)), key=b.__getitem__)
print(f"{diff:.3g}\t{big:.3g}\t{'yes' if same else 'no'}")
EOF
  ) || die "comparing the cross-check's logits ($1 $2, $base-*.f32) failed"
  printf '%s\t%s\t%s\n' "$1" "$2" "$verdict" >>"$CHECKS"
  log "$1 $2: logits after the prompt, rwkv-run vs rwkv.cpp: max |diff| ${verdict%%$'\t'*}"
}

total=$(( ${#MODEL_LIST[@]} * ${#DTYPE_LIST[@]} * ${#THREAD_LIST[@]} ))
k=0
for m in "${MODEL_LIST[@]}"; do
  for d in "${DTYPE_LIST[@]}"; do
    check_same_model "$m" "$d" "$WORK/models/$m/$m-$d.bin"
    for t in "${THREAD_LIST[@]}"; do
      k=$((k + 1))
      file=$WORK/models/$m/$m-$d.bin
      log "[$k/$total] $m $d, $t thread(s): $RUNS run(s) of each, interleaved"
      for ((r = 1; r <= RUNS; r++)); do
        if ((r % 2 == 1)); then
          sample_rwkv_run "$m" "$d" "$t" "$r" "$file"
          sample_rwkvcpp "$m" "$d" "$t" "$r" "$file"
        else
          sample_rwkvcpp "$m" "$d" "$t" "$r" "$file"
          sample_rwkv_run "$m" "$d" "$t" "$r" "$file"
        fi
      done
    done
  done
done

# ---- 4. medians, ratios, the table -----------------------------------------------------------
CPU_NAME=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
[ -n "$CPU_NAME" ] || CPU_NAME=$(uname -m)
RWKV_RUN_COMMIT=$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1])).get("commit", "unknown"))' \
  "$FIRST_JSON" 2>/dev/null || echo unknown)
export VS_CPU="$CPU_NAME" VS_RWKVCPP_COMMIT="$RWKVCPP_COMMIT" VS_GGML_COMMIT="$GGML_COMMIT" VS_RWKVCPP="$RWKVCPP" \
  VS_RWKV_RUN="$RWKV_RUN" VS_RWKV_RUN_COMMIT="$RWKV_RUN_COMMIT" VS_RUNS="$RUNS" VS_PREFILL="$PREFILL" \
  VS_DECODE="$DECODE" VS_CHUNK="$CHUNK" VS_STAMP="$STAMP" VS_CHECK_TOKENS="$CHECK_TOKENS"
"$PYTHON" - "$SAMPLES" "$LOGS" "$WORK" "$CHECKS" <<'EOF' || die "summarising $SAMPLES failed"
import json, os, statistics, sys

samples, logs, work, checks_tsv = sys.argv[1:5]
checks = {}
with open(checks_tsv) as f:
    next(f)
    for line in f:
        model, dtype, diff, big, same = line.rstrip("\n").split("\t")
        checks[(model, dtype)] = {"max_abs_diff": float(diff), "max_abs_logit": float(big),
                                  "same_argmax": same == "yes"}
e = os.environ
meta = {
    "cpu": e["VS_CPU"],
    "cores": os.cpu_count(),
    "rwkv_cpp_commit": e["VS_RWKVCPP_COMMIT"],
    "ggml_commit": e["VS_GGML_COMMIT"],
    "rwkv_cpp_source": e["VS_RWKVCPP"],
    "rwkv_run": e["VS_RWKV_RUN"],
    "rwkv_run_commit": e["VS_RWKV_RUN_COMMIT"],
    "runs": int(e["VS_RUNS"]),
    "prefill_tokens": int(e["VS_PREFILL"]),
    "decode_tokens": int(e["VS_DECODE"]),
    "rwkv_cpp_prefill_chunk": int(e["VS_CHUNK"]),
    "check_tokens": int(e["VS_CHECK_TOKENS"]),
    "stamp": e["VS_STAMP"],
}
rows, order, held = {}, [], {}
with open(samples) as f:
    next(f)
    for line in f:
        model, dtype, threads, prog, run, pre, dec, weights, _ = line.rstrip("\n").split("\t")
        key = (model, dtype, int(threads))
        if key not in rows:
            rows[key] = {"rwkv-run": ([], []), "rwkv.cpp": ([], [])}
            order.append(key)
        held.setdefault((model, dtype), {})[prog] = weights
        rows[key][prog][0].append(float(pre))
        rows[key][prog][1].append(float(dec))

def ratio(a, b):
    return a / b if b > 0 else float("nan")

out = []
for key in order:
    r = rows[key]
    m = {p: (statistics.median(r[p][0]), statistics.median(r[p][1])) for p in r}
    out.append({"model": key[0], "dtype": key[1], "threads": key[2],
                "decode_tok_s": {"rwkv-run": m["rwkv-run"][1], "rwkv.cpp": m["rwkv.cpp"][1]},
                "decode_ratio": ratio(m["rwkv-run"][1], m["rwkv.cpp"][1]),
                "prefill_tok_s": {"rwkv-run": m["rwkv-run"][0], "rwkv.cpp": m["rwkv.cpp"][0]},
                "prefill_ratio": ratio(m["rwkv-run"][0], m["rwkv.cpp"][0]),
                "weights": held[key[:2]],
                "logits_check": checks.get(key[:2]),
                "samples": {p: {"prefill_tok_s": r[p][0], "decode_tok_s": r[p][1]} for p in r}})

def rate(v):
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}"

P = meta["prefill_tokens"]
# Far apart logits mean the two programs do not compute the same model: the speeds then compare
# nothing. FP16 and Q8_0 differ by rwkv.cpp's fp16 / 8-bit activations (about 1e-3 and 1e-2).
def check_text(c):
    if not c:
        return "not checked"
    t = f"logits after the prompt differ by at most {c['max_abs_diff']:.2g} (largest logit {c['max_abs_logit']:.3g})"
    t += ", same argmax" if c["same_argmax"] else ", different argmax"
    if c["max_abs_diff"] > 0.1 * max(c["max_abs_logit"], 1.0):
        t += " -- WARNING: far apart, the two programs may not compute the same model"
    return t
notes = "\n".join(f"- {m} {d}: rwkv.cpp {h.get('rwkv.cpp', '-')}; rwkv-run {h.get('rwkv-run', '-')}; "
                  f"{check_text(checks.get((m, d)))}" for (m, d), h in held.items())
head = ["model", "dtype", "threads", "rwkv-run decode", "rwkv.cpp decode", "ratio",
        f"rwkv-run prefill {P}", f"rwkv.cpp prefill {P}", "ratio"]
body = [[o["model"], o["dtype"], str(o["threads"]), rate(o["decode_tok_s"]["rwkv-run"]),
         rate(o["decode_tok_s"]["rwkv.cpp"]), f"{o['decode_ratio']:.2f}",
         rate(o["prefill_tok_s"]["rwkv-run"]), rate(o["prefill_tok_s"]["rwkv.cpp"]),
         f"{o['prefill_ratio']:.2f}"] for o in out]
w = [max(len(r[i]) for r in [head] + body) for i in range(len(head))]
def line(r):
    return "| " + " | ".join(c.rjust(w[i]) if i > 1 else c.ljust(w[i]) for i, c in enumerate(r)) + " |"
sep = "|" + "|".join(("-" * (w[i] + 1) + ":") if i > 1 else ("-" * (w[i] + 2)) for i in range(len(w))) + "|"
table = "\n".join([line(head), sep] + [line(r) for r in body])

text = f"""# rwkv-run (CPU backend) against rwkv.cpp

- CPU: {meta['cpu']} ({meta['cores']} hardware threads)
- rwkv.cpp: {meta['rwkv_cpp_commit']} (ggml {meta['ggml_commit']}), built Release with its default CPU flags
- rwkv-run: {meta['rwkv_run']} (commit {meta['rwkv_run_commit']})
- tokens/s, median of {meta['runs']} interleaved runs each; decode: {meta['decode_tokens']} steps at batch 1 after
  16 warm-up steps; prefill: one {P}-token prompt after an untimed one (rwkv.cpp in chunks of
  {meta['rwkv_cpp_prefill_chunk'] or 'the whole prompt'}); ratio = rwkv-run / rwkv.cpp (above 1: rwkv-run is faster)
- the same .bin file on both sides; rwkv-run's CPU backend holds dense matrices in the file's dtype
  (sums in fp32) and a Q8_0 file's quantized matrices as int8, group 32, as stored (--dtype int8);
  rwkv.cpp keeps emb and head unquantized in a Q8_0 file, rwkv-run holds the head in that dtype too

{table}

per file: the weights (rwkv-run: what its CPU backend held, from its JSON) and the cross-check (the
logits of both programs after the same {meta['check_tokens']}-token prompt):
{notes}
"""
print(text)
doc = {"meta": meta, "rows": out}
for d in (logs, work):
    with open(os.path.join(d, "results.md"), "w") as f:
        f.write(text)
    with open(os.path.join(d, "results.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
EOF
log "results: $WORK/results.md, $WORK/results.json (samples and logs: $LOGS)"
