#!/usr/bin/env bash
# scripts/setup.sh: installs what rwkv-run needs to build and test on Debian 12
# (run as root, or with sudo available). The CUDA toolkit (nvcc, cuBLAS) is
# expected in /usr/local/cuda; without it only the CPU build is possible.
set -euo pipefail

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

PACKAGES=(
  build-essential cmake pkg-config ccache   # toolchain
  clang libclang-rt-14-dev                  # libFuzzer targets
  catch2                                    # test framework (2.13)
  libopenblas-dev                           # CPU backend GEMMs
  libutf8proc-dev                           # NFC + Unicode classes for the 20B tokenizer
  nlohmann-json3-dev                        # JSON: model headers, tokenizer files, bench/info output
  libcli11-dev                              # command-line options of rwkv-run
  libcpp-httplib-dev                        # rwkv-run serve: HTTP server and client
  python3 python3-venv                      # tooling only (never at run time; the venv: the server test's openai client)
  unzip ca-certificates                     # tokenizer download from PyPI
  patchelf xz-utils                         # scripts/device-kit.sh: RUNPATH $ORIGIN, the packed kit
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then
  echo "setup: CUDA toolkit found"
else
  echo "setup: no CUDA toolkit (nvcc) found: the GPU and emulated builds need it; the CPU build works without" >&2
fi

# cuobjdump (to check that every kernel object carries sm_90 code) is not in
# every CUDA toolkit install; NVIDIA publishes it on PyPI as a tooling wheel.
# It is unpacked into .tools/ of this checkout, never used at run time.
TOOLS_DIR="$(cd "$(dirname "$0")/.." && pwd)/.tools"
if ! command -v cuobjdump >/dev/null 2>&1 && [ ! -x /usr/local/cuda/bin/cuobjdump ] &&
   [ ! -x "$TOOLS_DIR/bin/cuobjdump" ] && command -v pip >/dev/null 2>&1; then
  tmp=$(mktemp -d)
  if pip download -q --no-deps -d "$tmp" "nvidia-cuda-cuobjdump==13.5.37" >/dev/null 2>&1; then
    mkdir -p "$TOOLS_DIR/bin"
    (cd "$tmp" && unzip -oq ./*.whl && cp nvidia/cu13/bin/cuobjdump "$TOOLS_DIR/bin/" && chmod +x "$TOOLS_DIR/bin/cuobjdump")
    echo "setup: cuobjdump installed in $TOOLS_DIR/bin"
  else
    echo "setup: could not fetch cuobjdump; the cuda test stage will skip its sm_90 check" >&2
  fi
  rm -rf "$tmp"
fi

# Tokenizer files (World and GPT-NeoX 20B vocabularies), checked against the
# sums in scripts/tokenizers.sha256.
if [ -x "$(dirname "$0")/fetch_tokenizers.sh" ]; then
  "$(dirname "$0")/fetch_tokenizers.sh" || echo "setup: tokenizer download failed (see above); pass --tokenizer FILE instead" >&2
fi
echo "setup: done"
