// The real targets' own test suites, unpartitioned and on the partitioned build with the enclave
// side in a JavaScript enclave (scripts/partition-target.sh --test). Each suite runs once; what fails
// only when partitioned must be exactly the target's known-differences.json, each with its reason.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const repo = join(import.meta.dirname, '..', '..');

interface MochaReport {
  stats: { passes: number; failures: number; pending: number };
  failures: { fullTitle: string }[];
}
interface KnownDifferences {
  unpartitioned: { passing: number };
  differences: { test: string; why: string }[];
}

const results = mkdtempSync(join(tmpdir(), 'cloister-targets-'));
after(() => rmSync(results, { recursive: true, force: true }));

describe('partitioned targets run their own test suites', () => {
  it('@node-oauth/oauth2-server: every test passes that passes unpartitioned, but the listed ones', async () => {
    const dir = join(results, 'oauth2-server');
    await run(join(repo, 'scripts', 'partition-target.sh'), ['oauth2-server', '--test', '--results', dir], {
      cwd: repo,
      timeout: 240_000,
      maxBuffer: 16 << 20,
    });
    const read = (name: string): MochaReport =>
      JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as MochaReport;
    const plain = read('unpartitioned');
    const partitioned = read('partitioned');
    const known = JSON.parse(
      readFileSync(join(repo, 'test/partition/targets/oauth2-server/known-differences.json'), 'utf8'),
    ) as KnownDifferences;
    assert.equal(plain.stats.passes, known.unpartitioned.passing, 'the unpartitioned suite as measured');
    assert.equal(plain.stats.failures, 0);
    const total = plain.stats.passes + plain.stats.failures + plain.stats.pending;
    assert.equal(
      partitioned.stats.passes + partitioned.stats.failures + partitioned.stats.pending,
      total,
      'the same tests ran',
    );
    assert.deepEqual(
      partitioned.failures.map((f) => f.fullTitle).sort(),
      known.differences.map((d) => d.test).sort(),
      'the tests failing only when partitioned are exactly the listed ones',
    );
    assert.equal(partitioned.stats.passes, plain.stats.passes - known.differences.length);
  });
});
