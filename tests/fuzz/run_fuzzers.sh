#!/bin/sh
# Runs every fuzz target for N seconds, seeded from testdata.
#   tests/fuzz/run_fuzzers.sh BUILD_DIR [SECONDS=60] [TESTDATA=../shared/testdata]
# BUILD_DIR holds the fuzz_* binaries (cmake -S tests/fuzz -B BUILD_DIR -DCMAKE_CXX_COMPILER=clang++).
# Corpora are kept in BUILD_DIR/corpus/<target>; crashes are written to BUILD_DIR/crash-*.
set -eu
build=$1
secs=${2:-60}
here=$(cd "$(dirname "$0")" && pwd)
testdata=${3:-${RWKV_TESTDATA:-$here/../../../shared/testdata}}
seed() {  # seed DIR FILES...: copy seed files once
  dir=$1; shift
  mkdir -p "$dir"
  if [ -z "$(ls -A "$dir")" ]; then for f in "$@"; do [ -f "$f" ] && cp "$f" "$dir/"; done; fi
  return 0
}
c=$build/corpus
seed "$c/zip_pth" "$testdata"/models/synth-rwkv-v4-bf16.pth
seed "$c/ggml" "$testdata"/rwkvcpp/tiny-rwkv-5v1-730K-Q5_1.bin "$testdata"/rwkvcpp/tiny-rwkv-7v0-834K-Q4_0.bin
seed "$c/json" "$testdata"/models/tiny_models.json
seed "$c/torch_pickle"
seed "$c/safetensors"
seed "$c/load_model" "$testdata"/rwkvcpp/tiny-rwkv-4v0-660K-Q8_0.bin
# a minimal safetensors file as its seed
if [ -z "$(ls -A "$c/safetensors")" ]; then
  h='{"emb.weight":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}'
  { printf '\102\000\000\000\000\000\000\000'; printf '%s' "$h"; head -c 16 /dev/zero; } > "$c/safetensors/seed"
fi
# a quantized safetensors tensor (runtime/quant/quant_file.h): q4 head.weight [2, 32]
if [ ! -f "$c/safetensors/seed_q4" ]; then
  h='{"__metadata__":{"rwkv_run.quant":"1","rwkv_run.quant_kind":"q4","rwkv_run.quant_transposed":""},'
  h=$h'"head.weight.qscale":{"dtype":"F16","shape":[2,1],"data_offsets":[0,4]},'
  h=$h'"head.weight.qmin":{"dtype":"F16","shape":[2,1],"data_offsets":[4,8]},'
  h=$h'"head.weight.qweight":{"dtype":"U8","shape":[2,16],"data_offsets":[8,40]}}'
  n=$(printf '%s' "$h" | wc -c)
  { printf "$(printf '\\%03o\\%03o' $((n % 256)) $((n / 256)))"; printf '\000\000\000\000\000\000'
    printf '%s' "$h"; printf '\000\074\000\070\000\264\000\264'; head -c 32 /dev/zero | tr '\000' '\045'; } > "$c/safetensors/seed_q4"
fi
# data.pkl of a real checkpoint as the pickle seed
if [ -z "$(ls -A "$c/torch_pickle")" ] && command -v unzip >/dev/null; then
  unzip -p "$testdata"/models/synth-rwkv-v7-bf16.pth synth-rwkv-v7-bf16/data.pkl > "$c/torch_pickle/data.pkl" || true
fi
# a state file (runtime/state/state_file.h): mode byte 3 (fix the checksum, read
# for the model the header names), then the header of a 2-float state, the payload
# and a checksum slot
if [ ! -f "$c/state_file/seed" ]; then
  mkdir -p "$c/state_file"
  { printf '\003RWKVSTAT\001\000\000\000\140\000\000\000'; head -c 16 /dev/zero
    printf '\005\000\000\000'; head -c 28 /dev/zero
    printf '\002\000\000\000\000\000\000\000\010\000\000\000\000\000\000\000'; head -c 16 /dev/zero
    printf '\000\000\200\077\000\000\000\100'; head -c 8 /dev/zero; } > "$c/state_file/seed"
fi
seed "$c/tokenizer_files"
if [ -z "$(ls -A "$c/tokenizer_files")" ]; then
  # the first lines of the World vocabulary, and a small tokenizer.json
  head -n 300 "$testdata"/tokenizer/rwkv_vocab_v20230424.txt > "$c/tokenizer_files/vocab_head.txt" || true
  # the 20B tokenizer cut to its first 600 tokens and the merges among them
  if command -v python3 >/dev/null; then
    python3 - "$testdata"/tokenizer/20B_tokenizer.json "$c/tokenizer_files/tokenizer.json" <<'PY' || true
import json, sys
t = json.load(open(sys.argv[1], encoding="utf-8"))
m = t["model"]
keep = {k: v for k, v in m["vocab"].items() if v < 600}
m["vocab"] = keep
m["merges"] = [x for x in m["merges"] if x.replace(" ", "") in keep and all(p in keep for p in x.split(" "))]
t["added_tokens"] = [a for a in t["added_tokens"] if a["id"] < 600]
json.dump(t, open(sys.argv[2], "w", encoding="utf-8"), ensure_ascii=False)
PY
  fi
fi
seed "$c/chat_prompt" "$here"/../../tools/rwkv-run/prompts/*.txt
# server requests: one completion and one chat body
mkdir -p "$c/server_request"
[ -f "$c/server_request/completion" ] ||
  printf '%s' '{"model":"m","prompt":"Hi","max_tokens":5,"temperature":0.5,"stop":["a"],"logit_bias":{"7":-100},"stream":true,"stream_options":{"include_usage":true}}' >"$c/server_request/completion"
[ -f "$c/server_request/chat" ] ||
  printf '%s' '{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"Why?"}]}],"seed":-1,"n":1}' >"$c/server_request/chat"
status=0
for t in torch_pickle zip_pth safetensors ggml json load_model state_file tokenizer_files chat_prompt server_request; do
  echo "== fuzz_$t for ${secs}s"
  # A crash, leak or timeout makes the fuzzer exit non-zero: report it and fail.
  if (cd "$build" && ./fuzz_$t -max_total_time="$secs" -max_len=1048576 -rss_limit_mb=2048 \
        -print_final_stats=1 "corpus/$t" >"fuzz_$t.log" 2>&1); then
    tail -n 12 "$build/fuzz_$t.log"
  else
    tail -n 60 "$build/fuzz_$t.log"
    echo "fuzz_$t FAILED"
    status=1
  fi
done
exit $status
