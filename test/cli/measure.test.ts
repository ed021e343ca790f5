// Enclave identity: `cloister measure` is reproducible, changes with any measured input, and is
// what the enclave itself reads at run time from /dev/attestation/mrenclave.
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { measureEnclave } from '../../src/tee/measurement.ts';
import { runCli, tempDir } from '../helpers/cli.ts';

async function measure(args: string[], cwd?: string): Promise<string> {
  const r = await runCli(['measure', ...args], { cwd });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^[0-9a-f]{64}\n$/);
  return r.stdout.trim();
}

describe('cloister measure', () => {
  it('gives the same value for the same inputs, wherever the file lies', async () => {
    const dir = tempDir();
    copyFileSync('examples/sqlite3.wasm', join(dir, 'sqlite3.wasm'));
    const a = await measure(['--tmpfs', '/data', 'examples/sqlite3.wasm', '/data/db']);
    const b = await measure(['--tmpfs', '/data', 'sqlite3.wasm', '/data/db'], dir);
    assert.equal(a, b);
  });

  it('changes when any measured input changes', async () => {
    const dir = tempDir();
    const wasm = readFileSync('examples/sqlite3.wasm');
    wasm[wasm.length - 1] ^= 1;
    writeFileSync(join(dir, 'sqlite3.wasm'), wasm);
    const base = await measure(['examples/sqlite3.wasm']);
    const variants = await Promise.all([
      measure([join(dir, 'sqlite3.wasm')]),
      measure(['examples/sqlite3.wasm', 'an-argument']),
      measure(['--env', 'A=1', 'examples/sqlite3.wasm']),
      measure(['--tmpfs', '/tmp', 'examples/sqlite3.wasm']),
      measure(['--memory', '256M', 'examples/sqlite3.wasm']),
    ]);
    assert.equal(new Set([base, ...variants]).size, 6, 'six different identities');
  });

  it('is what the running enclave reads as its own measurement', async () => {
    const args = ['--tmpfs', '/', 'examples/sqlite3.wasm', '/x.db'];
    const expected = await measure(args);
    const r = await runCli(['run', ...args], {
      input: "select lower(hex(readfile('/dev/attestation/mrenclave')));\n",
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), expected);
  });
});

describe('enclave image layout', () => {
  const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

  it('does not let bytes move between parts unnoticed', () => {
    const a = measureEnclave({ bundle: bytes('ab'), wasm: bytes('c'), config: bytes('{}') });
    const b = measureEnclave({ bundle: bytes('a'), wasm: bytes('bc'), config: bytes('{}') });
    const c = measureEnclave({ bundle: bytes('ab'), wasm: bytes('c\0'), config: bytes('{}') });
    assert.notDeepEqual(a, b);
    assert.notDeepEqual(a, c, 'trailing zero bytes count: lengths are in the header page');
    assert.deepEqual(a, measureEnclave({ bundle: bytes('ab'), wasm: bytes('c'), config: bytes('{}') }));
  });
});
