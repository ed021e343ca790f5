#!/usr/bin/env bash
# Rebuilds src/common/ext4/ext2fs.wasm: e2fsprogs' libext2fs (+ com_err) from Debian's source
# package, compiled to a wasm32-wasi reactor with Cloister's glue (glue.c) and io_manager.
#
#   sudo native/ext2fs/build.sh            # root: installs the toolchain with apt-get
#   BUILD_DIR=/tmp/x native/ext2fs/build.sh
#
# Inputs are pinned: Debian bookworm's e2fsprogs 1.47.0-2 (the checksums below), clang-14, lld-14,
# wasi-libc 0.0~git20220510.9886d3d-2. Flags are fixed and the build runs with SOURCE_DATE_EPOCH set,
# so the same inputs give the same bytes; the result's sha256 is in SHA256SUMS next to this script.
# Only this script, config.h and glue.c are kept in the repository, never the Debian sources.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
OUT="$ROOT/src/common/ext4/ext2fs.wasm"
BUILD_DIR="${BUILD_DIR:-/tmp/cloister-ext2fs-build}"

E2FS_VERSION=1.47.0-2
ORIG_SHA256=6667afde56eef0c6af26684974400e4d2288ea49e9441bf5e6229195d51a3578
DEBIAN_SHA256=3a756e08d300666039e34577293d11d70c7a1da7850fad478580a81af6348277
export SOURCE_DATE_EPOCH=1672531200 # 2023-01-01, fixed so nothing time-dependent leaks in

# Sources of libext2fs that are not needed: host I/O managers, tdb/undo, qcow2, tests.
EXCLUDE=" unix_io undo_io test_io tdb tdbtool qcow2 windows_io nt_io dosio sparse_io bmove irel_ma "
EXCLUDE+=" gen_crc32ctable ismounted finddev getsize getsectsize llseek "

if [ "$(id -u)" = 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang lld wasi-libc libclang-rt-14-dev-wasm32 dpkg-dev make gcc >/dev/null
fi

mkdir -p "$BUILD_DIR/apt/lists/partial" "$BUILD_DIR/apt/cache/archives/partial"
cd "$BUILD_DIR"

# A private deb-src list: the system's apt configuration stays untouched.
cat >apt/sources.list <<'EOF'
deb-src http://deb.debian.org/debian bookworm main
EOF
APT=(-o Dir::Etc::SourceList="$BUILD_DIR/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o Dir::State::Lists="$BUILD_DIR/apt/lists" -o Dir::Cache="$BUILD_DIR/apt/cache")
if [ ! -f "e2fsprogs_${E2FS_VERSION}.dsc" ]; then
  apt-get "${APT[@]}" update -qq
  apt-get "${APT[@]}" source --download-only "e2fsprogs=${E2FS_VERSION}"
fi
echo "$ORIG_SHA256  e2fsprogs_1.47.0.orig.tar.gz" | sha256sum -c -
echo "$DEBIAN_SHA256  e2fsprogs_${E2FS_VERSION}.debian.tar.xz" | sha256sum -c -

rm -rf src obj
dpkg-source -x "e2fsprogs_${E2FS_VERSION}.dsc" src >/dev/null
mkdir obj

# Native configure, only for the generated headers: ext2_types.h, ext2_err.[ch], crc32c_table.h.
(
  cd src
  ./configure --disable-nls --disable-fuse2fs --disable-uuidd --disable-defrag >configure.log 2>&1
  make -C lib/et >/dev/null
  make -C lib/ext2fs ext2_err.h ext2_err.c crc32c_table.h >/dev/null
)

# -I"$HERE" first: our config.h, not the native one configure wrote into src/lib.
CFLAGS=(--target=wasm32-wasi -O2 -g0 -ffile-prefix-map="$BUILD_DIR"=. -fno-ident
  -I"$HERE" -Isrc/lib -Isrc/lib/ext2fs -Isrc/lib/et)

sources=()
for f in src/lib/ext2fs/*.c; do
  b="$(basename "$f" .c)"
  case "$EXCLUDE" in *" $b "*) continue ;; esac
  case "$b" in tst_*) continue ;; esac
  sources+=("$f")
done
sources+=(src/lib/et/error_message.c src/lib/et/et_name.c src/lib/et/init_et.c src/lib/et/com_err.c)

objs=()
for f in "${sources[@]}"; do
  o="obj/$(basename "$f" .c).o"
  objs+=("$o")
done
# Upstream code is built as it is (-w); our glue must compile without warnings.
printf '%s\n' "${sources[@]}" | xargs -P 2 -I{} sh -c 'clang "$@" -w -c {} -o obj/$(basename {} .c).o' _ "${CFLAGS[@]}"
clang "${CFLAGS[@]}" -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare -Werror -c "$HERE/glue.c" -o obj/glue.o

clang --target=wasm32-wasi -O2 -mexec-model=reactor obj/glue.o "${objs[@]}" \
  -Wl,--strip-all -Wl,--gc-sections -Wl,-z,stack-size=262144 -Wl,--initial-memory=2097152 \
  -Wl,--max-memory=1073741824 \
  -o "$BUILD_DIR/ext2fs.wasm"

mkdir -p "$(dirname "$OUT")"
cp "$BUILD_DIR/ext2fs.wasm" "$OUT"
(cd "$ROOT" && sha256sum src/common/ext4/ext2fs.wasm)
echo "size: $(stat -c %s "$OUT") bytes"
