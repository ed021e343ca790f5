#!/usr/bin/env bash
# Builds the network examples (httpd.wasm, fetch.wasm, udpecho.wasm) from their C sources with Debian's clang and
# wasi-libc, as native/lwip/build.sh builds lwIP: fixed flags, SOURCE_DATE_EPOCH set, the same
# sources give the same bytes (sha256 in SHA256SUMS). The .wasm files are committed.
#
#   examples/net/build.sh        # needs clang, lld and wasi-libc (apt-get install clang lld wasi-libc)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export SOURCE_DATE_EPOCH=1672531200
cd "$HERE"
CFLAGS=(--target=wasm32-wasi -O2 -g0 -Wall -Wextra -Werror -ffile-prefix-map="$HERE"=.)
# httpd uses only what WASI preview1 has (accept on a preopened listener); fetch needs the shim:
# its headers first on the include path, cloister_socket.c linked in.
clang "${CFLAGS[@]}" httpd.c -o httpd.wasm
clang "${CFLAGS[@]}" -isystem shim/include fetch.c shim/cloister_socket.c -o fetch.wasm
clang "${CFLAGS[@]}" -isystem shim/include udpecho.c shim/cloister_socket.c -o udpecho.wasm
sha256sum httpd.wasm fetch.wasm udpecho.wasm >SHA256SUMS
