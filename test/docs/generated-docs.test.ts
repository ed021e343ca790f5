// Generated documentation stays true to the code it is generated from.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';

describe('generated docs', () => {
  for (const script of ['scripts/gen-host-interface.ts', 'scripts/gen-wasi-status.ts']) {
    it(`${script} --check passes`, () => {
      const r = spawnSync(process.execPath, ['--import', 'tsx', script, '--check'], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    });
  }
});
