#!/usr/bin/env bash
# Rebuilds src/cli/volume-tool.wasm, the WASI program `cloister volume ls|cp|rm|fsck` runs in the
# enclave, from volume-tool.c with wasi-libc.
#
#   sudo native/volume-tool/build.sh      # root: installs the toolchain with apt-get
#
# Pinned toolchain: Debian bookworm's clang-14, lld-14, wasi-libc 0.0~git20220510.9886d3d-2. Fixed
# flags, no debug info or build paths, so the same inputs give the same bytes: the result's sha256 is
# in SHA256SUMS next to this script. The tool is measured like any program (its bytes and its
# arguments are in the MRENCLAVE of each `volume` command).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# VOLUME_TOOL_OUT builds elsewhere (the reproducibility test); SHA256SUMS is then left alone.
OUT="${VOLUME_TOOL_OUT:-$ROOT/src/cli/volume-tool.wasm}"

if [ "$(id -u)" = 0 ] && ! command -v clang >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang lld wasi-libc libclang-rt-14-dev-wasm32 >/dev/null
fi

cd "$HERE"
clang --target=wasm32-wasi --sysroot=/usr -O2 -g0 -fno-ident -Wall -Wextra -Werror \
  -Wl,--strip-all -o "$OUT" volume-tool.c
[ -n "${VOLUME_TOOL_OUT:-}" ] || sha256sum "$OUT" | sed "s|  $ROOT/|  |" >SHA256SUMS
echo "built $OUT ($(stat -c %s "$OUT") bytes)"
