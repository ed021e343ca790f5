#!/usr/bin/env bash
# Rebuilds src/enclave/net/lwip.wasm: lwIP's core (IPv4, ICMP, UDP, TCP; raw API, NO_SYS=1) from
# Debian's source package, compiled to a wasm32-wasi reactor with Cloister's glue (glue.c) and
# configuration (lwipopts.h, arch/cc.h).
#
#   sudo native/lwip/build.sh            # root: installs the toolchain with apt-get
#   BUILD_DIR=/tmp/x native/lwip/build.sh
#
# Inputs are pinned: lwIP 2.2.1+dfsg1-1+deb13u1 (Debian trixie's source package, the checksums below;
# bookworm only has 2.1.3), built with bookworm's clang-14, lld-14 and wasi-libc
# 0.0~git20220510.9886d3d-2. Flags are fixed and the build runs with SOURCE_DATE_EPOCH set, so the same
# inputs give the same bytes; the result's sha256 is in SHA256SUMS next to this script. Only this
# script, lwipopts.h, arch/cc.h, glue.c and checksum.[ch] are kept in the repository, never the Debian
# sources.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
OUT="$ROOT/src/enclave/net/lwip.wasm"
BUILD_DIR="${BUILD_DIR:-/tmp/cloister-lwip-build}"

LWIP_VERSION=2.2.1+dfsg1-1+deb13u1
ORIG_SHA256=83729c274c499d3348e9fbbe043a3113f3fa8953e7efddc7c21c7fcbb1f2b7b1
DEBIAN_SHA256=faa343b3c76d69080240ae1323932b7348fa1d0042f6ad29bd286246660720a9
export SOURCE_DATE_EPOCH=1672531200 # 2023-01-01, fixed so nothing time-dependent leaks in

if [ "$(id -u)" = 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang lld wasi-libc \
    libclang-rt-14-dev-wasm32 dpkg-dev xz-utils >/dev/null
fi

mkdir -p "$BUILD_DIR/apt/lists/partial" "$BUILD_DIR/apt/cache/archives/partial"
cd "$BUILD_DIR"

# A private deb-src list: the system's apt configuration stays untouched.
cat >apt/sources.list <<'LIST'
deb-src http://deb.debian.org/debian trixie main
LIST
APT=(-o Dir::Etc::SourceList="$BUILD_DIR/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o Dir::State::Lists="$BUILD_DIR/apt/lists" -o Dir::Cache="$BUILD_DIR/apt/cache")
if [ ! -f "lwip_${LWIP_VERSION}.dsc" ]; then
  apt-get "${APT[@]}" update -qq
  apt-get "${APT[@]}" source --download-only "lwip=${LWIP_VERSION}"
fi
echo "$ORIG_SHA256  lwip_2.2.1+dfsg1.orig.tar.xz" | sha256sum -c -
echo "$DEBIAN_SHA256  lwip_${LWIP_VERSION}.debian.tar.xz" | sha256sum -c -

rm -rf src obj
dpkg-source -x "lwip_${LWIP_VERSION}.dsc" src >/dev/null
mkdir obj

# -I"$HERE" first: our lwipopts.h and arch/cc.h.
CFLAGS=(--target=wasm32-wasi -O2 -g0 -ffile-prefix-map="$BUILD_DIR"=. -ffile-prefix-map="$HERE"=.
  -fno-ident -I"$HERE" -Isrc/src/include)

sources=(src/src/core/*.c src/src/core/ipv4/*.c)
objs=()
for f in "${sources[@]}"; do
  objs+=("obj/$(basename "$f" .c).o")
done
# Upstream code is built as it is (-w); our glue must compile without warnings.
printf '%s\n' "${sources[@]}" | xargs -P 2 -I{} sh -c 'clang "$@" -w -c {} -o obj/$(basename {} .c).o' _ "${CFLAGS[@]}"
clang "${CFLAGS[@]}" -Wall -Wextra -Werror -c "$HERE/glue.c" -o obj/glue.o
# Only the checksum uses wasm SIMD (Node's V8 has it on by default); lwIP's own code stays scalar.
clang "${CFLAGS[@]}" -msimd128 -Wall -Wextra -Werror -c "$HERE/checksum.c" -o obj/checksum.o

# Sorted object order: the link does not depend on how the shell expanded the globs.
mapfile -t objs < <(printf '%s\n' "${objs[@]}" | LC_ALL=C sort)
clang --target=wasm32-wasi -O2 -mexec-model=reactor obj/glue.o obj/checksum.o "${objs[@]}" \
  -Wl,--strip-all -Wl,--gc-sections -Wl,-z,stack-size=262144 -Wl,--max-memory=268435456 \
  -o "$BUILD_DIR/lwip.wasm"

mkdir -p "$(dirname "$OUT")"
cp "$BUILD_DIR/lwip.wasm" "$OUT"
(cd "$ROOT" && sha256sum src/enclave/net/lwip.wasm)
echo "size: $(stat -c %s "$OUT") bytes"
