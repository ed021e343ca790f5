// The enclave bundle is measured, so the build must be reproducible: two builds of the same
// sources give the same bytes (and so the same MRENCLAVE for the same program and configuration).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { tempDir } from '../helpers/cli.ts';

it('builds the enclave bundle byte for byte the same twice', () => {
  const outs = [tempDir('cloister-build-a-'), tempDir('cloister-build-b-')];
  for (const out of outs) {
    const r = spawnSync(process.execPath, ['scripts/build.mjs'], {
      env: { ...process.env, CLOISTER_DIST: out },
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
  }
  const [a, b] = outs.map((out) => readFileSync(join(out, 'enclave.js')));
  assert.ok(a.length > 100_000, 'a real bundle');
  assert.ok(a.equals(b));
  assert.ok(a.equals(readFileSync('dist/enclave.js')), 'and the same as the bundle in dist/');
});
