// Runs every test/**/*.test.ts with Node's test runner (Node 20 has no --test glob support), with
// TMPDIR pointing at a fresh folder of this run: anything a test leaves there fails the run (and is
// listed), then the folder is removed.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function collect(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'fixtures' ? [] : collect(path);
    return name.endsWith('.test.ts') ? [path] : [];
  });
}

/** Bytes under `path` (not following links). */
function size(path) {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st?.isDirectory()) return st?.size ?? 0;
  return readdirSync(path).reduce((n, name) => n + size(join(path, name)), 0);
}

const files = process.argv.length > 2 ? process.argv.slice(2) : collect('test').sort();
const runTmp = mkdtempSync(join(tmpdir(), 'cloister-test-run-'));
// tsx keeps its compile cache in $TMPDIR/tsx-<uid>: link it to the usual one, so it is neither lost
// nor counted as left behind.
const tsxCache = `tsx-${process.geteuid?.() ?? userInfo().username}`;
mkdirSync(join(tmpdir(), tsxCache), { recursive: true, mode: 0o700 });
symlinkSync(join(tmpdir(), tsxCache), join(runTmp, tsxCache));
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-reporter=spec', ...files],
  { stdio: 'inherit', env: { ...process.env, TMPDIR: runTmp } },
);
let status = result.status ?? 1;
const left = readdirSync(runTmp).filter((name) => name !== tsxCache);
if (left.length > 0) {
  console.error(`\ntests left ${left.length} entries in the temporary folder (${runTmp}):`);
  for (const name of left.sort()) console.error(`  ${name} (${size(join(runTmp, name))} bytes)`);
  console.error('every test must remove what it creates, also when it fails (an after hook)');
  status = status || 1;
}
rmSync(runTmp, { recursive: true, force: true });
process.exit(status);
