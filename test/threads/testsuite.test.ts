/**
 * The 15 tests of the wasi-threads proposal (wasi-testsuite threads/) through `cloister run`, with
 * stdin an open, empty pipe as they assume: each ends with its expected status. The exit_* tests
 * end while another thread blocks in fd_read on stdin, in memory.atomic.wait or in a busy loop.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { errorLines, runOpenStdin } from './programs.ts';

const SUITE = '/work/shared/wasi-testsuite/threads';
const tests = readdirSync(SUITE).filter((f) => f.endsWith('.wasm'));

test('the wasi-threads testsuite has its 15 tests', () => {
  assert.equal(tests.length, 15);
});

for (const wasm of tests) {
  const name = wasm.slice(0, -5);
  test(`wasi-threads ${name}`, async () => {
    const specPath = join(SUITE, `${name}.json`);
    const spec = existsSync(specPath)
      ? (JSON.parse(readFileSync(specPath, 'utf8')) as { exit_code?: number })
      : {};
    const result = await runOpenStdin([join(SUITE, wasm)], 30_000);
    assert.equal(result.killed, false, 'the run did not end');
    assert.equal(result.code, spec.exit_code ?? 0, `stderr: ${result.stderr}`);
    assert.deepEqual(errorLines(result.stderr), []);
  });
}
