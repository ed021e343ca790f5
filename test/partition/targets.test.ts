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
  /** Every declassification (file:line) the report must list. */
  declassified: string[];
  /** Functions that must stay in the enclave. */
  inside: string[];
}

const results = mkdtempSync(join(tmpdir(), 'cloister-targets-'));
after(() => rmSync(results, { recursive: true, force: true }));

describe('partitioned targets run their own test suites', () => {
  it('@node-oauth/oauth2-server: every test passes that passes unpartitioned, but the listed ones', async () => {
    const dir = join(results, 'oauth2-server');
    const report = join(results, 'oauth2-server-report.html');
    await run(
      join(repo, 'scripts', 'partition-target.sh'),
      ['oauth2-server', '--test', '--results', dir, '--report', report],
      {
        cwd: repo,
        timeout: 240_000,
        maxBuffer: 16 << 20,
      },
    );
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

    // The report lists every place the annotations let a value out in clear, and what stays inside.
    const html = readFileSync(report, 'utf8');
    const section = (title: string): string[][] => {
      const body = html.split(`<h2>${title}`)[1].split('<h2>')[0];
      return [...body.matchAll(/<tr>(<td>.*?)<\/tr>/g)].map((r) =>
        [...r[1].matchAll(/<td>(.*?)<\/td>/g)].map((c) => c[1]),
      );
    };
    const patch = readFileSync(join(repo, 'test/partition/targets/oauth2-server/annotations.patch'), 'utf8');
    const tagged = patch.split('\n').filter((l) => l.startsWith('+') && l.includes('@declassify'));
    const declassified = section('Declassified');
    assert.equal(declassified.length, tagged.length, 'one report row per @declassify in the patch');
    assert.deepEqual(declassified.map((r) => r[0]).sort(), known.declassified.sort());
    const inside = section('Enclave functions').map((r) => r[0]);
    for (const fn of known.inside) assert.ok(inside.includes(fn), `${fn} stays in the enclave`);
  });
});
