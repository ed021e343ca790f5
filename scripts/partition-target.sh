#!/usr/bin/env bash
# Partitions one of the real target programs (../shared/partition-targets): copies it to a
# temporary directory, applies the annotations kept in test/partition/targets/<name>/, installs
# its dependencies from the npm registry, runs `cloister partition` and prints the figures.
#
#   scripts/partition-target.sh oauth2-server|kdbxweb|node-forge [--report FILE] [--keep] [--test [--results DIR] [--evidence FILE]]
#
# --test then runs the target's own test suite twice: unpartitioned (the patched copy) and on the
# partitioned build, with the enclave side in a JavaScript enclave (sim backend):
# host/cloister/start.mjs launches it before the suite's first line (oauth2-server only so far).
# --results DIR keeps each run's mocha JSON report there (unpartitioned.json, partitioned.json).
# --evidence FILE (oauth2-server): the partitioned run also records the security evidence of
# test/partition/fixtures/target-evidence.mjs (heap-snapshot canary, V8 coverage) into FILE.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
targets=${CLOISTER_PARTITION_TARGETS:-$repo/../shared/partition-targets}
[ -d "$targets" ] || targets=/work/shared/partition-targets

name=${1:?usage: partition-target.sh oauth2-server|kdbxweb|node-forge [--report FILE] [--keep]}
shift
report=
keep=
run_tests=
results=
evidence=
while [ $# -gt 0 ]; do
  case $1 in
    --report) report=$(realpath -m "$2"); shift 2 ;;
    --keep) keep=1; shift ;;
    --test) run_tests=1; shift ;;
    --results) results=$(realpath -m "$2"); shift 2 ;;
    --evidence) evidence=$(realpath -m "$2"); shift 2 ;;
    *) echo "partition-target: unknown option $1" >&2; exit 2 ;;
  esac
done

# test_cmd: the target's own suite (its package.json test script), run in OUT/host.
case $name in
  oauth2-server) source_dir=oauth2-server-5.3.0 include= extra=
    test_cmd=(env NODE_ENV=test node ./node_modules/.bin/mocha --exit 'test/**/*_test.js') ;;
  kdbxweb) source_dir=kdbxweb-2.1.1 include=lib extra=--allow-type-errors
    test_cmd=(node ./node_modules/.bin/mocha --exit --require ts-node/register --recursive 'test/**/*.spec.ts') ;;
  node-forge) source_dir=node-forge-1.4.0 include= extra=
    # _mocha: mocha 5's bin/mocha runs the suite in a child process, which --import does not reach.
    test_cmd=(env NODE_ENV=test node ./node_modules/.bin/_mocha --exit -t 30000 tests/unit/index.js) ;;
  *) echo "partition-target: unknown target $name" >&2; exit 2 ;;
esac
patch_file=$repo/test/partition/targets/$name/annotations.patch
[ -f "$patch_file" ] || { echo "partition-target: no $patch_file" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/cloister-target-$name-XXXXXX")
cleanup() { if [ -z "$keep" ]; then rm -rf "$work"; else echo "kept: $work" >&2; fi; }
trap cleanup EXIT

cp -r "$targets/$source_dir" "$work/app"
chmod -R u+w "$work/app"
(cd "$work/app" && patch -s -p1 < "$patch_file")
# forge's suite runs 5 tests because tests/unit/jsbn.js says describe.only (its README): run them all.
[ "$name" = node-forge ] && sed -i 's/describe\.only(/describe(/' "$work/app/tests/unit/jsbn.js"
marks=$(grep -c '^+.*@\(sensitive\|declassify\)\|^+.*Sensitive<' "$patch_file" || true)

start=$(date +%s)
(cd "$work/app" && npm install --no-audit --no-fund --ignore-scripts --loglevel=error > "$work/npm.log" 2>&1) ||
  { cat "$work/npm.log" >&2; exit 1; }
installed=$(date +%s)

args=(partition "$work/app" --out "$work/partitioned")
[ -n "$include" ] && args+=(--include "$include")
[ -n "$report" ] && args+=(--report "$report")
[ -n "$extra" ] && args+=("$extra")
node --import tsx "$repo/src/cli/main.ts" "${args[@]}"
done_at=$(date +%s)

echo "annotation lines in the patch      $marks ($(basename "$patch_file"))"
echo "npm install                        $((installed - start)) s"
echo "analysis + generation              $((done_at - installed)) s"
echo "interface file                     $work/partitioned/interface.json${keep:+ (kept)}"

if [ -n "$run_tests" ]; then
  [ ${#test_cmd[@]} -gt 0 ] || { echo "partition-target: --test is not wired for $name yet" >&2; exit 2; }
  results=${results:-$work/results}
  mkdir -p "$results"
  # node [--import start.mjs] runner args… : the partitioned run starts the enclave first.
  run_suite() { # label dir [node options]
    local label=$1 dir=$2; shift 2
    local cmd=("${test_cmd[@]}")
    local i
    for i in "${!cmd[@]}"; do [ "${cmd[$i]}" = node ] && break; done
    cmd=("${cmd[@]:0:$((i + 1))}" "$@" "${cmd[@]:$((i + 1))}" --reporter json --reporter-option "output=$results/$label.json")
    [ "$label" = partitioned ] && [ -n "$evidence" ] &&
      cmd=(env "CLOISTER_EVIDENCE=$evidence" "${cmd[@]}" --require "$repo/test/partition/fixtures/target-evidence.mjs")
    (cd "$dir" && "${cmd[@]}" > "$results/$label.stdout" 2> "$results/$label.log") || true
    # mocha 5 (forge's) ignores the output option and writes the JSON report to stdout.
    [ -s "$results/$label.json" ] || cp "$results/$label.stdout" "$results/$label.json"
    node -e 'const r = require(process.argv[1]).stats; console.log(process.argv[2].padEnd(34) + " " + r.passes + " passing, " + r.failures + " failing, " + r.pending + " pending")' \
      "$results/$label.json" "its own tests, $label" ||
      { tail -20 "$results/$label.log" >&2; exit 1; }
  }
  run_suite unpartitioned "$work/app"
  run_suite partitioned "$work/partitioned/host" --import ./cloister/start.mjs
fi
