#!/usr/bin/env bash
# Refreshes examples/sqlite3.wasm (the SQLite 3.52.0 shell for WASI preview1, public domain) from the
# team's shared benchmark folder, where build-sqlite-wasi.sh rebuilds it from Debian and npm sources,
# and checks it against that folder's SHA256SUMS. The product only ever reads the copy in examples/.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
shared=${1:-$here/../shared/bench}
(cd "$shared" && grep ' sqlite3.wasm$' SHA256SUMS | sha256sum -c -)
cp "$shared/sqlite3.wasm" "$here/examples/sqlite3.wasm"
echo "examples/sqlite3.wasm refreshed from $shared"
