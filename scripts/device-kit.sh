#!/usr/bin/env bash
# scripts/device-kit.sh: prepares, on this CPU machine, everything bench/gpu-check.sh needs on a
# GPU machine that has CUDA 13 (driver, cudart, cuBLAS, nvcc, ncu, compute-sanitizer) and python3
# with PyTorch, but no OpenBLAS, utf8proc, Catch2 and no access to a package registry.
#
#   scripts/device-kit.sh [--build DIR] [--kit DIR]
#
# Builds (or reuses) the CUDA build DIR (default build/ci-cuda: RelWithDebInfo, sm_80 and sm_90
# code, the configuration scripts/test.sh's cuda stage builds), then writes into the kit folder
# (default .kit/, ignored by git):
#   kit.tar.xz   bin/rwkv-run, bin/rwkv_tests (debug info stripped, RUNPATH $ORIGIN/../lib),
#                lib/ the non-system shared libraries they load (OpenBLAS and its libgfortran and
#                libquadmath, utf8proc), testdata/ the part of the test data the [gpu] tests read
#                (RWKV_TESTDATA there), wheels/ the official rwkv pip wheel (the peer row),
#                BUILD-INFO
#   BUILD-INFO   commit, toolchain, what must come from the device, the ABI versions needed
# The kit travels with the working tree (carry .kit: at most 64 MiB with the tree); gpu-check.sh
# unpacks it on the device. libstdc++, libgcc_s and glibc come from the device (newer than this
# Debian 12's), as do libcudart.so.13 and libcublas.so.13 (CUDA 13 there).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=$ROOT/build/ci-cuda KIT=$ROOT/.kit
while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD=$(realpath -m "$2"); shift 2 ;;
    --kit) KIT=$(realpath -m "$2"); shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "usage: scripts/device-kit.sh [--build DIR] [--kit DIR]" >&2; exit 2 ;;
  esac
done
export PATH="/usr/local/cuda/bin:$ROOT/.tools/bin:$PATH"
TESTDATA=${RWKV_TESTDATA:-$ROOT/../shared/testdata}
RWKV_PIP_VERSION=0.8.32
# What the [gpu] tests read (found by tracing their file opens; docs/testdata.md describes the
# files): the golden folders and the model checkpoints, about 72 MB, 45 MB in the archive.
TESTDATA_PARTS='golden models/*.pth'  # expanded inside the test data folder
# Libraries the device provides: glibc, the C++ runtime (newer there), CUDA 13.
DEVICE_LIBS='^(libc|libm|libdl|libpthread|librt|ld-linux-x86-64|libstdc\+\+|libgcc_s|libcudart|libcublas|libcublasLt|libcuda)\.so'

# ---- build ----
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRWKV_GPU=cuda \
    "-DCMAKE_CUDA_ARCHITECTURES=80-real;90-real" >"$BUILD.configure.log" 2>&1 || { cat "$BUILD.configure.log"; exit 1; }
fi
cmake --build "$BUILD" -j "${JOBS:-$(nproc)}" --target rwkv-run rwkv_tests >"$BUILD.kit-build.log" 2>&1 ||
  { grep -E "error|FAILED" "$BUILD.kit-build.log" | head -40; exit 1; }
objdump -p "$BUILD/rwkv-run" | grep -q "NEEDED *libcudart" || { echo "device-kit: $BUILD is not a cuda build" >&2; exit 1; }

# ---- stage ----
STAGE=$KIT/stage
rm -rf "$STAGE" && mkdir -p "$STAGE/bin" "$STAGE/lib" "$STAGE/testdata" "$STAGE/wheels"
for b in "$BUILD/rwkv-run" "$BUILD/tests/rwkv_tests"; do
  strip --strip-debug -o "$STAGE/bin/$(basename "$b")" "$b"
  if command -v patchelf >/dev/null; then patchelf --set-rpath '$ORIGIN/../lib' "$STAGE/bin/$(basename "$b")"; fi
done
# Every library the binaries load (ldd: transitively) that the device does not provide.
ldd "$BUILD/rwkv-run" "$BUILD/tests/rwkv_tests" | awk '/=> \// { print $1, $3 }' | sort -u |
  while read -r soname path; do
    if ! [[ "$soname" =~ $DEVICE_LIBS ]]; then cp -L "$path" "$STAGE/lib/$soname"; fi
  done
# The carried libraries find each other (OpenBLAS -> libgfortran -> libquadmath) beside themselves.
if command -v patchelf >/dev/null; then
  for l in "$STAGE"/lib/*; do chmod u+w "$l" && patchelf --set-rpath '$ORIGIN' "$l"; done
fi
(cd "$TESTDATA" && cp -r --parents $TESTDATA_PARTS "$STAGE/testdata/")
WHEEL_CACHE=$KIT/cache
mkdir -p "$WHEEL_CACHE"
if ! ls "$WHEEL_CACHE"/rwkv-$RWKV_PIP_VERSION-*.whl >/dev/null 2>&1; then
  python3 -m pip download --quiet --no-deps "rwkv==$RWKV_PIP_VERSION" -d "$WHEEL_CACHE" ||
    echo "device-kit: WARNING: no rwkv wheel (pip download failed): the peer phase will say so"
fi
cp "$WHEEL_CACHE"/rwkv-*.whl "$STAGE/wheels/" 2>/dev/null || true

# ---- ABI: the newest symbol versions each file needs ----
max_version() {  # FILE PREFIX -> the newest PREFIX_x.y.z the file needs
  objdump -T "$1" 2>/dev/null | grep -o "$2_[0-9][0-9.]*" | sort -uV | tail -n 1
}
{
  echo "commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(. /etc/os-release && echo "$PRETTY_NAME"), $(ldd --version | head -n 1 | sed 's/.* //') glibc"
  echo "build: $BUILD ($(grep -E '^CMAKE_BUILD_TYPE:' "$BUILD/CMakeCache.txt" | cut -d= -f2), CUDA architectures $(grep -E '^CMAKE_CUDA_ARCHITECTURES:' "$BUILD/CMakeCache.txt" | cut -d= -f2))"
  echo "nvcc: $(nvcc --version | tail -n 1)"
  echo "from the device: $(objdump -p "$BUILD/rwkv-run" "$BUILD/tests/rwkv_tests" | awk '/NEEDED/ { print $2 }' | grep -E "$DEVICE_LIBS" | sort -u | tr '\n' ' ')libcublasLt.so.13 (by libcublas)"
  echo "carried in lib/: $(ls "$STAGE/lib" | tr '\n' ' ')"
  echo "newest symbol versions needed:"
  for f in "$STAGE"/bin/* "$STAGE"/lib/*; do
    printf '  %-18s %-12s %-16s %s\n' "$(basename "$f")" "$(max_version "$f" GLIBC)" "$(max_version "$f" GLIBCXX)" "$(max_version "$f" CXXABI)"
  done
  echo "wheel: $(ls "$STAGE/wheels" 2>/dev/null | tr '\n' ' ')"
} >"$STAGE/BUILD-INFO"
cp "$STAGE/BUILD-INFO" "$KIT/BUILD-INFO"

# ---- pack ----
tar -C "$STAGE" -cf - . | xz -T"${JOBS:-$(nproc)}" -6 >"$KIT/kit.tar.xz.tmp"
mv "$KIT/kit.tar.xz.tmp" "$KIT/kit.tar.xz"
RAW=$(du -sb "$STAGE" | cut -f1)
rm -rf "$STAGE"
SIZE=$(stat -c %s "$KIT/kit.tar.xz")
TREE=$(git -C "$ROOT" ls-files -z | xargs -0 stat -c %s 2>/dev/null | awk '{ s += $1 } END { print s }')
cat "$KIT/BUILD-INFO"
awk -v k="$KIT" -v s="$SIZE" -v r="$RAW" -v t="$TREE" 'BEGIN { m = 1048576
  printf "kit: %s/kit.tar.xz, %.1f MiB (%.1f MiB unpacked); with the working tree (%.1f MiB) %.1f MiB of the 64 MiB that travel\n", k, s / m, r / m, t / m, (s + t) / m }'
[ $((SIZE + TREE)) -lt $((60 << 20)) ] || { echo "device-kit: the kit is too large to travel" >&2; exit 1; }
echo "on the device: bench/gpu-check.sh --kit .kit OUTDIR   (carry: .kit)"
