/** docs/wasi-status.md is generated from the call table and must match it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

test('docs/wasi-status.md is up to date with the WASI call table', () => {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/gen-wasi-status.ts', '--check'], {
    encoding: 'utf8',
  });
  assert.equal(result.status, 0, result.stderr);
});
