// The real targets' own test suites, unpartitioned and on the partitioned build with the enclave
// side in a JavaScript enclave (scripts/partition-target.sh --test). Each suite runs once; what fails
// only when partitioned must be exactly the target's known-differences.json, each with its reason.
// The partitioned run also records the security evidence (fixtures/target-evidence.mjs): a canary
// client secret nowhere in a heap snapshot of the host after the suite, and V8 coverage showing
// that only the generated stubs of enclave functions ran on the host.
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
interface Evidence {
  canary: { checked: string[]; statuses: number[]; control: boolean; found: boolean };
  coverage: { enclaveFunctions: number; stubsRan: string[]; bodiesRan: string[]; hostFunctionsRan: number };
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
    const evidenceFile = join(results, 'oauth2-server-evidence.json');
    await run(
      join(repo, 'scripts', 'partition-target.sh'),
      ['oauth2-server', '--test', '--results', dir, '--report', report, '--evidence', evidenceFile],
      {
        cwd: repo,
        timeout: 360_000, // the suite twice, npm install and the evidence, on a loaded machine
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

    // After the suite: token requests with a canary client secret (body and Authorization header)
    // succeeded, and the host's heap holds no copy of it; a control string made alike is found.
    // Tokens and codes are declassified by design (the annotations): they are not checked.
    const evidence = JSON.parse(readFileSync(evidenceFile, 'utf8')) as Evidence;
    assert.deepEqual(evidence.canary.statuses, [200, 200], 'the canary secret authenticated the client');
    assert.equal(evidence.canary.control, true, 'the scan finds a live string made like the canary');
    assert.equal(evidence.canary.found, false, 'the canary client secret is not in the host heap');
    // Every enclave function that ran on the host ran as its stub; none of their bodies did.
    assert.deepEqual(evidence.coverage.bodiesRan, [], 'no enclave function body ran on the host');
    assert.deepEqual(
      evidence.coverage.stubsRan,
      [
        'lib/handlers/token-handler.js:getClient',
        'lib/handlers/token-handler.js:getClientCredentials',
        'lib/utils/token-util.js:generateRandomToken',
      ],
      'the suite reached every enclave function through its stub',
    );
    assert.ok(evidence.coverage.hostFunctionsRan > 100, 'coverage saw the host copy run');
  });
});
