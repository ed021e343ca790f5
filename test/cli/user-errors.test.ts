// Errors that lead to the fix: a mistake a new user makes is named with the option to change.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runCli } from '../helpers/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'cloister-user-errors-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('errors that lead to the fix', () => {
  it('volume create with a --key-file that does not exist suggests --generate-key and makes nothing', async () => {
    const r = await runCli([
      'volume',
      'create',
      join(dir, 'v.vol'),
      '--size',
      '8M',
      '--key-file',
      join(dir, 'new.key'),
    ]);
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /--key-file .*new\.key: no such file \(add --generate-key to make a new random key there\)/,
    );
    assert.equal(existsSync(join(dir, 'v.vol')), false);
    assert.deepEqual(readdirSync(dir), []);
  });
});
